"""Fault injection, the cheap part (the full sweep is tools/bench/bench_faults.py): stage-2 dump and
target tokenisation killed with SIGKILL mid-run, then run again, end with the outputs of an uninterrupted run."""
from __future__ import annotations

from pathlib import Path

import pytest

from sst.testing.kill_rerun import prepare, sweep


@pytest.mark.slow
def test_killed_dump_and_tokenisation_rerun_to_the_same_outputs(tiny_mbart: Path, tmp_path: Path) -> None:
    prepare(tmp_path / "reference", clips=8)
    unused = tmp_path / "unused"  # the stages swept need no encoder or teacher
    rows = sweep(["dump", "tokenize"], 1, tmp_path, {"wav2vec2": unused, "teacher": unused, "mbart": tiny_mbart},
                 log=lambda line: None)
    assert [row["stage"] for row in rows] == ["dump", "tokenize"]
    assert all(row["killed"] for row in rows), rows
    assert all(row["survived"] for row in rows), rows
