"""Provenance of derived outputs: what each was made from, recorded beside it, so a rerun redoes what changed.

A fingerprint is a JSON-able dict: digests of the input files, the models (local dir with a digest of
every file, or hub id with the files of its local cache) and the options that change the result. Each
step records it in ``<dir>/.provenance/<step>.json`` once its work in ``<dir>`` is complete (an
experiment records it before training starts: it names what the experiment belongs to). Steps with
per-utterance outputs also keep ``<dir>/.provenance/<step>.utts`` (utt -> digest of what that
utterance's output is made from), written before the work starts, to redo only changed utterances.

    record = Provenance(out_dir, "tokenize_targets")
    if record.is_current(made_from, f"{out_dir}/text_int"):
        return
    ...  # do the work
    record.save(made_from)
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from sst.io import read_kv, write_kv, write_text

PROVENANCE_DIR = ".provenance"
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def text_digest(*parts: object) -> str:
    """A short (64-bit) digest of some values, for per-utterance records."""
    return hashlib.sha256(json.dumps(parts, default=str).encode("utf-8")).hexdigest()[:16]


def tree_digests(path: Path) -> dict[str, str]:
    """Relative path -> digest of every file below ``path`` (hidden files and dirs left out)."""
    path = Path(path)
    return {p.relative_to(path).as_posix(): file_digest(p) for p in sorted(path.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)}


# A model dir's model card: it describes the model and changes nothing the model computes.
MODEL_CARD = "README.md"


def model_fingerprint(name_or_dir: str | Path) -> dict[str, object]:
    """A local model dir: its path and the digest of each file (config, weights, tokenizer ...). A hub
    id: the id and the files of its local hub cache (their blob names are the hub's own digests). The
    model card (README.md) is left out. An adapter-only package (sst.models.packing) records its bases'
    digests in a file, so its fingerprint covers them."""
    path = Path(name_or_dir)
    if path.is_dir():
        return {"path": str(path.resolve()),
                "files": {name: digest for name, digest in tree_digests(path).items() if name != MODEL_CARD}}
    from huggingface_hub.constants import HF_HUB_CACHE

    snapshots = Path(HF_HUB_CACHE) / f"models--{str(name_or_dir).replace('/', '--')}" / "snapshots"
    cached = {p.relative_to(snapshots).as_posix(): p.resolve().name for p in sorted(snapshots.rglob("*"))
              if p.is_file() and p.relative_to(snapshots).parts[1:] != (MODEL_CARD,)} if snapshots.is_dir() else {}
    return {"id": str(name_or_dir), "cache": cached}


def dump_fingerprint(dump_dir: Path, names: Iterable[str]) -> dict[str, str]:
    """Digests of the named files of a dump dir and of the provenance records the dir holds (which
    stand for what its audio, embeddings and targets were made from)."""
    dump_dir = Path(dump_dir)
    digests = {name: file_digest(dump_dir / name) for name in names if (dump_dir / name).is_file()}
    records = dump_dir / PROVENANCE_DIR
    if records.is_dir():
        digests.update({f"{PROVENANCE_DIR}/{p.name}": file_digest(p) for p in sorted(records.glob("*.json"))})
    return digests


def changes(recorded: object, current: object, prefix: str = "") -> list[str]:
    """Dotted names of the entries that differ between two fingerprints (``[]`` when equal)."""
    if isinstance(recorded, Mapping) and isinstance(current, Mapping):
        return [change for key in sorted(set(recorded) | set(current), key=str)
                for change in changes(recorded.get(key), current.get(key), f"{prefix}{key}.")]
    return [] if recorded == current else [prefix.rstrip(".") or "fingerprint"]


def describe(changed: list[str], limit: int = 5) -> str:
    """The first few changed names, for a log line."""
    more = f" and {len(changed) - limit} more" if len(changed) > limit else ""
    return ", ".join(changed[:limit]) + more


class Provenance:
    """The records of one step (``step``) in one output dir."""

    def __init__(self, out_dir: Path, step: str) -> None:
        self.dir = Path(out_dir) / PROVENANCE_DIR
        self.record = self.dir / f"{step}.json"
        self.utts_file = self.dir / f"{step}.utts"

    def recorded(self) -> dict | None:
        """The recorded fingerprint, or None when there is none."""
        return json.loads(self.record.read_text(encoding="utf-8")) if self.record.is_file() else None

    def changes(self, current: dict) -> list[str] | None:
        """What differs from the recorded fingerprint; None when nothing is recorded."""
        recorded = self.recorded()
        return None if recorded is None else changes(recorded, json.loads(json.dumps(current, default=str)))

    def is_current(self, current: dict, what: str | Path) -> bool:
        """Whether the output was made from ``current``; logs that, or what changed, for ``what``."""
        changed = self.changes(current)
        if changed == []:
            logging.info("%s: already done from the same inputs, nothing to do", what)
            return True
        reason = "nothing recorded yet" if changed is None else f"changed: {describe(changed)}"
        logging.info("%s: (re)doing (%s)", what, reason)
        return False

    def save(self, current: dict) -> None:
        """Record ``current`` as what the output is made from (atomically)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_text(self.record, json.dumps(current, indent=1, sort_keys=True, default=str) + "\n")

    def keep_work_if_current(self, current: dict, work: Path) -> None:
        """For a step whose partial results in ``work`` survive a kill: delete ``work`` unless this record
        says it was made from ``current``, then record ``current`` for what follows."""
        if self.changes(current) != [] and Path(work).is_dir():
            logging.info("%s: partial results of other inputs dropped", work)
            shutil.rmtree(work)
        self.save(current)

    def clear(self) -> None:
        """Forget the record (before the output is rewritten, so a killed run is not taken as done)."""
        self.record.unlink(missing_ok=True)

    def changed_utterances(self, current: Mapping[str, str], what: str | Path) -> set[str]:
        """The utterances whose digest in ``current`` differs from the recorded one (or has none); logs
        their number. Call ``save_utterances(current)`` before redoing them."""
        recorded = read_kv(self.utts_file) if self.utts_file.is_file() else {}
        changed = {utt for utt, digest in current.items() if recorded.get(utt) != digest}
        if changed:
            logging.info("%s: %d of %d utterances new or changed (e.g. %s)", what, len(changed), len(current),
                         min(changed))
        return changed

    def save_utterances(self, current: Mapping[str, str]) -> None:
        """Record the per-utterance digests ``current``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_kv(self.utts_file, current)
