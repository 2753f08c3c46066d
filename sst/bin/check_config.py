"""Check training configs without training (what ESPnet's ``--dry_run`` CI step does for its recipes).

    python -m sst.bin.check_config egs/*/conf/tuning/*.yaml

For every config: each top-level key must be an option of the task's ESPnet parser, each
``model_conf`` key a parameter of the model class, each ``optim_conf`` / ``scheduler_conf`` key a
parameter of the chosen optimizer / scheduler; then the model is built at full size on the meta
device (no memory, no weights, no hub: a model path that does not exist yet, e.g. the SAMU export
``exp/samu_x/encoder_hf`` of a later stage, or a hub id, is checked with the packaged architecture of
the real checkpoint), and its trainable / frozen parameter table is printed. ``train_samu*.yaml`` is a
SAMU config, ``train_st*.yaml`` an ST config. A bad config is one line on stderr naming the file and
the key; the exit code is 1 when any config is bad. A file named twice (through a link) is checked once.
"""
from __future__ import annotations

import argparse
import inspect
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from sst.errors import ConfigError, UserError, is_user_error, one_line
from sst.io import read_yaml
from sst.models import freezing
from sst.models.architectures import BUNDLED
from sst.tasks.base import ModelConfTask

# The model_conf keys that name a pretrained model directory or hub id.
MODEL_PATH_KEYS = ("encoder_model", "decoder_model")


def task_of(config_path: Path) -> type[ModelConfTask]:
    """The task a config trains, by the recipes' file names (``train_samu*`` / ``train_st*``)."""
    from sst.tasks.samu import SamuTask
    from sst.tasks.st import STTask

    name = config_path.name
    if name.startswith("train_samu"):
        return SamuTask
    if name.startswith("train_st"):
        return STTask
    raise ConfigError("cannot tell the task: a training config is named train_samu*.yaml or train_st*.yaml")


def accepted_keywords(function: Any, skip: int = 0) -> set[str] | None:
    """The keyword parameters of a callable (after ``skip`` positional ones); None when it takes **kwargs."""
    parameters = list(inspect.signature(function).parameters.values())[skip:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters}


def check_keys(section: str, given: dict, accepted: set[str] | None, owner: str) -> None:
    """A ConfigError naming the first key of ``given`` that ``owner`` does not accept."""
    if accepted is None:
        return
    unknown = sorted(set(given) - accepted)
    if unknown:
        raise ConfigError(f"unknown key {section}{unknown[0]!r} ({owner} accepts: {', '.join(sorted(accepted))})")


def check_trainer_keys(task: type[ModelConfTask], config: dict) -> None:
    """Top-level keys against the task's ESPnet parser; optimizer and scheduler options against their classes."""
    from espnet2.tasks.abs_task import optim_classes, scheduler_classes

    parser = task.get_parser()
    check_keys("", config, {action.dest for action in parser._actions}, f"{task.__name__}'s ESPnet parser")
    optim = config.get("optim", "adadelta")
    if optim not in optim_classes:
        raise ConfigError(f"optim: unknown optimizer {optim!r} (known: {', '.join(optim_classes)})")
    check_keys("optim_conf.", config.get("optim_conf") or {}, accepted_keywords(optim_classes[optim], skip=1), optim)
    scheduler = config.get("scheduler")
    if scheduler is not None:
        if scheduler not in scheduler_classes:
            raise ConfigError(f"scheduler: unknown scheduler {scheduler!r} (known: {', '.join(scheduler_classes)})")
        check_keys("scheduler_conf.", config.get("scheduler_conf") or {},
                   accepted_keywords(scheduler_classes[scheduler], skip=1), scheduler)


def samu_student(export: str, recipe_dir: Path) -> str | None:
    """The packaged student a SAMU export path ``exp/samu_<config>[_<tag>]/encoder_hf`` will be trained from:
    the ``encoder_model`` of the recipe's ``conf/tuning/<config>.yaml`` (the longest name that fits), if bundled."""
    parts = Path(export).parts
    if len(parts) < 2 or parts[-1] != "encoder_hf" or not parts[-2].startswith("samu_"):
        return None
    exp_name = parts[-2].removeprefix("samu_")
    configs = [path for path in (recipe_dir / "conf" / "tuning").glob("train_samu*.yaml")
               if exp_name == path.stem or exp_name.startswith(path.stem + "_")]
    if not configs:
        return None
    config = read_yaml(max(configs, key=lambda path: len(path.stem))) or {}
    student = str((config.get("model_conf") or {}).get("encoder_model", ""))
    return student if student in BUNDLED else None


