#!/usr/bin/env bash
# Run every benchmark once and write tools/bench/report.json and tools/bench/REPORT.md.
#
#   tools/bench/run_all.sh            # from anywhere; about 6 CPU-minutes on an idle 2-core machine
#   BENCH_THREADS=2 tools/bench/run_all.sh
#
# BENCH_THREADS: intra-op threads per bench process (default 1: on a machine shared with other jobs,
# a multi-threaded step stalls on whichever core is busy elsewhere, and both variants of a ratio
# suffer it differently). Per-item results and logs go to tools/bench/results/<item>.{json,log}.
set -euo pipefail

bench_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "${bench_dir}/../.." && pwd)
python="${repo}/tools/venv/bin/python"
threads="${BENCH_THREADS:-1}"
results="${bench_dir}/results"
cd "${repo}"
mkdir -p "${results}"
load_at_start=$(cut -d' ' -f1 /proc/loadavg)
start=${SECONDS}

run() {  # run <item> <script> [options...]
    local item=$1 script=$2
    shift 2
    local log="${results}/${item}.log"
    echo "== ${item}: tools/bench/${script} $* ($((SECONDS - start)) s)" >&2
    if ! "${python}" "${bench_dir}/${script}" "$@" --json "${results}/${item}.json" > /dev/null 2> "${log}"; then
        tail -n 30 "${log}" >&2
        echo "${item} failed; its log: ${log}" >&2
        exit 1
    fi
}

run training bench_training.py --threads "${threads}"
run teacher bench_teacher.py --threads "${threads}"
run decoding bench_decoding.py --threads "${threads}"
run dump bench_dump.py
run gpu bench_gpu.py
run bad_inputs bench_bad_inputs.py
run faults bench_faults.py
run longform bench_longform.py

"${python}" "${bench_dir}/make_report.py" --results "${results}" --out_dir "${bench_dir}" --threads "${threads}" \
    --elapsed_s $((SECONDS - start)) --load_at_start "${load_at_start}"
echo "wrote ${bench_dir}/REPORT.md and ${bench_dir}/report.json" >&2
