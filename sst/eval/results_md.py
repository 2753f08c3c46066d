"""Markdown pieces shared by the RESULTS.md writers: environment header, tables, replaceable sections."""
from __future__ import annotations

import datetime
import platform
import re
from collections.abc import Sequence
from pathlib import Path

import sacrebleu
from tabulate import tabulate


def environment_lines(command: str) -> list[str]:
    """ESPnet-style environment bullet list: date, Python and sacreBLEU versions, the command line."""
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    return [f"- date: `{date}`",
            f"- python version: `{platform.python_version()}`",
            f"- sacrebleu version: `{sacrebleu.__version__}`",
            f"- command: `{command}`"]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]],
                   align: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` holds "left"/"right"/"center" per column."""
    return tabulate(rows, headers=list(header), tablefmt="github", colalign=align, disable_numparse=True)


def upsert_section(path: Path, heading: str, body: str, title: str = "# RESULTS") -> None:
    """Write ``heading`` + ``body`` into the Markdown file ``path``, replacing a section with that heading.

    The replaced section runs up to the next heading of the same or a higher level. A missing file is
    created with ``title`` as its first line, so re-running a stage rewrites its section instead of
    appending a second copy.
    """
    path = Path(path)
    level = len(heading) - len(heading.lstrip("#"))
    if level == 0:
        raise ValueError(f"section heading must start with '#': {heading!r}")
    section = f"{heading}\n\n{body.strip()}\n"
    text = path.read_text(encoding="utf-8") if path.is_file() else f"{title}\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end_pattern = re.compile(rf"^#{{1,{level}}}\s")
        end = next((i for i in range(start + 1, len(lines)) if end_pattern.match(lines[i])), len(lines))
        before = "\n".join(lines[:start]).rstrip("\n")
        after = "\n".join(lines[end:])
        new = (before + "\n\n" if before else "") + section + ("\n" + after + "\n" if after else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
