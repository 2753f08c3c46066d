"""Decode dirs as stage 5 (sst.bin.st_inference) writes them, for the stage-6 scoring tests."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sst.io import write_kv


def write_decode_dir(path: Path, src: str, tgt: str, hyps: Sequence[str], refs: Sequence[str],
                     ids: Sequence[str] | None = None) -> Path:
    """``hyp``, ``ref``, ``utt2lang`` and ``utt2tgt_lang`` of one ``src``-``tgt`` test set in ``path``;
    utterance ids ``<src>-<tgt>-000``, ... unless given."""
    ids = [f"{src}-{tgt}-{i:03d}" for i in range(len(refs))] if ids is None else ids
    path.mkdir(parents=True, exist_ok=True)
    write_kv(path / "hyp", dict(zip(ids, hyps)))
    write_kv(path / "ref", dict(zip(ids, refs)))
    write_kv(path / "utt2lang", {utt: src for utt in ids})
    write_kv(path / "utt2tgt_lang", {utt: tgt for utt in ids})
    return path
