"""Preemption: SIGTERM or SIGUSR1 (slurm's preemption and ``--signal=USR1@<s>`` before the time limit)
make a training stop at its next update boundary (sst.tasks.trainer writes the mid-epoch checkpoint) and
exit with 128 + the signal number, the code a shell gives a process the signal ended: non-zero, so a
recipe stops there instead of going on to the next stage, and a job script can requeue on it."""
from __future__ import annotations

import contextlib
import random
import signal
import threading
from collections.abc import Iterator

import numpy as np
import torch

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
EXIT_CODES = tuple(128 + sig for sig in SIGNALS)

_received: list[int] = []


def _note(signum: int, frame: object) -> None:
    _received.append(signum)


def received_signal() -> int:
    """The preemption signal received since catching began, 0 when none."""
    return _received[0] if _received else 0


def exit_code(signum: int) -> int:
    """What a process preempted by ``signum`` exits with."""
    return 128 + signum


@contextlib.contextmanager
def catching_preemption() -> Iterator[None]:
    """Within the block, SIGTERM and SIGUSR1 only note that training must stop (see received_signal);
    the previous handlers come back after it. Off the main thread (where no handler can be set) a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outermost = all(signal.getsignal(sig) is not _note for sig in SIGNALS)
    previous = {sig: signal.signal(sig, _note) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if outermost:
            _received.clear()


def random_states() -> dict[str, object]:
    """The python, numpy and torch (CPU and CUDA) random states of this process."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None}


def set_random_states(states: dict[str, object]) -> None:
    """Put back what :func:`random_states` returned."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None:
        torch.cuda.set_rng_state_all(states["cuda"])
