"""The tri-stage learning-rate schedule's length, derived from the data when a config leaves it out."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sst.tasks.launch import with_derived_schedule
from sst.tasks.samu import SamuTask

CONFIG = """\
batch_type: numel
batch_bins: 5000
accum_grad: {accum_grad}
max_epoch: 4
scheduler: tristagelr
scheduler_conf:
{max_steps}  warmup_ratio: 0.1
  hold_ratio: 0.4
  decay_ratio: 0.5
"""


def command(tmp_path: Path, accum_grad: int, max_steps: int | None = None) -> list[str]:
    """A SAMU training command line over ten utterances of 1000, 2000, ..., 10000 samples."""
    shape = tmp_path / "speech_shape"
    shape.write_text("".join(f"utt{i:02d} {1000 * i}\n" for i in range(1, 11)), encoding="utf-8")
    config = tmp_path / f"train_{accum_grad}_{max_steps}.yaml"
    config.write_text(CONFIG.format(accum_grad=accum_grad, max_steps="" if max_steps is None
                                    else f"  max_steps: {max_steps}\n"), encoding="utf-8")
    return ["--config", str(config), "--output_dir", str(tmp_path / "exp"), "--train_shape_file", str(shape),
            "--valid_shape_file", str(shape)]


def derived(cmd: list[str]) -> int:
    assert cmd[-2] == "--scheduler_conf" and cmd[-1].startswith("max_steps=")
    return int(cmd[-1].split("=")[1])


def test_max_steps_is_derived_from_the_batches_of_the_shape_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    # By hand, ESPnet's numel sampler (ascending lengths; a batch closes once count x longest > 5000):
    # [1k 2k 3k] [4k 5k] [6k] [7k] [8k] [9k] [10k] = 7 batches; accum_grad 2: 3 updates per epoch; 4 epochs.
    caplog.set_level(logging.INFO)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert derived(with_derived_schedule(SamuTask, command(tmp_path, accum_grad=2))) == 12
    assert any("max_steps = 12, derived from the data" in message for message in caplog.messages)
    assert derived(with_derived_schedule(SamuTask, command(tmp_path, accum_grad=1))) == 28
    # Two processes: at least 2 utterances a batch, [1k 2k 3k] [4k 5k] [6k 7k] [8k 9k] + 10k redistributed
    # to the last one = 4 batches per epoch (each split over both processes).
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert derived(with_derived_schedule(SamuTask, command(tmp_path, accum_grad=1))) == 16


def test_an_explicit_max_steps_wins_with_a_warning_when_far_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    close = command(tmp_path, accum_grad=2, max_steps=13)
    assert with_derived_schedule(SamuTask, close) == close
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    far = command(tmp_path, accum_grad=2, max_steps=100000)
    assert with_derived_schedule(SamuTask, far) == far
    warning, = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "max_steps = 100000, but this run makes 12 updates" in warning and "never finishes" in warning
