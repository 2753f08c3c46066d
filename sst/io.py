"""Small file helpers every layer uses: atomic file and directory replacement, and ``key value`` files.

Atomic file writes go through one temporary name beside the target, ``<name>.<pid>.tmp``: the content is
written there, flushed to disk (fsync) and renamed over the target, so a reader sees the old file or the
new one, never half of one, and a crash leaves at most a ``.tmp`` file (which the data-dir checks skip).

A directory (a model package) is replaced by two renames: the old one aside to ``<name>.old``, the new
one in, then the old one deleted. Between the two renames only the aside copy exists; :func:`existing_dir`
finds it there, and the next :func:`replace_dir` (or :func:`recover_dir`) puts it back or deletes it.

``key value`` files (Kaldi style, data / dump / decode dirs) are UTF-8, one ``key<space>value`` per line,
sorted by key in byte order (``LC_ALL=C sort``) without duplicates; the reader checks all of that and
names the file and line of the first fault. It reads a file as its text says: a UTF-8 BOM an editor put
first is not part of the first key, and a CRLF line end not part of a value (trailing whitespace never is).

A config (YAML) is read by :func:`read_yaml`, whose ConfigError names the file (and line) of bad YAML.
"""
from __future__ import annotations

import codecs
import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from sst.errors import ConfigError, UserError, one_line

ASIDE_SUFFIX = ".old"
TEMP_SUFFIX = ".tmp"


class DataDirError(UserError):
    """A data, dump or decode dir file is missing or malformed; the message names the file and line at fault."""


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary name this process writes ``path`` under before renaming it in."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def _fsync(path: Path) -> None:
    """Flush a file, or a directory entry list, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def naming_os_errors(path: str | os.PathLike) -> Iterator[None]:
    """Within the block, an OSError that names no file (a write or fsync on a full disk: ``[Errno 28] No
    space left on device``) is raised again naming ``path``, so that its console line says which file."""
    try:
        yield
    except OSError as error:
        if error.errno is None or error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to (by any writer: torch.save, soundfile,
    kaldiio...); when the block ends without an error it is synced to disk and renamed over ``path``,
    otherwise deleted. (The rename itself is not synced: after a power cut ``path`` may be the old file,
    never a torn one.)"""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with naming_os_errors(path):
            yield tmp
            _fsync(tmp)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO]:
    """``open(path, mode)`` for writing whose content replaces ``path`` only once the block completes."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else encoding,
                                         newline=newline) as f:
        yield f


def write_text(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    with atomic_open(path) as f:
        f.write(text)


def aside_path(target: Path) -> Path:
    """Where :func:`replace_dir` keeps the old ``target`` between its two renames."""
    return target.with_name(target.name + ASIDE_SUFFIX)


def existing_dir(target: Path) -> Path:
    """``target``, or its aside copy when a replacement was killed between its two renames (read-only
    callers: nothing is moved)."""
    aside = aside_path(target)
    return aside if not target.is_dir() and aside.is_dir() else target


def recover_dir(target: Path) -> None:
    """Finish a replacement of ``target`` that was killed midway: the aside copy goes back when ``target``
    is missing, and is deleted when the new ``target`` is in place; ``.tmp`` siblings of processes that
    are gone are deleted."""
    aside = aside_path(target)
    if aside.is_dir():
        if target.is_dir():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):  # another process put it back first
                os.rename(aside, target)
    for leftover in target.parent.glob(f"{target.name}.*{TEMP_SUFFIX}"):
        pid = leftover.name[len(target.name) + 1:-len(TEMP_SUFFIX)]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def replace_dir(new: Path, target: Path) -> None:
    """Move the complete directory ``new`` to ``target``, replacing the old one so that a kill at any
    moment leaves the old or the new one complete (see :func:`existing_dir` for the moment in between)."""
    recover_dir(target)
    for root, _, files in os.walk(new):
        for name in files:
            _fsync(Path(root) / name)
    _fsync(new)
    aside = aside_path(target)
    if target.exists():
        os.rename(target, aside)
    os.rename(new, target)
    _fsync(target.parent)
    shutil.rmtree(aside, ignore_errors=True)


def write_kv(path: str | os.PathLike, mapping: Mapping[str, object]) -> None:
    """Write ``key value`` lines sorted by key (byte order), atomically."""
    path = Path(path)
    with atomic_open(path, newline="\n") as f:
        for key in sorted(mapping):
            value = str(mapping[key])
            if not key or any(c.isspace() for c in key):
                raise DataDirError(f"{path}: key {key!r} is empty or contains whitespace")
            if "\n" in value or "\r" in value:
                raise DataDirError(f"{path}: value of {key} contains a line break")
            f.write(f"{key} {value}\n")


def read_yaml(path: str | os.PathLike) -> Any:
    """A YAML file's content (a config); ConfigError naming the file (and line) when it is not UTF-8 YAML."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:  # a stream, so that a YAML error names the file
            return yaml.safe_load(f)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not valid UTF-8 ({error.reason})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {one_line(error)}") from error


def read_kv(path: str | os.PathLike) -> dict[str, str]:
    """Read a sorted ``key value`` file; DataDirError naming file and line if it is malformed."""
    return {key: value for key, value, _ in iter_kv(path)}


def iter_kv(path: str | os.PathLike) -> Iterable[tuple[str, str, int]]:
    """Yield (key, value, line number); checks UTF-8, empty lines, duplicate and unsorted keys."""
    path = Path(path)
    previous: bytes | None = None
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                line = raw.decode("utf-8").rstrip()
            except UnicodeDecodeError as e:
                raise DataDirError(f"{path}:{lineno}: not valid UTF-8 ({e.reason})") from None
            parts = line.split(maxsplit=1)
            if not parts:
                raise DataDirError(f"{path}:{lineno}: empty line")
            key = parts[0]
            value = parts[1] if len(parts) == 2 else ""
            encoded = key.encode("utf-8")
            if previous is not None and encoded == previous:
                raise DataDirError(f"{path}:{lineno}: duplicate key {key}")
            if previous is not None and encoded < previous:
                raise DataDirError(f"{path}:{lineno}: keys not sorted ({key} after "
                                   f"{previous.decode('utf-8')}); sort with LC_ALL=C")
            previous = encoded
            yield key, value, lineno
