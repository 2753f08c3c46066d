"""Copies of a recipe folder for tests that run it, so a run writes no file of the repository."""
from __future__ import annotations

import shutil
from pathlib import Path

from sst.testing.corpora import REPO

# What runs leave in a recipe folder (gitignored): never copied, since local/run_seeds.sh's seeds/ alone
# holds whole demo runs beside links to tools/.
RUN_OUTPUTS = ("data", "dump", "exp", "models", "downloads", "seeds")


def recipe_copy(root: Path, name: str) -> Path:
    """egs/<name> copied into root/egs/<name> without its run outputs (its links to ../covost2 copied as
    files), beside a link root/tools to the repository's tools/."""
    dest = root / "egs" / name
    shutil.copytree(REPO / "egs" / name, dest, ignore=shutil.ignore_patterns(*RUN_OUTPUTS))
    if not (root / "tools").exists():
        (root / "tools").symlink_to(REPO / "tools")
    return dest
