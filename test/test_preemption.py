"""Preemption-safe training (sst.tasks.trainer, sst.tasks.preemption): SIGTERM after step k of epoch 1
writes a mid-epoch checkpoint and exits 143; the same command resumes at step k and ends with the weights
of an uninterrupted run, bit for bit (CPU, tiny models with dropout: the random states are restored)."""
from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import yaml

from sst.bin import samu_train, st_train
from sst.tasks.base import ModelConfTask
from sst.tasks.samu import SamuTask
from sst.tasks.st import STTask

TRAINING = {"batch_type": "unsorted", "batch_size": 1, "accum_grad": 1, "max_epoch": 2, "patience": None,
            "num_workers": 0, "num_att_plot": 0, "log_interval": 1, "use_tensorboard": False,
            "use_matplotlib": False, "grad_clip": 5.0, "seed": 0, "keep_nbest_models": 1, "optim": "adam",
            "optim_conf": {"lr": 0.005}, "scheduler": "warmuplr", "scheduler_conf": {"warmup_steps": 3}}
SAMU = {"best_model_criterion": [["valid", "loss", "min"]],
        "model_conf": {"pooling_dim": 16, "freeze": [], "mask_time_prob": 0.0, "layerdrop": 0.0}}
ST = {"best_model_criterion": [["valid", "loss", "min"]],
      "model_conf": {"freeze": ["encoder", "decoder"], "encoder_adapter_dim": 8, "decoder_adapter_dim": 8,
                     "adapter_dropout": 0.1, "length_adaptor_layers": 1, "label_smoothing": 0.1}}
STOP_AFTER = 2  # the training step of epoch 1 the signal comes in


@pytest.fixture(autouse=True)
def single_threaded() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def signal_after_step(task: type[ModelConfTask], steps: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The task's model sends SIGTERM to this process in the forward pass of training step ``steps``, the
    way a scheduler's signal lands in the middle of a step: that step is finished, then training stops."""
    build = task.build_model.__func__
    forwards = []

    def signalling_build(cls: type, args: object) -> torch.nn.Module:
        model = build(cls, args)

        def count(module: torch.nn.Module, inputs: object) -> None:
            if module.training:
                forwards.append(1)
                if len(forwards) == steps:
                    os.kill(os.getpid(), signal.SIGTERM)
        model.register_forward_pre_hook(count)
        return model
    monkeypatch.setattr(task, "build_model", classmethod(signalling_build))


def final_weights(exp: Path, epochs: int) -> dict[str, torch.Tensor]:
    return torch.load(exp / f"{epochs}epoch.pth", map_location="cpu", weights_only=True)


def check_preempted_and_resumed(main: Callable[[list[str]], None], task: type[ModelConfTask], argv: Callable[[Path], list[str]],
                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    reference = tmp_path / "uninterrupted"
    main(argv(reference))

    exp = tmp_path / "preempted"
    signal_after_step(task, STOP_AFTER, monkeypatch)
    caplog.clear()
    with pytest.raises(SystemExit) as stopped:
        main(argv(exp))
    assert stopped.value.code == 128 + signal.SIGTERM
    checkpoint = exp / "checkpoint.pth"
    assert (f"preempted at epoch 1 step {STOP_AFTER}: checkpoint {checkpoint}; rerun the same command to resume"
            in caplog.messages)
    assert not list(exp.glob("*epoch.pth"))  # stopped inside epoch 1
    place = torch.load(checkpoint, map_location="cpu", weights_only=False)["place"]
    assert (place["epoch"], place["step"]) == (1, STOP_AFTER)

    monkeypatch.undo()
    caplog.clear()
    main(argv(exp))  # the same command again
    assert f"resumed at epoch 1 step {STOP_AFTER}" in caplog.messages
    expected, resumed = final_weights(reference, TRAINING["max_epoch"]), final_weights(exp, TRAINING["max_epoch"])
    assert resumed.keys() == expected.keys()
    differ = [name for name in expected if not torch.equal(resumed[name], expected[name])]
    assert not differ, differ
    stats = torch.load(checkpoint, map_location="cpu", weights_only=False)["reporter"]["stats"]
    reference_stats = torch.load(reference / "checkpoint.pth", map_location="cpu", weights_only=False)["reporter"]["stats"]
    assert stats[1]["train"]["total_count"] == reference_stats[1]["train"]["total_count"]
    assert stats[1]["train"]["loss"] == pytest.approx(reference_stats[1]["train"]["loss"], rel=1e-6)


def write_config(path: Path, model: dict) -> Path:
    path.write_text(yaml.safe_dump({**TRAINING, **model}), encoding="utf-8")
    return path


@pytest.mark.slow
def test_samu_training_preempted_in_epoch_1_resumes_to_the_same_weights(
        st_dumps: Path, tiny_wav2vec2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    config = write_config(tmp_path / "samu.yaml", SAMU)

    def argv(exp: Path) -> list[str]:
        return ["--config", str(config), "--train_dump", str(st_dumps / "train_multi"), "--valid_dump",
                str(st_dumps / "dev_fr_en"), "--output_dir", str(exp), "--encoder_model", str(tiny_wav2vec2)]
    check_preempted_and_resumed(samu_train.main, SamuTask, argv, tmp_path, monkeypatch, caplog)


@pytest.mark.slow
def test_st_training_preempted_in_epoch_1_resumes_to_the_same_weights(
        st_dumps: Path, tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    config = write_config(tmp_path / "st.yaml", ST)

    def argv(exp: Path) -> list[str]:
        return ["--config", str(config), "--train_dump", str(st_dumps / "train_multi"), "--valid_dump",
                str(st_dumps / "dev_fr_en"), "--output_dir", str(exp), "--encoder_model", str(tiny_wav2vec2),
                "--decoder_model", str(tiny_mbart), "--save_every_updates", "1"]
    check_preempted_and_resumed(st_train.main, STTask, argv, tmp_path, monkeypatch, caplog)
