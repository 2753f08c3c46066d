#!/usr/bin/env bash
# The demo over several seeds, for the README's figures: each seed runs ./run.sh --seed N in its own
# copy of this recipe (seeds/seed_N/, beside a link to tools/), then local/summarize_seeds.py writes
# every seed's side-by-side table, per average the mean and the range over the seeds, the run times per
# CPU model and the zero-shot p-values, and rewrites the README's seeds block with them (--readme "" leaves
# the README alone). A seed whose run finished is kept: add seeds, or run it on another machine and copy
# its seeds/seed_N/ here.
#   cd egs/mini_st && local/run_seeds.sh [--seeds "0 1 2 3 4"] [--output local/seeds.md]
#       [--readme ../../README.md] [-- run.sh options]
set -euo pipefail

seeds="0 1 2 3 4"
output=local/seeds.md
readme=../../README.md
while [ $# -gt 0 ]; do
    case "$1" in
        --seeds) seeds="$2"; shift 2 ;;
        --output) output="$2"; shift 2 ;;
        --readme) readme="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: local/run_seeds.sh [--seeds \"0 1 2 3 4\"] [--output FILE] [--readme FILE] [-- run.sh options]" >&2
           exit 1 ;;
    esac
done
[ -f ./db.sh ] || { echo "run me from egs/mini_st: local/run_seeds.sh" >&2; exit 1; }
recipe="$(pwd)"
tools="$(cd ../../tools && pwd)"
for seed in ${seeds}; do
    copy="seeds/seed_${seed}/egs/mini_st"
    if [ -f "${copy}/exp/RESULTS.md" ]; then
        echo "$(date '+%Y-%m-%dT%H:%M:%S') seed ${seed}: ${copy}/exp/RESULTS.md exists, kept"
        continue
    fi
    rm -rf "seeds/seed_${seed}"
    mkdir -p "${copy}"
    # -h: path.sh and cmd.sh are links into ../covost2, copied as files
    tar -C "${recipe}" --exclude=./data --exclude=./dump --exclude=./exp --exclude=./models --exclude=./downloads \
        --exclude=./seeds -chf - . | tar -C "${copy}" -xf -
    ln -s "${tools}" "seeds/seed_${seed}/tools"
    echo "$(date '+%Y-%m-%dT%H:%M:%S') seed ${seed}: ./run.sh --seed ${seed} $* in ${copy} (log: ${copy}/run.log)"
    start=$(date +%s)
    (cd "${copy}" && ./run.sh --seed "${seed}" "$@" > run.log 2>&1)
    echo "$(( $(date +%s) - start ))" > "${copy}/run_seconds"
    # A table is byte-identical only for the same seed on the same CPU model: record which one ran it.
    sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1 > "${copy}/cpu_model"
done
. ./path.sh
python local/summarize_seeds.py --seed_dirs $(for seed in ${seeds}; do echo "seeds/seed_${seed}/egs/mini_st"; done) \
    --command "local/run_seeds.sh --seeds \"${seeds}\"${*:+ -- $*}" --output "${output}" \
    ${readme:+--readme "${readme}"}
