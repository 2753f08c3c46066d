"""ESPnet's trainer with checkpoints that a killed run cannot tear, a clear line for a torn one, and
checkpoints inside an epoch (on a preemption signal, or every N updates) that the same command resumes
from, to the weights an uninterrupted run ends with."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import logging
import os
import signal
import zipfile
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Optional
from unittest import mock

import torch
from espnet2.train import trainer as espnet_trainer
from espnet2.train.reporter import Reporter, SubReporter
from espnet2.train.trainer import Trainer, TrainerOptions
from espnet2.utils.build_dataclass import build_dataclass
from espnet2.utils.types import int_or_none
from torch.utils.data import DataLoader

from sst.errors import UserError
from sst.io import atomic_path
from sst.tasks.preemption import (SIGNALS, catching_preemption, exit_code, random_states, received_signal,
                                  set_random_states)


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


@dataclasses.dataclass
class ResumableTrainerOptions(TrainerOptions):
    """ESPnet's trainer options, ``--save_every_updates`` and ``--plot_every_epochs``."""

    save_every_updates: Optional[int] = None
    plot_every_epochs: int = 1


class _Run:
    """What a mid-epoch checkpoint needs that ESPnet keeps inside ``Trainer.run``: the run's reporter
    (recorded as ESPnet builds it), and the place inside an epoch read at resume, until it is used; and
    the run's options (for the epochs whose curves are drawn)."""

    reporter: Reporter | None = None
    place: dict | None = None
    options: ResumableTrainerOptions | None = None


class _RecordedReporter(Reporter):
    """ESPnet's reporter, recorded for the mid-epoch checkpoint; it draws the curves (images/*.png) after
    every ``plot_every_epochs``-th epoch and after the last one only (0: the last one only)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _Run.reporter = self

    def matplotlib_plot(self, output_dir: str | Path) -> None:
        epoch, options = self.get_epoch(), _Run.options
        if options is None or epoch >= options.max_epoch or (
                options.plot_every_epochs > 0 and epoch % options.plot_every_epochs == 0):
            super().matplotlib_plot(output_dir)


def _worker_ignoring_preemption(init: Any, worker_id: int) -> None:
    """A data-loader worker leaves preemption signals to the training process (killed by one, it
    would end the epoch with a 'worker exited unexpectedly' error before the checkpoint is written)."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if init is not None:
        init(worker_id)


def _remaining(loader: Iterable, done: int) -> Iterable:
    """``loader`` without its first ``done`` batches; a DataLoader over a list of batches is rebuilt
    without them (nothing of them is read), any other iterable reads and drops them."""
    if not isinstance(loader, DataLoader) or not isinstance(loader.batch_sampler, (list, tuple)):
        return itertools.islice(loader, done, None)
    return DataLoader(loader.dataset, batch_sampler=list(loader.batch_sampler)[done:],
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
                      worker_init_fn=partial(_worker_ignoring_preemption, loader.worker_init_fn))


class _EpochSteps:
    """The training batches of one epoch, from batch ``start`` on; before each batch that starts an
    update it checks for a preemption signal (in all processes alike) and writes the mid-epoch
    checkpoint when one came or ``save_every_updates`` updates are done, then exits on a signal."""

    def __init__(self, loader: Iterable, start: int, states: dict | None, model: torch.nn.Module,
                 optimizers: list, schedulers: list, scaler: Any, reporter: SubReporter,
                 options: ResumableTrainerOptions, distributed: Any):
        self.batches = _remaining(loader, start)
        self.start, self.states = start, states
        self.model, self.optimizers, self.schedulers, self.scaler = model, optimizers, schedulers, scaler
        self.reporter, self.options, self.distributed = reporter, options, distributed
        self.total = start + len(self.batches) if hasattr(self.batches, "__len__") else None

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator:
        batches = iter(self.batches)
        if self.states is not None:  # after the loader drew its seed, as the uninterrupted run's did
            set_random_states(self.states)
        done = self.start
        while True:
            if done > self.start and done % self.options.accum_grad == 0:
                self.at_update_boundary(done)
            try:
                batch = next(batches)
            except StopIteration:
                return
            done += 1
            yield batch

    def at_update_boundary(self, done: int) -> None:
        signum = received_signal()
        if self.distributed.distributed:  # all processes stop at the same step, the first signal decides
            flag = torch.tensor(signum, device="cuda" if self.options.ngpu > 0 else "cpu")
            torch.distributed.all_reduce(flag, torch.distributed.ReduceOp.MAX)
            signum = int(flag.item())
        every = self.options.save_every_updates
        periodic = bool(every) and (done // self.options.accum_grad) % every == 0 and done != self.total
        if not (signum or periodic):
            return
        path = self.save(done)
        if signum:
            if not self.distributed.distributed or self.distributed.dist_rank == 0:
                logging.warning("preempted at epoch %d step %d: checkpoint %s; rerun the same command to resume",
                                self.reporter.get_epoch(), done, path)
            raise SystemExit(exit_code(signum))

    def save(self, done: int) -> Path:
        """Write ``checkpoint.pth`` with the place after ``done`` batches of this epoch (rank 0 writes,
        with every process's random states; the others wait until it is written)."""
        states = random_states()
        distributed = self.distributed.distributed
        if distributed:
            gathered: list = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, states)
        path = Path(self.options.output_dir) / "checkpoint.pth"
        if not distributed or self.distributed.dist_rank == 0:
            epoch = self.reporter.get_epoch()
            model = self.model.module if isinstance(self.model, (torch.nn.parallel.DistributedDataParallel,
                                                                 torch.nn.DataParallel)) else self.model
            run = _Run.reporter
            torch.save({
                "model": model.state_dict(),
                "reporter": {"epoch": epoch - 1, "stats": {e: v for e, v in run.stats.items() if e < epoch}},
                "optimizers": [o.state_dict() for o in self.optimizers],
                "schedulers": [s.state_dict() if s is not None else None for s in self.schedulers],
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "place": {"epoch": epoch, "step": done, "random_states": gathered if distributed else [states],
                          "train_stats": {"stats": dict(self.reporter.stats), "count": self.reporter.count,
                                          "total_count": self.reporter.total_count}},
            }, path)
            logging.info("wrote %s at epoch %d step %d", path, epoch, done)
        if distributed:
            torch.distributed.barrier()
        return path


