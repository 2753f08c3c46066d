"""Turning a recipe's dump directories into an ESPnet training command line (its result: sst.models.checkpoints)."""
from __future__ import annotations

import argparse
import inspect
import logging
import os
from pathlib import Path
from typing import Sequence

import torch
import yaml
from espnet2.tasks.abs_task import scheduler_classes

from sst.data.provenance import Provenance, describe, dump_fingerprint, file_digest, model_fingerprint
from sst.tasks.base import ModelConfTask
from sst.tasks.preemption import EXIT_CODES, catching_preemption

# Trainer options that say where and how fast to train and how often to checkpoint, not what is learnt:
# an experiment may resume with other values.
RESOURCE_OPTIONS = ("--ngpu", "--multiprocessing_distributed", "--num_workers", "--dist_backend",
                    "--dist_launcher", "--dist_init_method", "--dist_world_size", "--dist_rank", "--local_rank",
                    "--use_tensorboard", "--log_interval", "--save_every_updates")
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


def require_gpus(cmd: Sequence[str]) -> None:
    """ValueError (one line, before any work) when the command's ``--ngpu N`` asks for more CUDA GPUs
    than this machine has."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--ngpu", type=int, default=0)
    ngpu = parser.parse_known_args(cmd)[0].ngpu
    available = torch.cuda.device_count()
    if ngpu > available:
        where = " to train on the CPU" if available == 0 else ""
        raise ValueError(f"--ngpu {ngpu}, but this machine has {available} CUDA GPU(s); "
                         f"run with --ngpu {available}{where}")


def result_options(passthrough: Sequence[str]) -> list[str]:
    """The trainer options of ``passthrough`` that change the result (RESOURCE_OPTIONS left out)."""
    kept, skip_value = [], False
    for token in passthrough:
        if skip_value and not token.startswith("--"):
            skip_value = False
            continue
        skip_value = False
        if token.split("=", 1)[0] in RESOURCE_OPTIONS:
            skip_value = "=" not in token
            continue
        kept.append(token)
    return kept


def experiment_fingerprint(args: argparse.Namespace, data_files: Sequence[str], models: dict[str, str | None],
                           passthrough: Sequence[str], conf_files: dict[str, str | None] | None = None) -> dict:
    """What an experiment is made from: the training config, the train/valid dump files ``data_files``
    (with the dumps' provenance), the initial models (an option, else the config's model_conf), the
    content of the model_conf files ``conf_files`` (same rule, e.g. a target vocabulary) and the trainer
    options that change the result."""
    model_conf = (yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}).get("model_conf") or {}
    initial = {key: value or model_conf.get(key) for key, value in models.items()}
    files = {key: value or model_conf.get(key) for key, value in (conf_files or {}).items()}
    return {"config": file_digest(args.config), "train_dump": dump_fingerprint(args.train_dump, data_files),
            "valid_dump": dump_fingerprint(args.valid_dump, data_files),
            "initial_models": {key: model_fingerprint(value) for key, value in initial.items() if value},
            **({"model_conf_files": {key: file_digest(Path(value)) for key, value in files.items() if value}}
               if any(files.values()) else {}),
            "trainer_options": result_options(passthrough)}


def claim_experiment(exp_dir: Path, made_from: dict, option: str) -> None:
    """Record what the experiment in ``exp_dir`` is made from; when it already holds one made from
    anything else, stop with one line naming ``option`` and leave it untouched."""
    record = Provenance(exp_dir, "train")
    changed = record.changes(made_from)
    if changed is None and any((exp_dir / name).exists() for name in ("config.yaml", "checkpoint.pth")):
        changed = ["nothing recorded"]
    if changed:
        raise SystemExit(f"ERROR: {exp_dir} holds an experiment made from other inputs (changed: {describe(changed)}); "
                         f"pass another {option} or delete {exp_dir}")
    if changed is None:
        record.save(made_from)


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
    learning-rate schedule's length derived from the data when the config leaves it out.

    A preemption signal stops it with a checkpoint (sst.tasks.trainer); with ESPnet's own training
    processes (--multiprocessing_distributed) this process waits for them, and exits with their code."""
    require_gpus(cmd)
    cmd = with_derived_schedule(task, cmd)
    logging.info("ESPnet %s arguments: %s", task.__name__, " ".join(cmd))
    with catching_preemption():
        try:
            task.main(cmd=cmd)
        except torch.multiprocessing.ProcessExitedException as error:
            if error.exit_code in EXIT_CODES:
                raise SystemExit(error.exit_code) from None
            raise


def is_main_process() -> bool:
    """False in the non-zero ranks of a multi-node launch, which must not write shared results."""
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0"))) == 0
