"""A local folder put into a Hugging Face cache as the snapshot of a hub id, the layout ``hf download``
leaves (``models--<owner>--<name>/refs/main`` and ``snapshots/<commit>/``): what loading a hub id offline
finds, without the network."""
from __future__ import annotations

import shutil
from pathlib import Path

COMMIT = "0" * 40  # the snapshot's (made-up) commit hash


def cache_as_hub_model(cache_dir: Path, repo_id: str, folder: Path) -> Path:
    """Copy ``folder`` into ``cache_dir`` as the main snapshot of the model ``repo_id``; returns the snapshot."""
    repo = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT, encoding="utf-8")
    return snapshot
