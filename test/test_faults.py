"""Fault injection, the cheap part (the full sweep is tools/bench/bench_faults.py): stage-2 dump and
target tokenisation killed with SIGKILL mid-run, then run again, end with the outputs of an uninterrupted run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_killed_dump_and_tokenisation_rerun_to_the_same_outputs(tiny_mbart: Path, tmp_path: Path) -> None:
    result = tmp_path / "faults.json"
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / "bench_faults.py"), "--stages", "dump",
                          "tokenize", "--points", "1", "--clips", "8", "--mbart", str(tiny_mbart), "--wav2vec2",
                          str(tmp_path), "--teacher", str(tmp_path), "--keep", str(tmp_path / "work"),
                          "--json", str(result)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(result.read_text())
    assert [row["stage"] for row in report["rows"]] == ["dump", "tokenize"]
    assert all(row["killed"] for row in report["rows"]), report["rows"]
    assert report["kills_survived"] == report["kills_tried"] == 2, report["rows"]
