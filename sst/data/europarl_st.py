"""Europarl-ST v1.1 to Kaldi-style data dirs (with ``segments``: one m4a per speech, cut by time).

Layout: ``<root>/v1.1/<src>/audios/<speech_id>.m4a`` and ``<root>/v1.1/<src>/<tgt>/<split>/`` with
``segments.lst`` (``speech_id start end``, seconds), ``segments.<src>`` and ``segments.<tgt>`` (one text
per line, line-aligned with ``segments.lst``).
"""
from __future__ import annotations

import codecs
import logging
import math
from pathlib import Path

from sst.data import langs
from sst.data.corpus import CorpusError, Utterance
from sst.data.datadir import SkipReport, clean_text
from sst.errors import ConfigError

EMPTY_TRANSCRIPT = "empty transcript"
EMPTY_TRANSLATION = "empty translation"
BAD_TIMES = "bad times (end <= start, start < 0, nan or inf)"
DUPLICATE = "duplicate utterance id"
AUDIO_MISSING = "audio missing"
AUDIO_ZERO_BYTE = "zero-byte audio"


def check_langs(src_lang: str, tgt_lang: str) -> tuple[str, str]:
    """Normalized codes of a Europarl-ST direction; ConfigError naming an unknown code."""
    src, tgt = langs.normalize(src_lang), langs.normalize(tgt_lang)
    for code, given in ((src, src_lang), (tgt, tgt_lang)):
        if code not in langs.EUROPARL_ST_LANGS:
            raise ConfigError(f"unknown Europarl-ST language code {given!r}; known: "
                              f"{' '.join(langs.EUROPARL_ST_LANGS)}")
    if src == tgt:
        raise ConfigError(f"source and target language are both {src}")
    return src, tgt


def release_dir(europarl_dir: Path) -> Path:
    """The ``v1.1`` folder: ``<europarl_dir>/v1.1`` or ``europarl_dir`` itself."""
    europarl_dir = Path(europarl_dir)
    if (europarl_dir / "v1.1").is_dir():
        return europarl_dir / "v1.1"
    return europarl_dir


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file (without LF or CRLF line ends, nor a BOM at its start); CorpusError
    if absent, CorpusError naming the line of bytes that are not UTF-8."""
    if not path.is_file():
        raise CorpusError(f"{path}: missing")
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    if not data:
        return []
    lines = []
    for lineno, raw in enumerate(data.removesuffix(b"\n").split(b"\n"), 1):
        try:
            lines.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as error:
            raise CorpusError(f"{path}:{lineno}: not valid UTF-8 ({error.reason})") from None
    return lines


def utt_id(src: str, tgt: str, speech_id: str, start: float, end: float) -> str:
    """The utterance id of a segment: ``{src}-{tgt}-{speech_id}_{start cs:07d}_{end cs:07d}``."""
    return f"{src}-{tgt}-{speech_id}_{round(start * 100):07d}_{round(end * 100):07d}"


def load_split(europarl_dir: Path, src_lang: str, tgt_lang: str,
               split: str) -> tuple[list[Utterance], SkipReport]:
    """Read one split of one direction: the kept segments and a report of the skipped ones.

    CorpusError naming the files and their line counts when the three files are not aligned, or the
    file and line of a malformed ``segments.lst`` line.
    """
    src, tgt = check_langs(src_lang, tgt_lang)
    root = release_dir(europarl_dir)
    split_dir = root / src / tgt / split
    if not split_dir.is_dir():
        raise CorpusError(f"{split_dir}: missing; --europarl_dir must hold the Europarl-ST "
                          f"v1.1 release (v1.1/<src>/<tgt>/<split>/segments.lst)")
    lst, src_file, tgt_file = split_dir / "segments.lst", split_dir / f"segments.{src}", split_dir / f"segments.{tgt}"
    lines = {p: read_lines(p) for p in (lst, src_file, tgt_file)}
    if len({len(v) for v in lines.values()}) != 1:
        counts = ", ".join(f"{p}: {len(v)} lines" for p, v in lines.items())
        raise CorpusError(f"Europarl-ST files are not line-aligned ({counts})")
    audios = (root / src / "audios").resolve()
    report = SkipReport(f"{split}_{src}_{tgt} (stage 1, Europarl-ST)")
    utts: list[Utterance] = []
    seen: set[str] = set()
    for lineno, (seg, src_text, tgt_text) in enumerate(zip(*lines.values()), 1):
        fields = seg.split()
        if len(fields) != 3:
            raise CorpusError(f"{lst}:{lineno}: expected 'speech_id start end', got {seg!r}")
        try:
            speech_id, start, end = fields[0], float(fields[1]), float(fields[2])
        except ValueError:
            raise CorpusError(f"{lst}:{lineno}: start/end are not numbers: {seg!r}") from None
        finite = math.isfinite(start) and math.isfinite(end)
        uid = utt_id(src, tgt, speech_id, start, end) if finite else f"{lst}:{lineno}"
        transcript, translation = clean_text(src_text), clean_text(tgt_text)
        audio = audios / f"{speech_id}.m4a"
        if not transcript:
            report.skip(EMPTY_TRANSCRIPT, uid)
        elif not translation:
            report.skip(EMPTY_TRANSLATION, uid)
        elif not finite or end <= start or start < 0:
            report.skip(BAD_TIMES, uid)
        elif uid in seen:
            report.skip(DUPLICATE, uid)
        elif not audio.is_file():
            report.skip(AUDIO_MISSING, uid)
        elif audio.stat().st_size == 0:
            report.skip(AUDIO_ZERO_BYTE, uid)
        else:
            seen.add(uid)
            recording_id = f"{src}-{speech_id}"
            utts.append(Utterance(uid, recording_id, audio, transcript, translation, speaker=recording_id,
                                  src_lang=src, tgt_lang=tgt, start=start, end=end))
            report.keep()
    if not utts:
        logging.warning("%s: no usable segments", split_dir)
    return utts, report
