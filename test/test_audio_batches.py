"""Inference batching: length-sorted batches bounded by padded samples and count, audio read batch by batch."""
from __future__ import annotations

import numpy as np
import pytest

from sst.data.audio import dumped_lengths
from sst.errors import ConfigError
from sst.inference.batching import length_sorted_batches, padded_batches
from sst.io import DataDirError


def test_batches_are_longest_first_and_within_both_bounds() -> None:
    lengths = {"a": 100, "b": 400, "c": 300, "d": 300, "e": 50, "f": 2000, "g": 60}
    batches = length_sorted_batches(lengths, batch_bins=900, batch_size=3)
    # f alone (longer than batch_bins); b + c (3 x 400 > 900); d a g (3 x 300 = 900); e
    assert batches == [["f"], ["b", "c"], ["d", "a", "g"], ["e"]]
    assert length_sorted_batches(lengths, batch_bins=10**6, batch_size=2) == [["f", "b"], ["c", "d"], ["a", "g"], ["e"]]
    with pytest.raises(ConfigError, match="must be positive"):
        length_sorted_batches(lengths, batch_bins=0, batch_size=2)


def test_padded_batches_read_each_batch_only_when_reached() -> None:
    audio = {"x": np.ones(3, dtype=np.float32), "y": np.full(5, 2.0, dtype=np.float32), "z": np.ones(1, np.float32)}
    read = []

    def reader(key: str) -> np.ndarray:
        read.append(key)
        return audio[key]

    batches = padded_batches([["y", "x"], ["z"]], reader)
    keys, speech, lengths = next(batches)
    assert read == ["y", "x"] and keys == ["y", "x"] and lengths.tolist() == [5, 3]
    assert speech.tolist() == [[2.0] * 5, [1.0, 1.0, 1.0, 0.0, 0.0]]
    assert next(batches)[0] == ["z"] and read == ["y", "x", "z"]


def test_dumped_lengths_name_the_file_at_fault(tmp_path) -> None:
    (tmp_path / "speech_shape").write_text("u1 16000\nu2 8000\n", encoding="utf-8")
    assert dumped_lengths(tmp_path, ["u1", "u2"]) == {"u1": 16000, "u2": 8000}
    with pytest.raises(DataDirError, match=r"speech_shape: no length for utterance u3"):
        dumped_lengths(tmp_path, ["u1", "u3"])
    (tmp_path / "speech_shape").write_text("u1 many\n", encoding="utf-8")
    with pytest.raises(DataDirError, match=r"speech_shape:1: 'u1 many'"):
        dumped_lengths(tmp_path, ["u1"])
