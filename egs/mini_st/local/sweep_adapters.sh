#!/usr/bin/env bash
# The adapter-size sweep of the demo (the paper's next check 2): the encoder adapters of both ST passes
# (xlsr, samu) at three bottleneck sizes, each size and seed in its own experiment
# (exp/st_<encoder>_adapter_encoder_adapter_dim_<size>_seed<N>), beside the demo's data, dumps and SAMU
# encoder; then one table and one plot of the seen / zero-shot BLEU, chrF++ and off-target rate against
# the size, mean ± std over the seeds: local/sweep_adapters/sweep.{md,json,png}.
#   cd egs/mini_st && local/sweep_adapters.sh [--sizes "8 32 128"] [--seeds "0 1 2"] \
#       [--output local/sweep_adapters] [-- run.sh options]
# Stages 0-3 run once, with the recipe's seed (0): the tiny models and the SAMU encoder are shared, and the
# seeds are those of ST training (stage 4) only. Run again, it redoes nothing that is finished (each step's
# provenance records); a new size or seed trains only its own experiments.
set -euo pipefail

sizes="8 32 128"
seeds="0 1 2"
output=local/sweep_adapters
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes="$2"; shift 2 ;;
        --seeds) seeds="$2"; shift 2 ;;
        --output) output="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: local/sweep_adapters.sh [--sizes \"8 32 128\"] [--seeds \"0 1 2\"] [--output DIR] [-- run.sh options]" >&2
           exit 1 ;;
    esac
done
[ -f ./db.sh ] || { echo "run me from egs/mini_st: local/sweep_adapters.sh" >&2; exit 1; }
command="local/sweep_adapters.sh --sizes \"${sizes}\" --seeds \"${seeds}\" --output ${output}${*:+ -- $*}"

echo "$(date '+%Y-%m-%dT%H:%M:%S') stages 0-3 (models, data, dumps, SAMU encoder), kept if done (log: exp/sweep_adapters_stages_0_3.log)" >&2
mkdir -p exp
./run.sh --stop_stage 3 "$@" > exp/sweep_adapters_stages_0_3.log 2>&1 \
    || { echo "stages 0-3 failed: see exp/sweep_adapters_stages_0_3.log" >&2; exit 1; }
. ./path.sh
# shellcheck disable=SC2086  # sizes and seeds are lists
python -m sst.bin.sweep --recipe . --option st_args --template "--model_conf encoder_adapter_dim={}" \
    --name encoder_adapter_dim --values ${sizes} --seeds ${seeds} --out "${output}" \
    --command "cd egs/mini_st && ${command}" -- --stage 4 "$@"