class ResumableTrainer(Trainer):
    """ESPnet's Trainer; it writes ``checkpoint.pth`` (and ``N.epoch.pth``) atomically, since ESPnet
    writes them in place and a run killed mid-write would leave a torn file, and a torn checkpoint
    found at resume is one line naming it (TornCheckpointError) instead of a zip-reader traceback.

    On SIGTERM or SIGUSR1 (sst.tasks.preemption) the training finishes its update, writes a
    ``checkpoint.pth`` that also records its place inside the epoch (batches done, every process's
    random states, the epoch's training stats so far), logs one line and exits; the same command
    resumes from that batch in the epoch's same batch order. ``--save_every_updates N`` writes it every
    N updates as well. ESPnet's trainer has no hook inside an epoch, so the epoch's batch iterator
    carries it (written here: ESPnet does not resume mid-epoch)."""

    @classmethod
    def build_options(cls, args: argparse.Namespace) -> ResumableTrainerOptions:
        return build_dataclass(ResumableTrainerOptions, args)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("Preemption")
        group.add_argument("--save_every_updates", type=int_or_none, default=None,
                           help="also write checkpoint.pth inside an epoch every N updates of the epoch (a "
                                "SIGTERM or SIGUSR1 writes it at the next update in any case), so that a run "
                                "killed outright resumes from there; the same command resumes from it")
        group.add_argument("--plot_every_epochs", type=int, default=1,
                           help="draw the training curves (images/*.png, with --use_matplotlib true) after every "
                                "N-th epoch and after the last; 0: after the last only (drawing them takes about "
                                "a second an epoch, much of a tiny model's epoch)")

    @staticmethod
    def resume(checkpoint: str | Path, *args: Any, **kwargs: Any) -> None:
        check_checkpoint(Path(checkpoint))
        Trainer.resume(checkpoint, *args, **kwargs)
        # mmap: the weights ESPnet just read are not read a second time for the place
        _Run.place = torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True).get("place")

    @classmethod
    def run(cls, *args: Any, **kwargs: Any) -> None:
        _Run.place, _Run.options = None, kwargs.get("trainer_options")
        with atomic_torch_save(), catching_preemption(), \
                mock.patch.object(espnet_trainer, "Reporter", _RecordedReporter):
            super().run(*args, **kwargs)

    @classmethod
    def train_one_epoch(cls, model: torch.nn.Module, iterator: Iterable, optimizers: list, schedulers: list,
                        scaler: Any, reporter: SubReporter, summary_writer: Any, options: ResumableTrainerOptions,
                        distributed_option: Any) -> bool:
        place, _Run.place = _Run.place, None
        start, states = 0, None
        if place is not None and place["epoch"] == reporter.get_epoch():
            start = place["step"]
            rank = distributed_option.dist_rank if distributed_option.distributed else 0
            saved = place["random_states"]
            states = saved[rank] if rank < len(saved) else None  # another process count: not restorable
            reporter.stats.update(place["train_stats"]["stats"])
            reporter.count, reporter.total_count = place["train_stats"]["count"], place["train_stats"]["total_count"]
            logging.info("resumed at epoch %d step %d", reporter.get_epoch(), start)
        steps = _EpochSteps(iterator, start, states, model, optimizers, schedulers, scaler, reporter, options,
                            distributed_option)
        invalid = super().train_one_epoch(model=model, iterator=steps, optimizers=optimizers, schedulers=schedulers,
                                          scaler=scaler, reporter=reporter, summary_writer=summary_writer,
                                          options=options, distributed_option=distributed_option)
        # ESPnet stops training after an epoch without a valid update; the steps before a resume count
        return invalid and "grad_norm" not in reporter.stats
