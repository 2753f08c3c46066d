"""Kaldi-style data and dump directories: sorted ``key value`` files, their checks, and skip reports.

A data dir (stage 1) holds ``wav.scp``, optional ``segments``, ``text.<lang>``, ``utt2spk``, ``utt2lang``
and ``utt2tgt_lang``; a dump dir (stage 2) holds ``wav.scp``, ``utt2num_samples``, ``speech_shape``,
``transcript``, ``translation``, ``utt2lang``, ``utt2tgt_lang`` and ``utt2spk``. Every file is UTF-8,
one ``key<space>value`` per line, sorted by key in byte order (``LC_ALL=C sort``) without duplicates.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sst.io import DataDirError, iter_kv, write_kv

# Per-utterance files of a data dir whose value is a single token.
SINGLE_TOKEN_FILES = ("utt2spk", "utt2lang", "utt2tgt_lang")
# Per-utterance files of a dump dir, in the order they are checked.
DUMP_FILES = ("wav.scp", "utt2num_samples", "speech_shape", "transcript", "translation",
              "utt2lang", "utt2tgt_lang", "utt2spk")
# Files in a dump dir that are not keyed by utterance.
NOT_PER_UTT_SUFFIXES = (".txt", ".ark", ".yaml", ".json", ".log")

# Characters that would end a line for some reader (Python's universal newlines, str.splitlines)
# or that stand for whitespace in corpus texts; they become one space.
_LINE_BREAKING = re.compile(r"[ \t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")


def clean_text(text: str) -> str:
    """A text as it may go in a Kaldi file: tabs, line breaks and runs of spaces become one space."""
    return _LINE_BREAKING.sub(" ", text).strip()


@dataclass
class Segment:
    """One line of a ``segments`` file."""

    recording: str
    start: float
    end: float


def read_segments(path: Path) -> dict[str, Segment]:
    """Read ``utt recording start end`` lines (seconds), checking columns and ``end > start >= 0``."""
    segments = {}
    for utt, value, lineno in iter_kv(path):
        fields = value.split()
        if len(fields) != 3:
            raise DataDirError(f"{path}:{lineno}: expected 4 columns (utt recording start end), "
                               f"got {len(fields) + 1}")
        try:
            start, end = float(fields[1]), float(fields[2])
        except ValueError:
            raise DataDirError(f"{path}:{lineno}: start/end are not numbers: {value!r}") from None
        if not (math.isfinite(start) and math.isfinite(end)):
            raise DataDirError(f"{path}:{lineno}: segment {utt} has a time that is not a finite number "
                               f"({fields[1]} {fields[2]})")
        if start < 0 or end <= start:
            raise DataDirError(f"{path}:{lineno}: segment {utt} has end <= start or start < 0 "
                               f"({start} {end})")
        segments[utt] = Segment(fields[0], start, end)
    return segments


def format_seconds(seconds: float) -> str:
    """A time for a segments file: up to millisecond precision, no trailing zeros ("7.41", "0")."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


@dataclass
class DataDir:
    """The content of a validated stage-1 data dir."""

    path: Path
    wav_scp: dict[str, str]
    segments: dict[str, Segment] | None
    texts: dict[str, dict[str, str]]  # language -> utt -> text
    utt2spk: dict[str, str]
    utt2lang: dict[str, str]
    utt2tgt_lang: dict[str, str]

    @property
    def utts(self) -> list[str]:
        """Utterance ids, sorted."""
        return sorted(self.utt2lang)

    def transcript(self, utt: str) -> str:
        """The source-language text of an utterance."""
        return self.texts[self.utt2lang[utt]][utt]

    def translation(self, utt: str) -> str:
        """The target-language text of an utterance."""
        return self.texts[self.utt2tgt_lang[utt]][utt]