def full_size_model_conf(task: type[ModelConfTask], model_conf: dict, recipe_dir: Path) -> tuple[dict, list[str]]:
    """``model_conf`` for a random-weight build: model paths resolved against the recipe folder, paths that
    do not exist yet replaced by the real checkpoint the parameter defaults to. Returns it and notes."""
    defaults = {name: p.default for name, p in inspect.signature(task.model_class).parameters.items()}
    conf, notes = dict(model_conf, pretrained=False), []
    for key in MODEL_PATH_KEYS:
        if key not in defaults:
            continue
        value = str(conf.get(key, defaults[key]))
        local = recipe_dir / value
        if local.is_dir():
            conf[key] = str(local)
        elif value not in BUNDLED:
            conf[key] = samu_student(value, recipe_dir) or defaults[key]
            notes.append(f"{key}: {value} does not exist yet; checked with the architecture of {conf[key]}")
    if conf.get("target_vocabulary"):
        vocabulary = recipe_dir / str(conf["target_vocabulary"])
        if vocabulary.is_file():
            conf["target_vocabulary"] = str(vocabulary)
        else:
            conf.pop("target_vocabulary")
            notes.append(f"target_vocabulary: {vocabulary} does not exist yet (stage 2 writes it); checked untrimmed")
    return conf, notes


def check_config(config_path: Path) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Validate one config and build its model at full size on the meta device.

    Returns the parameter report and notes; raises ConfigError for a mistake in the config.
    """
    config = read_yaml(config_path)
    if not isinstance(config, dict):
        raise ConfigError("expected a mapping of ESPnet options at the top level")
    task = task_of(config_path)
    check_trainer_keys(task, config)
    model_conf = config.get("model_conf") or {}
    check_keys("model_conf.", model_conf, accepted_keywords(task.model_class), task.model_class.__name__)
    # conf/tuning/x.yaml -> the recipe folder, where the config's relative model paths start.
    conf, notes = full_size_model_conf(task, model_conf, config_path.resolve().parents[2])
    with torch.device("meta"):
        try:
            model = task.model_class(**conf)
        except (UserError, ValueError, TypeError, OSError) as error:
            raise ConfigError(f"model_conf: {task.model_class.__name__} cannot be built: {error}") from error
    return freezing.parameter_report(model), notes


def report_table(report: dict[str, dict[str, int]]) -> str:
    """The trainable / frozen table of a parameter report."""
    rows = [(name, f"{row['trainable']:,}", f"{row['frozen']:,}") for name, row in report.items()]
    return tabulate(rows, headers=("module", "trainable", "frozen"), colalign=("left", "right", "right"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", type=Path, nargs="+", help="training YAML files (conf/tuning/*.yaml)")
    parser.add_argument("--log", type=Path, default=None, help="write details (tracebacks) here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.log else logging.WARNING, filename=args.log,
                        format="%(asctime)s %(levelname)s %(message)s")
    for name in ("transformers", "sst"):  # the model builders log every build at INFO
        logging.getLogger(name).setLevel(logging.WARNING)

    failed, seen = 0, {}
    for path in args.configs:
        if path.resolve() in seen:  # e.g. egs/europarl_st/conf/tuning links to covost2's
            print(f"{path}: same file as {seen[path.resolve()]}, checked above")
            continue
        seen[path.resolve()] = path
        try:
            report, notes = check_config(path)
        except Exception as error:
            if not is_user_error(error):
                raise
            logging.debug("%s", path, exc_info=True)
            message = one_line(error)
            print(message if message.startswith(str(path)) else f"{path}: {message}", file=sys.stderr)
            failed += 1
            continue
        total = report["total"]
        print(f"{path}: OK ({total['trainable']:,} trainable / {total['frozen']:,} frozen parameters)")
        for note in notes:
            print(f"  note: {note}")
        print("  " + report_table(report).replace("\n", "\n  "))
    if failed:
        print(f"{failed} of {len(seen)} config(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
