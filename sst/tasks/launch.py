"""Turning a recipe's dump directories into an ESPnet training command line, and picking its result."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Sequence

import torch

from sst.tasks.base import ModelConfTask

# The averaged n-best checkpoint ESPnet writes at the end of training, then its single best one.
CHECKPOINT_PREFERENCE = ("valid.loss.ave.pth", "valid.loss.best.pth", "valid.acc.best.pth")


def add_dump_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every training entry point shares (the rest goes to ESPnet untouched)."""
    parser.add_argument("--config", type=Path, required=True, help="training YAML (conf/tuning/*.yaml)")
    parser.add_argument("--train_dump", type=Path, required=True, help="stage-2 dump dir of the training set")
    parser.add_argument("--valid_dump", type=Path, required=True, help="stage-2 dump dir of the validation set")
    parser.add_argument("--output_dir", type=Path, required=True, help="experiment dir, e.g. exp/samu_x")


def espnet_command(args: argparse.Namespace, data: Sequence[tuple[str, str, str]], shapes: Sequence[str],
                   model_conf: dict[str, object], passthrough: Sequence[str]) -> list[str]:
    """ESPnet task arguments for ``data`` = (file in dump dir, data name, loader type) and shape files."""
    for dump in (args.train_dump, args.valid_dump):
        for filename in [d[0] for d in data] + list(shapes):
            if not (dump / filename).is_file():
                raise FileNotFoundError(f"{dump / filename} is missing: run stage 2 for {dump.name} first")
    cmd = ["--config", str(args.config), "--output_dir", str(args.output_dir), "--resume", "true"]
    for split, dump in (("train", args.train_dump), ("valid", args.valid_dump)):
        for filename, name, loader in data:
            cmd += [f"--{split}_data_path_and_name_and_type", f"{dump / filename},{name},{loader}"]
        for filename in shapes:
            cmd += [f"--{split}_shape_file", str(dump / filename)]
    for key, value in model_conf.items():
        cmd += ["--model_conf", f"{key}={value}"]
    return cmd + list(passthrough)


def run_espnet(task: type[ModelConfTask], cmd: list[str]) -> None:
    """Run ESPnet's trainer for ``task`` (resuming from the last checkpoint when there is one)."""
    logging.info("ESPnet %s arguments: %s", task.__name__, " ".join(cmd))
    task.main(cmd=cmd)


def is_main_process() -> bool:
    """False in the non-zero ranks of a multi-node launch, which must not write shared results."""
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0"))) == 0


def best_checkpoint(exp_dir: Path) -> Path:
    """The checkpoint to export or decode with: the n-best average, else the best, else the last."""
    for name in CHECKPOINT_PREFERENCE:
        if (exp_dir / name).exists():
            return exp_dir / name
    candidates = sorted(exp_dir.glob("*epoch.pth"), key=lambda p: int(p.name.split("epoch")[0]))
    if not candidates:
        raise FileNotFoundError(f"{exp_dir}: no trained checkpoint (looked for {', '.join(CHECKPOINT_PREFERENCE)}"
                                " and N.epoch.pth); has training run?")
    return candidates[-1]


def trained_state(exp_dir: Path, checkpoint: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights of ``checkpoint`` for ``model``, its frozen parameters exactly as they were trained.

    ESPnet's n-best averaging sums the checkpoints and divides by n, which moves values that never
    changed by a rounding step; the frozen parameters (``requires_grad`` False in ``model``) of an
    averaged checkpoint are therefore taken from a single-epoch checkpoint of the experiment.
    """
    # mmap: a full-size checkpoint (3.4 GB) is paged in as load_state_dict copies it, not held twice.
    state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    epochs = sorted(exp_dir.glob("*epoch.pth"), key=lambda p: int(p.name.split("epoch")[0]))
    if not epochs or checkpoint.resolve() in {path.resolve() for path in epochs}:
        return state
    single = torch.load(epochs[-1], map_location="cpu", weights_only=True, mmap=True)
    for name, parameter in model.named_parameters(remove_duplicate=False):  # every name of a tied weight
        if not parameter.requires_grad:
            state[name] = single[name]
    return state

