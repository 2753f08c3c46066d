"""The bad-input corpus (sst/testing/faults.py): how many faults end in a counted skip or one clear line.

    tools/venv/bin/python tools/bench/bench_bad_inputs.py [--json out.json]

Each fault (bad audio, rows, encodings, options, configs, models) runs on a private copy of the test
fixture corpora; it is handled when it yields the skip reason it must (counted in the stage's report)
or one console line naming the file and line, option or key at fault, with no traceback.
test/test_bad_inputs.py asserts the same for every fault; this script turns it into the report's figure.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from sst.testing.faults import FAULTS, FaultBench, handled

from common import command_line, emit


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        bench = FaultBench(Path(tmp) / "bench")
        for index, fault in enumerate(FAULTS):
            work = Path(tmp) / f"fault{index}"
            work.mkdir()
            outcome = fault.run(bench, work)
            results[fault.name] = {"group": fault.group, "kind": fault.kind, "handled": handled(fault, outcome),
                                   "error": outcome.error, "skipped": outcome.skipped}
    tried, ok = len(results), sum(r["handled"] for r in results.values())
    groups = {}
    for r in results.values():
        done, total = groups.get(r["group"], (0, 0))
        groups[r["group"]] = (done + r["handled"], total + 1)
    missed = [name for name, r in results.items() if not r["handled"]]
    result = {
        "item": "bad_inputs", "title": "Bad inputs: counted skip or one clear line",
        "command": command_line(__file__, argv), "faults": results, "handled": ok, "tried": tried,
        "goals": {"handled": tried}, "goals_met": {"handled": ok == tried},
        "summary": f"bad inputs handled / tried: {ok} / {tried}",
        "goal_text": "every one (at least 20 kinds)",
        "notes": [f"bad inputs handled / tried: {ok} / {tried} "
                  f"({', '.join(f'{g} {d}/{t}' for g, (d, t) in groups.items())}); a fault is handled when it "
                  "ends in its counted skip reason or in one console line naming the file and line, option or "
                  "key, with no traceback (the fault list is sst/testing/faults.py)."]
                 + ([f"Not handled: {', '.join(missed)}."] if missed else []),
    }
    emit(result, args.json)
    return result


if __name__ == "__main__":
    main()
