"""Batches for inference: keys sorted by length and cut so a batch's padded size stays bounded, then the
audio of each batch read only when it is reached."""
from __future__ import annotations

from typing import Callable, Hashable, Iterable, Iterator, Mapping, Sequence, TypeVar

import numpy as np
import torch

from sst.errors import ConfigError

K = TypeVar("K", bound=Hashable)


def length_sorted_batches(lengths: Mapping[K, int], batch_bins: int, batch_size: int) -> list[list[K]]:
    """Keys longest first (equal lengths in the mapping's order), cut into batches of at most ``batch_size``
    keys whose padded size (keys x longest) stays within ``batch_bins`` samples; a clip longer than
    ``batch_bins`` gets a batch of its own. Written here because ESPnet's numel sampler lets every batch
    pass its bins by one utterance and has no cap on the count, and inference needs both bounds."""
    if batch_bins <= 0 or batch_size <= 0:
        raise ConfigError(f"batch_bins ({batch_bins}) and batch_size ({batch_size}) must be positive")
    batches: list[list[K]] = []
    for key in sorted(lengths, key=lambda k: -lengths[k]):
        current = batches[-1] if batches else []
        if not current or len(current) >= batch_size or (len(current) + 1) * lengths[current[0]] > batch_bins:
            batches.append([key])
        else:
            current.append(key)
    return batches



def padded_batches(batches: Iterable[Sequence[K]], read: Callable[[K], np.ndarray]
                   ) -> Iterator[tuple[list[K], torch.Tensor, torch.Tensor]]:
    """``(keys, speech, lengths)`` for each batch of keys, zero-padded to its longest waveform: the input
    the speech models take at inference. ``read(key)`` is called only when its batch is reached, so no
    more than one batch of audio is held at a time."""
    for batch in batches:
        keys = list(batch)
        waveforms = [read(key) for key in keys]
        lengths = torch.tensor([len(w) for w in waveforms])
        speech = torch.zeros(len(keys), int(lengths.max()))
        for row, waveform in enumerate(waveforms):
            speech[row, : len(waveform)] = torch.from_numpy(waveform)
        yield keys, speech, lengths