def write_data_dir(path: Path, wav_scp: Mapping[str, str], texts: Mapping[str, Mapping[str, str]],
                   utt2spk: Mapping[str, str], utt2lang: Mapping[str, str],
                   utt2tgt_lang: Mapping[str, str],
                   segments: Mapping[str, Segment] | None = None) -> None:
    """Write a data dir (every file sorted) and remove files a previous run left that no longer apply."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for stale in [*path.glob("text.*"), path / "segments"]:
        if stale.is_file():
            stale.unlink()
    write_kv(path / "wav.scp", wav_scp)
    if segments is not None:
        write_kv(path / "segments", {utt: f"{s.recording} {format_seconds(s.start)} "
                                          f"{format_seconds(s.end)}" for utt, s in segments.items()})
    for lang, text in texts.items():
        write_kv(path / f"text.{lang}", text)
    write_kv(path / "utt2spk", utt2spk)
    write_kv(path / "utt2lang", utt2lang)
    write_kv(path / "utt2tgt_lang", utt2tgt_lang)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataDirError(f"{path}: missing")
    return path


def _check_same_keys(reference: Path, ref_keys: Mapping[str, int], other: Path,
                     other_keys: Mapping[str, int]) -> None:
    """DataDirError naming the first key that one of the two files has and the other lacks."""
    for key, lineno in other_keys.items():
        if key not in ref_keys:
            raise DataDirError(f"{other}:{lineno}: key {key} is not in {reference}")
    for key, lineno in ref_keys.items():
        if key not in other_keys:
            raise DataDirError(f"{other}: key {key} ({reference}:{lineno}) is missing")


def _read_with_lines(path: Path, single_token: bool = False,
                     what: str = "value") -> tuple[dict[str, str], dict[str, int]]:
    """Values and line numbers of a file; each value must be non-empty (and one token if asked)."""
    values, lines = {}, {}
    for key, value, lineno in iter_kv(path):
        if not value:
            raise DataDirError(f"{path}:{lineno}: empty {what} for {key}")
        if single_token and len(value.split()) != 1:
            raise DataDirError(f"{path}:{lineno}: expected 2 columns (key value), got "
                               f"{len(value.split()) + 1}")
        values[key], lines[key] = value, lineno
    return values, lines


def validate_data_dir(path: Path) -> DataDir:
    """Check a stage-1 data dir and return its content; DataDirError naming file and line if bad."""
    path = Path(path)
    if not path.is_dir():
        raise DataDirError(f"{path}: not a directory")
    wav_scp, wav_lines = _read_with_lines(_require(path / "wav.scp"))
    segments = None
    if (path / "segments").is_file():
        segments = read_segments(path / "segments")
        seg_lines = {utt: n for utt, _, n in iter_kv(path / "segments")}
        for utt, seg in segments.items():
            if seg.recording not in wav_scp:
                raise DataDirError(f"{path / 'segments'}:{seg_lines[utt]}: recording "
                                   f"{seg.recording} is not in {path / 'wav.scp'}")
        utt_file, utt_lines = path / "segments", seg_lines
    else:
        utt_file, utt_lines = path / "wav.scp", wav_lines
    singles = {}
    for name in SINGLE_TOKEN_FILES:
        values, lines = _read_with_lines(_require(path / name), single_token=True)
        _check_same_keys(utt_file, utt_lines, path / name, lines)
        singles[name] = values
    text_files = sorted(path.glob("text.*"))
    texts = {}
    for text_file in text_files:
        if text_file.name.endswith(".tmp"):
            continue
        values, lines = _read_with_lines(text_file, what="text")
        _check_same_keys(utt_file, utt_lines, text_file, lines)
        texts[text_file.name[len("text."):]] = values
    for name in ("utt2lang", "utt2tgt_lang"):
        for utt, lang in singles[name].items():
            if lang not in texts:
                raise DataDirError(f"{path / name}: utterance {utt} has language {lang} but "
                                   f"{path / ('text.' + lang)} does not exist")
    return DataDir(path, wav_scp, segments, texts, singles["utt2spk"], singles["utt2lang"],
                   singles["utt2tgt_lang"])


def validate_dump_dir(path: Path, names: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """Check a stage-2 dump dir (per-utterance files sorted, with the same keys); returns them.

    ``names``: the files to check (default: every per-utterance file there, see per_utterance_files).
    """
    path = Path(path)
    ref_file = _require(path / "wav.scp")
    _, ref_lines = _read_with_lines(ref_file)
    files, all_lines = {}, {}
    for name in (per_utterance_files(path) if names is None else names):
        values, lines = _read_with_lines(path / name)
        _check_same_keys(ref_file, ref_lines, path / name, lines)
        files[name], all_lines[name] = values, lines
    for name in DUMP_FILES:
        if name not in files:
            raise DataDirError(f"{path / name}: missing")
    for name in ("utt2num_samples", "speech_shape"):
        for utt, value in files[name].items():
            if not value.isdigit() or int(value) == 0:
                raise DataDirError(f"{path / name}:{all_lines[name][utt]}: not a positive "
                                   f"sample count: {value!r}")
    return files


def per_utterance_files(path: Path) -> list[str]:
    """Names of the ``key value`` files of a dump dir (reports, arks and hidden files excluded)."""
    return sorted(p.name for p in Path(path).iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(NOT_PER_UTT_SUFFIXES) and not p.name.endswith(".tmp"))


def is_dump_dir(path: Path) -> bool:
    """Whether a directory looks like a stage-2 dump dir rather than a stage-1 data dir."""
    return (Path(path) / "utt2num_samples").is_file()


@dataclass
class SkipReport:
    """Counts of kept and skipped items, skipped ones by reason with a few example ids."""

    name: str
    max_examples: int = 3
    kept: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def keep(self, n: int = 1) -> None:
        """Count n kept items."""
        self.kept += n

    def skip(self, reason: str, item_id: str) -> None:
        """Count one skipped item; the first few ids per reason are kept as examples."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < self.max_examples:
            examples.append(item_id)

    @property
    def skipped(self) -> int:
        """Total number of skipped items."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line: kept and skipped counts with the reasons."""
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.counts.items()))
        return f"{self.name}: kept {self.kept}, skipped {self.skipped}" + (f" ({reasons})" if reasons else "")

    def write(self, path: Path) -> None:
        """Write the report (``kept: N``, ``skipped: N``, then ``  <reason>: N (e.g. ids)`` lines)."""
        lines = [f"# {self.name}", f"kept: {self.kept}", f"skipped: {self.skipped}"]
        for reason, n in sorted(self.counts.items()):
            lines.append(f"  {reason}: {n} (e.g. {' '.join(self.examples[reason])})")
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def log(self) -> None:
        """Log the summary line (WARNING when something was skipped)."""
        logging.log(logging.WARNING if self.skipped else logging.INFO, "%s", self.summary())


def read_report(path: Path) -> dict[str, int]:
    """Counts from a report SkipReport.write wrote: {"kept": N, "skipped": N, reason: N, ...}."""
    counts = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split(" (e.g. ")[0].strip()
        if line and not line.startswith("#"):
            name, n = line.rsplit(": ", 1)
            counts[name] = int(n)
    return counts


def empty_set_error(set_dir: Path, report: Path) -> DataDirError:
    """The error of a set left with no utterances, naming it and giving the skip counts of its report."""
    counts = read_report(report) if Path(report).is_file() else {}
    reasons = ", ".join(f"{reason}: {n}" for reason, n in counts.items() if reason not in ("kept", "skipped"))
    detail = (f"skipped {counts.get('skipped', 0)}" + (f" ({reasons})" if reasons else "") + f", see {report}"
              if counts else f"no {Path(report).name}")
    return DataDirError(f"{set_dir}: no utterances left ({detail})")
