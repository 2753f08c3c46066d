# How the recipe runs its jobs: ../../tools/dispatch.sh (see its --help).
#   train_cmd : stages 3-4, SAMU distillation and ST training
#   decode_cmd: stage 2 feature prep and stage 5 decoding (and the SAMU retrieval check of stage 3)
# The stage scripts add what each job needs, and a later option wins: --gpu N from run.sh's --ngpu
# (training, and decoding with --gpu_inference true) and --cpus N from --nj.

# local (default): the jobs run as background processes on this machine.
train_cmd="../../tools/dispatch.sh --backend local"
decode_cmd="../../tools/dispatch.sh --backend local"

# slurm: each job is submitted with sbatch --wait (JOB=1:N jobs as one array job); --gpu N becomes
# --gres=gpu:N. Uncomment and adapt; add --partition NAME or --sbatch_args "--account=X --qos=Y".
# train_cmd="../../tools/dispatch.sh --backend slurm --mem 64G --cpus 8 --time 3-00:00:00"
# Preemption: slurm sends SIGTERM to every process of a job it preempts, cancels or stops at its time
# limit (SIGKILL follows after the cluster's KillWait); training then finishes its update, writes
# checkpoint.pth with its place in the epoch and exits 143, and the same ./run.sh resumes from that step.
# --requeue puts a preempted job back in the queue; --signal=USR1@300 asks for SIGUSR1 (same effect, exit
# 138) 300 s before the time limit, which slurm sends to the job steps (srun), not to the batch shell:
# train_cmd="../../tools/dispatch.sh --backend slurm --mem 64G --cpus 8 --time 3-00:00:00 --sbatch_args \"--requeue --signal=USR1@300\""
# --samu_args / --st_args "--save_every_updates N" also write that checkpoint every N updates.
# Several nodes (./run.sh --num_nodes N --ngpu G) need the slurm train_cmd: each node gets one srun task,
# which starts G training processes (ESPnet's --dist_launcher slurm).
# decode_cmd="../../tools/dispatch.sh --backend slurm --mem 16G --time 12:00:00"
