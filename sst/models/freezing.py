"""Declarative freezing of parameter groups, and the trainable/frozen parameter report."""
from __future__ import annotations

import logging
import re
from typing import Mapping, Sequence

from torch import nn

from sst.errors import ConfigError


def freeze(groups: Mapping[str, nn.Module], frozen: Sequence[str],
           keep_trainable: Sequence[str] = ()) -> None:
    """Freeze the named groups, except parameters whose name matches a ``keep_trainable`` regex.

    ``groups`` maps the names a config may use (``encoder``, ``decoder``, ...) to modules.
    """
    unknown = set(frozen) - set(groups)
    if unknown:
        raise ConfigError(f"unknown freeze group(s) {sorted(unknown)}; known: {sorted(groups)}")
    patterns = [re.compile(p) for p in keep_trainable]
    for group in frozen:
        for name, param in groups[group].named_parameters():
            param.requires_grad = any(p.search(name) for p in patterns)


def parameter_report(model: nn.Module) -> dict[str, dict[str, int]]:
    """Trainable and frozen parameter counts per top-level submodule, plus a ``total`` row."""
    report: dict[str, dict[str, int]] = {}
    for name, param in model.named_parameters():
        row = report.setdefault(name.split(".")[0], {"trainable": 0, "frozen": 0})
        row["trainable" if param.requires_grad else "frozen"] += param.numel()
    report["total"] = {key: sum(row[key] for row in report.values()) for key in ("trainable", "frozen")}
    return report


def log_parameter_report(model: nn.Module) -> dict[str, dict[str, int]]:
    """Log the parameter report as a table and return it."""
    report = parameter_report(model)
    logging.info("parameters (trainable / frozen):")
    for name, row in report.items():
        logging.info("  %-24s %14s / %14s", name, f"{row['trainable']:,}", f"{row['frozen']:,}")
    logging.info("trainable share: %.1f %% of all parameters", 100 * trainable_share(report))
    return report


def trainable_share(report: Mapping[str, Mapping[str, int]]) -> float:
    """The trainable fraction of all parameters of a ``parameter_report``."""
    total = report["total"]
    return total["trainable"] / max(1, total["trainable"] + total["frozen"])
