"""One rank of the two-process training test (test_distributed.py), launched by torchrun.

Runs ``sst.bin.st_train`` unchanged, recording in ``$SST_RECORD_DIR/rank<RANK>.json`` the utterances
each training step of this rank saw and every file this rank saved with ``torch.save``, and saving the
rank's trainable parameters after training to ``rank<RANK>.params.pth``. The first ``checkpoint.pth``
written (the one of epoch 1) is also kept as ``first_checkpoint.pth``, so the test can put the experiment
back to where a run killed after epoch 1 left it. With ``SST_SIGNAL_AT_STEP=k`` rank 1 alone sends
itself SIGTERM in the forward pass of its training step k (the ranks must agree to stop after it).
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import torch

from sst.bin import st_train
from sst.tasks.st import STTask

record_dir = Path(os.environ["SST_RECORD_DIR"])
rank = int(os.environ["RANK"])
saved: list[str] = []
steps: list[list[str]] = []
models: list[torch.nn.Module] = []
torch_save = torch.save


def recording_save(obj, f, *args, **kwargs):
    saved.append(str(f))
    first = record_dir / "first_checkpoint.pth"
    if Path(str(f)).name.startswith("checkpoint.pth") and not first.exists():
        record_dir.mkdir(parents=True, exist_ok=True)
        torch_save(obj, first)
    return torch_save(obj, f, *args, **kwargs)


def record_step(module, args, kwargs) -> None:
    if module.training:
        steps.append(list(kwargs["utt_id"]))
        if rank == 1 and len(steps) == int(os.environ.get("SST_SIGNAL_AT_STEP", "0")):
            os.kill(os.getpid(), signal.SIGTERM)


def build_model(cls, args):
    model = STTask.model_class(**args.model_conf)
    model.register_forward_pre_hook(record_step, with_kwargs=True)
    models.append(model)
    return model


torch.save = recording_save
STTask.build_model = classmethod(build_model)
st_train.main(sys.argv[1:])
record_dir.mkdir(parents=True, exist_ok=True)
trainable = {name: p.detach().clone() for name, p in models[0].named_parameters() if p.requires_grad}
torch_save(trainable, record_dir / f"rank{rank}.params.pth")
(record_dir / f"rank{rank}.json").write_text(json.dumps({"steps": steps, "saved": saved}))
