"""ESPnet's trainer with checkpoints that a killed run cannot tear, and a clear line for a torn one."""
from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from espnet2.train.trainer import Trainer

from sst.errors import UserError
from sst.io import atomic_path


class TornCheckpointError(UserError):
    """``checkpoint.pth`` cannot be read; the message says which file and what to delete."""


def check_checkpoint(checkpoint: Path) -> None:
    """TornCheckpointError when ``checkpoint`` is not a complete torch zip archive.

    Reads only the archive's central directory, which sits at the end of the file and is what a
    write cut short lacks; the weights themselves are read once, by ESPnet's resume.
    """
    checkpoint = Path(checkpoint)
    try:
        with zipfile.ZipFile(checkpoint) as archive:
            complete = any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        complete, reason = False, str(error)
    else:
        reason = "no data.pkl in the archive"
    if not complete:
        epochs = sorted(checkpoint.parent.glob("*epoch.pth"), key=lambda p: int(p.name.split("epoch")[0]))
        weights = f"; {epochs[-1]} holds the last epoch's weights only, not the optimizer state" if epochs else ""
        raise TornCheckpointError(
            f"{checkpoint}: unreadable ({reason}), so training cannot resume from it{weights}. "
            f"Delete it to train this experiment again from the start: rm {checkpoint}")


def _atomic_save(original: Any) -> Any:
    """``torch.save`` that writes a path through a temporary file and a rename (sst.io.atomic_path)."""
    def save(obj: object, f: Any, *args: Any, **kwargs: Any) -> None:
        if not isinstance(f, (str, os.PathLike)):
            return original(obj, f, *args, **kwargs)
        with atomic_path(f) as tmp:
            original(obj, tmp, *args, **kwargs)
    return save


@contextlib.contextmanager
def atomic_torch_save() -> Iterator[None]:
    """Within the block, every ``torch.save`` to a path replaces the file only once it is complete."""
    with mock.patch.object(torch, "save", _atomic_save(torch.save)):
        yield


class ResumableTrainer(Trainer):
    """ESPnet's Trainer; it writes ``checkpoint.pth`` (and ``N.epoch.pth``) atomically, since ESPnet
    writes them in place and a run killed mid-write would leave a torn file, and a torn checkpoint
    found at resume is one line naming it (TornCheckpointError) instead of a zip-reader traceback."""

    @staticmethod
    def resume(checkpoint: str | Path, *args: Any, **kwargs: Any) -> None:
        check_checkpoint(Path(checkpoint))
        Trainer.resume(checkpoint, *args, **kwargs)

    @classmethod
    def run(cls, *args: Any, **kwargs: Any) -> None:
        with atomic_torch_save():
            super().run(*args, **kwargs)
