#!/usr/bin/env bash
# Job dispatcher of the recipes (the part of Kaldi's run.pl / slurm.pl that they need).
#
#   dispatch.sh [options] [JOB=1:N] <log> <command> [<arg>...]
#
# Runs <command> with its output in <log>. With JOB=1:N it runs N jobs; each has JOB replaced by
# its number in <log> and in every argument (the variable may have any name, e.g. SET=1:3). It waits
# for all of them and fails, naming the logs to read, if any failed. Every log starts with the command
# line and the start time and ends with the exit code and the end time:
#     # python -m sst.bin.dump_audio --nj 4 ...
#     # Started at Tue Jun  3 10:00:00 UTC 2025 on host1
#     ...output...
#     # Accounting: time=12 s
#     # Ended (code 0) at Tue Jun  3 10:00:12 UTC 2025
# The command runs as given, without a shell (use bash -c '...' for a pipeline).
#
# The recipes pick the backend and its resources in cmd.sh, e.g.
#     train_cmd="../../tools/dispatch.sh --backend slurm --mem 64G --time 2-00:00:00"
# and the stage scripts add what the step needs (a later option wins), e.g. ${train_cmd} --gpu 4 ...
set -euo pipefail

backend=local      # local: background processes on this machine; slurm: sbatch --wait
max_jobs_run=0     # at most this many jobs at once (0: all N)
gpu=0              # slurm: --gres=gpu:N (nothing when 0)
num_nodes=1        # slurm: --nodes=N with one task per node; the command runs under srun on each node
cpus=0             # slurm: --cpus-per-task=N (nothing when 0)
mem=""             # slurm: --mem=SIZE, e.g. 64G
time=""            # slurm: --time=LIMIT, e.g. 2-00:00:00
partition=""       # slurm: --partition=NAME
sbatch_args=""     # slurm: more sbatch options, given verbatim (e.g. "--account=x --qos=y")
help_message="Usage: $(basename "$0") [options] [JOB=1:N] <log> <command> [<arg>...]
Runs the command (N jobs with JOB=1:N, JOB replaced by the job number in the log name and the
arguments) with its output, start and end time and exit code in the log; fails if any job fails.
Options:
  --backend local|slurm   where the jobs run (default: ${backend})
  --max_jobs_run N        at most N jobs at once (default: all)
  --gpu N                 slurm: --gres=gpu:N        --cpus N     slurm: --cpus-per-task=N
  --num_nodes N           slurm: --nodes=N --ntasks-per-node=1, the command under srun on every node
  --mem SIZE              slurm: --mem=SIZE          --time T     slurm: --time=T
  --partition P           slurm: --partition=P       --sbatch_args \"...\"  more sbatch options
