"""Turning a recipe's dump directories into an ESPnet training command line, and picking its result."""
from __future__ import annotations

import argparse
import inspect
import logging
import os
from pathlib import Path
from typing import Sequence

import torch
from espnet2.tasks.abs_task import scheduler_classes

from sst.tasks.base import ModelConfTask

# The averaged n-best checkpoint ESPnet writes at the end of training, then its single best one.
CHECKPOINT_PREFERENCE = ("valid.loss.ave.pth", "valid.loss.best.pth", "valid.acc.best.pth")
# An explicit scheduler_conf.max_steps more than this factor off the run's real updates gets a warning.
MAX_STEPS_TOLERANCE = 1.25


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


def world_size(args: argparse.Namespace) -> int:
    """Processes the ESPnet run will train in: one per GPU with --multiprocessing_distributed, else the
    external launcher's WORLD_SIZE (torchrun, slurm), else 1."""
    if getattr(args, "multiprocessing_distributed", False):
        return max(1, int(args.ngpu)) * max(1, int(os.environ.get("SLURM_NNODES", "1")))
    return int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1")))


def derived_max_steps(args: argparse.Namespace, world: int) -> int:
    """Optimizer updates of a whole run: the training batches ESPnet's sampler builds from the shape files
    (per epoch, or ``num_iters_per_epoch``), one update per ``accum_grad`` of them, times ``max_epoch``.

    With several processes each batch is split over them (so the count does not shrink), and ESPnet
    asks for at least one utterance per process in a batch, which the sampler is told here as well.
    """
    from espnet2.samplers.build_batch_sampler import build_batch_sampler

    iterations = args.num_iters_per_epoch
    if iterations is None:
        sampler = build_batch_sampler(
            type=args.batch_type, batch_size=args.batch_size, batch_bins=args.batch_bins,
            shape_files=args.train_shape_file, fold_lengths=args.fold_length, sort_in_batch=args.sort_in_batch,
            sort_batch=args.sort_batch, drop_last=args.drop_last_iter,
            min_batch_size=world if world > 1 else args.min_batch_size)
        iterations = len(sampler)
    return max(1, iterations // max(1, args.accum_grad)) * args.max_epoch


def with_derived_schedule(task: type[ModelConfTask], cmd: list[str]) -> list[str]:
    """``cmd``, plus ``--scheduler_conf max_steps=N`` (N from :func:`derived_max_steps`) when the
    scheduler takes a ``max_steps`` that the config leaves out; an explicit value is kept, with a
    warning when it is far from the derived one (a schedule that never finishes, or ends early)."""
    args = task.get_parser().parse_args(cmd)
    if args.scheduler is None or "max_steps" not in inspect.signature(scheduler_classes[args.scheduler]).parameters:
        return cmd
    world = world_size(args)
    derived = derived_max_steps(args, world)
    given = (args.scheduler_conf or {}).get("max_steps")
    if given is None:
        logging.info("%s max_steps = %d, derived from the data: %d epoch(s) of the training batches in %d "
                     "process(es), accum_grad %d", args.scheduler, derived, args.max_epoch, world, args.accum_grad)
        return cmd + ["--scheduler_conf", f"max_steps={derived}"]
    if not 1 / MAX_STEPS_TOLERANCE <= given / derived <= MAX_STEPS_TOLERANCE:
        logging.warning("%s: scheduler_conf.max_steps = %s, but this run makes %d updates (%d epoch(s), accum_grad "
                        "%d, %d process(es)): the schedule %s; leave max_steps out to derive it", args.config, given,
                        derived, args.max_epoch, args.accum_grad, world,
                        "never finishes" if given > derived else "ends early and stays at its final rate")
    return cmd


def run_espnet(task: type[ModelConfTask], cmd: list[str]) -> None:
    """Run ESPnet's trainer for ``task`` (resuming from the last checkpoint when there is one), with the
    learning-rate schedule's length derived from the data when the config leaves it out."""
    cmd = with_derived_schedule(task, cmd)
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
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    epochs = sorted(exp_dir.glob("*epoch.pth"), key=lambda p: int(p.name.split("epoch")[0]))
    if not epochs or checkpoint.resolve() in {path.resolve() for path in epochs}:
        return state
    single = torch.load(epochs[-1], map_location="cpu", weights_only=True)
    for name, parameter in model.named_parameters(remove_duplicate=False):  # every name of a tied weight
        if not parameter.requires_grad:
            state[name] = single[name]
    return state

