"""Preemption-safe training (sst.tasks.trainer, sst.tasks.preemption): SIGTERM in step k of epoch 1
writes a mid-epoch checkpoint and exits 143 (a run killed outright resumes from the last
--save_every_updates checkpoint); the same command resumes at step k and ends with the weights of an
uninterrupted run, bit for bit (CPU, tiny models with dropout: the random states are restored)."""
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
from sst.tasks.preemption import catching_preemption, exit_code, received_signal
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
STOP_AFTER = 2  # the training step of epoch 1 after which training stops


@pytest.fixture(autouse=True)
def single_threaded() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Killed(Exception):
    """Stands for the job being killed (SIGKILL: no checkpoint written on the way out)."""


def interrupt_at_step(task: type[ModelConfTask], step: int, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the forward pass of training step ``step`` the task's model sends SIGTERM to this process (``how``
    "signal"; the way a scheduler's signal lands in the middle of a step: that step is finished, then
    training stops) or dies at once (``how`` "kill")."""
    build = task.build_model.__func__
    forwards = []

    def interrupting_build(cls: type, args: object) -> torch.nn.Module:
        model = build(cls, args)

        def count(module: torch.nn.Module, inputs: object) -> None:
            if module.training:
                forwards.append(1)
                if len(forwards) == step and how == "signal":
                    os.kill(os.getpid(), signal.SIGTERM)
                elif len(forwards) == step:
                    raise Killed(f"killed in step {step}")
        model.register_forward_pre_hook(count)
        return model
    monkeypatch.setattr(task, "build_model", classmethod(interrupting_build))


def final_weights(exp: Path, epochs: int) -> dict[str, torch.Tensor]:
    return torch.load(exp / f"{epochs}epoch.pth", map_location="cpu", weights_only=True)


def check_interrupted_and_resumed(main: Callable[[list[str]], None], task: type[ModelConfTask],
                                  argv: Callable[[Path], list[str]], how: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Uninterrupted run, then a run interrupted (``how``, see interrupt_at_step) in epoch 1, then the same
    command again: it resumes inside epoch 1 and ends with the same weights and epoch-1 stats."""
    caplog.set_level(logging.INFO)
    reference = tmp_path / "uninterrupted"
    main(argv(reference))

    exp = tmp_path / "interrupted"
    checkpoint = exp / "checkpoint.pth"
    caplog.clear()
    if how == "signal":
        interrupt_at_step(task, STOP_AFTER, how, monkeypatch)
        with pytest.raises(SystemExit) as stopped:
            main(argv(exp))
        assert stopped.value.code == 128 + signal.SIGTERM
        assert (f"preempted at epoch 1 step {STOP_AFTER}: checkpoint {checkpoint}; rerun the same command to "
                "resume" in caplog.messages)
    else:  # killed in the step after the periodic checkpoint of step STOP_AFTER
        interrupt_at_step(task, STOP_AFTER + 1, how, monkeypatch)
        with pytest.raises(Killed):
            main(argv(exp))
        assert f"wrote {checkpoint} at epoch 1 step {STOP_AFTER}" in caplog.messages
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


def command(config: Path, dumps: Path, *options: str) -> Callable[[Path], list[str]]:
    """A training command line on train_multi (5 utterances, 5 steps an epoch) for an experiment dir."""
    def argv(exp: Path) -> list[str]:
        return ["--config", str(config), "--train_dump", str(dumps / "train_multi"), "--valid_dump",
                str(dumps / "dev_fr_en"), "--output_dir", str(exp), *options]
    return argv


@pytest.mark.slow
def test_samu_training_preempted_in_epoch_1_resumes_to_the_same_weights(
        st_dumps: Path, tiny_wav2vec2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    argv = command(write_config(tmp_path / "samu.yaml", SAMU), st_dumps, "--encoder_model", str(tiny_wav2vec2))
    check_interrupted_and_resumed(samu_train.main, SamuTask, argv, "signal", tmp_path, monkeypatch, caplog)


@pytest.mark.slow
def test_st_training_preempted_in_epoch_1_resumes_to_the_same_weights(
        st_dumps: Path, tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    argv = command(write_config(tmp_path / "st.yaml", ST), st_dumps, "--encoder_model", str(tiny_wav2vec2),
                   "--decoder_model", str(tiny_mbart), "--save_every_updates", "1")
    check_interrupted_and_resumed(st_train.main, STTask, argv, "signal", tmp_path, monkeypatch, caplog)


@pytest.mark.slow
def test_samu_training_killed_after_a_periodic_checkpoint_resumes_from_it(
        st_dumps: Path, tiny_wav2vec2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """--save_every_updates: a run killed without a word still resumes inside its epoch."""
    argv = command(write_config(tmp_path / "samu.yaml", SAMU), st_dumps, "--encoder_model", str(tiny_wav2vec2),
                   "--save_every_updates", str(STOP_AFTER))
    check_interrupted_and_resumed(samu_train.main, SamuTask, argv, "kill", tmp_path, monkeypatch, caplog)


def test_a_preemption_signal_is_noted_inside_the_block_and_default_again_after_it() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    with catching_preemption():
        assert received_signal() == 0
        with catching_preemption():  # nested (the launcher's and the trainer's): one note for both
            os.kill(os.getpid(), signal.SIGUSR1)
        assert received_signal() == signal.SIGUSR1
    assert received_signal() == 0
    assert signal.getsignal(signal.SIGUSR1) == before
    assert exit_code(signal.SIGUSR1) == 138 and exit_code(signal.SIGTERM) == 143
