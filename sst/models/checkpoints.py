"""Picking an experiment's trained weights: which checkpoint, and its frozen parameters as they were trained.

Used by training (export), packing and the SAMU evaluation alike, so it sits below all of them.
"""
from __future__ import annotations

from pathlib import Path

import torch

from sst.models.hub import ModelNotFoundError

# The averaged n-best checkpoint ESPnet writes at the end of training, then its single best one.
CHECKPOINT_PREFERENCE = ("valid.loss.ave.pth", "valid.loss.best.pth", "valid.acc.best.pth")


def best_checkpoint(exp_dir: Path) -> Path:
    """The checkpoint to export or decode with: the n-best average, else the best, else the last."""
    for name in CHECKPOINT_PREFERENCE:
        if (exp_dir / name).exists():
            return exp_dir / name
    candidates = sorted(exp_dir.glob("*epoch.pth"), key=lambda p: int(p.name.split("epoch")[0]))
    if not candidates:
        raise ModelNotFoundError(f"{exp_dir}: no trained checkpoint (looked for {', '.join(CHECKPOINT_PREFERENCE)}"
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

