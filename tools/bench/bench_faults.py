"""Fault injection. Each long stage is killed with SIGKILL at several points and run again; the
final outputs must equal those of an uninterrupted run.

    tools/venv/bin/python tools/bench/bench_faults.py [--stages dump teacher tokenize samu st decode score]
        [--points 3] [--clips 16] [--wav2vec2 DIR --teacher DIR --mbart DIR] [--json out.json]

Works in a temporary dir on the first ``--clips`` clips of the mini_st demo corpus with the tiny
stand-in models (random or barely trained, built into the work dir unless given). The stages (and those
they need) run in pipeline order, each ``--points`` times killed and rerun: see sst/testing/kill_rerun.py.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from sst.testing.corpora import MINI_ST_CORPUS
from sst.testing.kill_rerun import MODELS, STAGES, build_model, prepare, sweep

from common import command_line, drop_option, emit

def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--points", type=int, default=3, help="kills per stage")
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--corpus_dir", type=Path, default=MINI_ST_CORPUS)
    for name in MODELS:
        parser.add_argument(f"--{name}", type=Path, default=None, help=f"tiny {name} dir (default: built "
                            "into the work dir)")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp_name:
        work_root = args.keep or Path(tmp_name)
        prepare(work_root / "reference", args.clips, args.corpus_dir)
        models = {name: getattr(args, name) or build_model(name, work_root / "models" / name, args.corpus_dir)
                  for name in MODELS}
        rows = sweep(args.stages, args.points, work_root, {name: path.resolve() for name, path in models.items()}, log)
    tried = [row for row in rows if row["killed"]]
    survived = sum(row["survived"] for row in tried)
    not_killed_ok = all(row["survived"] for row in rows if not row["killed"])
    result = {
        "item": "faults", "title": "Fault injection: SIGKILL each stage, rerun",
        "command": command_line(__file__, drop_option(argv, "--keep")), "rows": rows, "kills_tried": len(tried), "kills_survived": survived,
        "goals": {"survived": len(tried)}, "goals_met": {"survived": survived == len(tried) and not_killed_ok},
        "summary": f"kills survived / tried: {survived} / {len(tried)} ({', '.join(args.stages)})",
        "goal_text": "every kill survived",
    }
    per_stage = {stage: [row for row in tried if row["stage"] == stage] for stage in args.stages}
    result["notes"] = [
        f"{survived} of {len(tried)} SIGKILLs survived: the rerun of the same command ended with outputs equal to "
        "those of an uninterrupted run (texts exactly, audio samples exactly, vectors and weights to 1e-5).",
        "Per stage (survived / tried, kill times in s of the uninterrupted run): " + "; ".join(
            f"{stage} {sum(r['survived'] for r in rows_)} / {len(rows_)} at "
            f"{', '.join(str(r['kill_at_s']) for r in rows_)} of {rows_[0]['run_s'] if rows_ else '-'}"
            for stage, rows_ in per_stage.items()),
    ]
    emit(result, args.json)
    return result


if __name__ == "__main__":
    main()