Local jobs ignore the slurm resource options."
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
. "$(dirname "${self}")/parse_options.sh"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# JOB=first:last (optional)
job_var="" first=1 last=1
if [[ $# -gt 0 && "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
    job_var="${BASH_REMATCH[1]}" first="${BASH_REMATCH[2]}" last="${BASH_REMATCH[3]}"
    shift
    [ "${first}" -le "${last}" ] || die "empty job range ${job_var}=${first}:${last}"
fi
[ $# -ge 2 ] || die "expected <log> <command> (see --help)"
log_pattern="$1"
shift
if [ -n "${job_var}" ] && [ "${first}" -ne "${last}" ] && [[ "${log_pattern}" != *"${job_var}"* ]]; then
    die "with ${job_var}=${first}:${last} the log name must contain ${job_var} (got ${log_pattern})"
fi

# log_of N: the log file of job N.
log_of() {
    if [ -n "${job_var}" ]; then echo "${log_pattern//${job_var}/$1}"; else echo "${log_pattern}"; fi
}

# run_job LOG COMMAND...: run one job in the foreground, output into LOG; returns its exit code.
run_job() {
    local log="$1" rc start
    shift
    mkdir -p "$(dirname "${log}")"
    start=$(date +%s)
    {
        printf '#'; printf ' %q' "$@"; printf '\n'
        echo "# Started at $(date) on $(hostname)"
    } > "${log}"
    # SST_LOG: the sst entry points keep the traceback of a user error here (their stderr), see sst/errors.py
    SST_LOG="${log}" "$@" >> "${log}" 2>&1 < /dev/null && rc=0 || rc=$?
    {
        echo "# Accounting: time=$(($(date +%s) - start)) s"
        echo "# Ended (code ${rc}) at $(date)"
    } >> "${log}"
    return "${rc}"
}

# job_args N: the arguments of job N (JOB replaced by N), NUL-terminated.
job_args() {
    local arg
    for arg in "${command[@]}"; do
        if [ -n "${job_var}" ]; then printf '%s\0' "${arg//${job_var}/$1}"; else printf '%s\0' "${arg}"; fi
    done
}

command=("$@")
if [ "${num_nodes}" -gt 1 ]; then
    [ "${backend}" = slurm ] || die "--num_nodes ${num_nodes} needs --backend slurm (set train_cmd in cmd.sh)"
    [ -z "${job_var}" ] || die "--num_nodes goes with a single job, not ${job_var}=${first}:${last}"
    command=(srun "--nodes=${num_nodes}" --ntasks-per-node=1 --kill-on-bad-exit=1 "${command[@]}")
fi
num_jobs=$((last - first + 1))
[ "${max_jobs_run}" -gt 0 ] || max_jobs_run=${num_jobs}
failed=()

case "${backend}" in
    local)
        # Job i starts once job i - max_jobs_run has ended; every exit code is collected with wait.
        pids=()
        for ((i = first; i <= last; i++)); do
            if ((i - first >= max_jobs_run)); then
                j=$((i - max_jobs_run))
                wait "${pids[$j]}" || failed+=("${j}")
            fi
            mapfile -d '' -t job_cmd < <(job_args "${i}")
            run_job "$(log_of "${i}")" "${job_cmd[@]}" &
            pids[$i]=$!
        done
        for ((j = (last - max_jobs_run + 1 > first ? last - max_jobs_run + 1 : first); j <= last; j++)); do
            wait "${pids[$j]}" || failed+=("${j}")
        done
        ;;
    slurm)
        # One sbatch --wait (an array job with JOB=1:N); each task runs this script locally for its number.
        qdir="$(dirname "$(log_of "${first}")")/q"
        name="$(basename "${log_pattern}" .log)"
        [ -z "${job_var}" ] || name="${name//${job_var}/}"
        name="${name%.}"
        mkdir -p "${qdir}"
        script="${qdir}/${name}.sh"
        {
            echo "#!/usr/bin/env bash"
            echo "# written by ${self} for sbatch"
            printf 'cd %q\n' "${PWD}"
            printf 'exec %q --backend local' "${self}"
            [ -z "${job_var}" ] || printf ' %s=${SLURM_ARRAY_TASK_ID}:${SLURM_ARRAY_TASK_ID}' "${job_var}"
            printf ' %q' "${log_pattern}" "${command[@]}"
            printf '\n'
        } > "${script}"
        sbatch_opts=(--wait "--job-name=${name}")
        if [ -n "${job_var}" ]; then
            sbatch_opts+=("--array=${first}-${last}%${max_jobs_run}" "--output=${qdir}/${name}.%A_%a.out")
        else
            sbatch_opts+=("--output=${qdir}/${name}.%j.out")
        fi
        [ "${num_nodes}" -le 1 ] || sbatch_opts+=("--nodes=${num_nodes}" --ntasks-per-node=1)
        [ "${gpu}" -eq 0 ] || sbatch_opts+=("--gres=gpu:${gpu}")
        [ "${cpus}" -eq 0 ] || sbatch_opts+=("--cpus-per-task=${cpus}")
        [ -z "${mem}" ] || sbatch_opts+=("--mem=${mem}")
        [ -z "${time}" ] || sbatch_opts+=("--time=${time}")
        [ -z "${partition}" ] || sbatch_opts+=("--partition=${partition}")
        read -r -a extra <<< "${sbatch_args}"
        sbatch_opts+=(${extra[@]+"${extra[@]}"})
        command -v sbatch > /dev/null || die "--backend slurm: sbatch not found on PATH"
        for ((i = first; i <= last; i++)); do rm -f "$(log_of "${i}")"; done
        sbatch "${sbatch_opts[@]}" "${script}" > /dev/null || true
        # sbatch --wait fails when any task fails; the logs tell which (a task killed by slurm has no end line).
        for ((i = first; i <= last; i++)); do
            grep -q '^# Ended (code 0)' "$(log_of "${i}")" 2> /dev/null || failed+=("${i}")
        done
        ;;
    *)
        die "unknown --backend ${backend} (local or slurm)"
        ;;
esac

if [ ${#failed[@]} -gt 0 ]; then
    first_log="$(log_of "${failed[0]}")"
    echo "$(basename "$0"): ${#failed[@]} of ${num_jobs} job(s) failed; see:" >&2
    for i in "${failed[@]}"; do echo "    $(log_of "${i}")" >&2; done
    if [ -f "${first_log}" ] && grep -q '^ERROR: ' "${first_log}"; then
        grep '^ERROR: ' "${first_log}" | tail -n 1 >&2     # a user error: its one line, the traceback stays in the log
    elif [ -f "${first_log}" ]; then
        echo "last lines of ${first_log}:" >&2
        tail -n 15 "${first_log}" | sed 's/^/    /' >&2
    else
        echo "(${first_log} was not written; for slurm see ${qdir:-}/*.out)" >&2
    fi
    exit 1
fi
