"""CoVoST-2 (on Common Voice v4 or any later release) to Kaldi-style data dirs.

Inputs: ``<covost_dir>/covost_v2.<src>_<tgt>.tsv`` (columns path, sentence, translation, client_id,
split; CoVoST spelling of language codes, e.g. ``zh-CN``) and a Common Voice release's
``<commonvoice_dir>/<src>/validated.tsv`` with the clips in ``<commonvoice_dir>/<src>/clips/``.
CoVoST-2 was built on Common Voice 4; later releases keep its clips under the same names, add columns
to validated.tsv (``sentence_id``, ``variant``, ``locale``, ...; only ``path`` is read) and may lack a
few clips (removed at their speakers' request): those rows are skipped and counted.
Both TSVs are written by pandas with ``quoting=QUOTE_NONE, escapechar="\\"`` and are read the same way.
"""
from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sst.data import langs
from sst.data.corpus import Utterance
from sst.data.datadir import SkipReport, clean_text

COVOST_COLUMNS = ("path", "sentence", "translation", "client_id", "split")
# Which values of the TSV's ``split`` column make up each set (``train_covost`` is CoVoST's extra train).
SPLIT_VALUES = {"train": ("train", "train_covost")}

# Skip reasons, in the order they are checked.
EMPTY_TRANSCRIPT = "empty transcript"
EMPTY_TRANSLATION = "empty translation"
NOT_VALIDATED = "not in validated.tsv"
NOT_IN_RELEASE = "clip not in this Common Voice release"
DUPLICATE = "duplicate utterance id"
CLIP_MISSING = "clip missing"
CLIP_ZERO_BYTE = "zero-byte clip"

# How pandas writes the CoVoST and Common Voice TSVs.
TSV_FORMAT = dict(delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
COMMONVOICE_LAYOUT = ("--commonvoice_dir must hold a Common Voice release (4 or later), one folder per language "
                      "with validated.tsv and clips/")
csv.field_size_limit(1 << 24)


def direction(src_lang: str, tgt_lang: str) -> tuple[str, str]:
    """CoVoST spellings of a direction ("zh", "en" -> "zh-CN", "en"); ValueError if CoVoST-2 lacks it."""
    src, tgt = langs.covost2_code(src_lang), langs.covost2_code(tgt_lang)
    if not ((src in langs.COVOST2_X_TO_EN and tgt == "en") or (src == "en" and tgt in langs.COVOST2_EN_TO_X)):
        raise ValueError(f"CoVoST-2 has no direction {src_lang}->{tgt_lang}; it has X->en for X in "
                         f"{' '.join(langs.COVOST2_X_TO_EN)} and en->X for X in "
                         f"{' '.join(langs.COVOST2_EN_TO_X)}")
    return src, tgt


def _utf8_lines(path: Path, lines: Iterable[str]) -> Iterator[str]:
    """The lines of a file opened with ``errors="surrogateescape"``; ValueError naming the file and line
    of bytes that are not UTF-8 (those became lone surrogates)."""
    for lineno, line in enumerate(lines, 1):
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{path}:{lineno}: not valid UTF-8") from None
        yield line


@contextmanager
def _tsv_reader(path: Path) -> Iterator[Iterator[list[str]]]:
    """A csv reader over the rows of a TSV in pandas' format (:data:`TSV_FORMAT`), LF or CRLF line ends,
    with or without the UTF-8 BOM a spreadsheet program writes first (dropped, not part of the header)."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        yield csv.reader(_utf8_lines(path, f), **TSV_FORMAT)


def read_tsv(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a pandas-written TSV (QUOTE_NONE, backslash escapes) as (line number, row dict).

    ValueError naming the file and line if the header lacks a required column, a row has the
    wrong number of fields or bytes that are not UTF-8.
    """
    with _tsv_reader(path) as reader:
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file, expected a header line") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"{path}:1: header lacks column(s) {', '.join(missing)} (has {', '.join(header)})")
        for row in reader:
            if len(row) != len(header):
                raise ValueError(f"{path}:{reader.line_num}: {len(row)} fields, the header has "
                                 f"{len(header)}")
            yield reader.line_num, dict(zip(header, row))


def tsv_path(covost_dir: Path, src_lang: str, tgt_lang: str) -> Path:
    """The CoVoST-2 TSV of a direction; FileNotFoundError with the way to get it if it is absent."""
    src, tgt = direction(src_lang, tgt_lang)
    path = Path(covost_dir) / f"covost_v2.{src}_{tgt}.tsv"
    if not path.is_file():
        hint = (f"extract it: tar xzf {path}.tar.gz -C {covost_dir}" if path.with_name(path.name + ".tar.gz").is_file()
                else f"download https://dl.fbaipublicfiles.com/covost/covost_v2.{src}_{tgt}.tsv.tar.gz "
                     f"and extract it into {covost_dir}")
        raise FileNotFoundError(f"{path}: missing; {hint}")
    return path


def validated_path(commonvoice_dir: Path, src_lang: str) -> Path:
    """Common Voice's ``<lang>/validated.tsv``; FileNotFoundError if absent."""
    path = Path(commonvoice_dir) / langs.covost2_code(src_lang) / "validated.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; {COMMONVOICE_LAYOUT}")
    return path


def clip_name(path_field: str) -> str:
    """A clip's file name from a ``path`` column (some Common Voice releases omit the ``.mp3``)."""
    return path_field if path_field.endswith(".mp3") else f"{path_field}.mp3"


def read_columns(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number, the values of ``columns``) of each row of a Common Voice TSV (validated.tsv,
    clip_durations.tsv), of any release from 4 on.

    Columns are found by name in the header and read by position, so the columns later releases add,
    and free text in them that another writer escaped differently, do not matter; ValueError naming the
    file and line if the header lacks a column or a row is too short to hold one or leaves it empty.
    """
    with _tsv_reader(path) as reader:
        header = next(reader, None)
        missing = [c for c in columns if c not in (header or [])]
        if missing:
            raise ValueError(f"{path}:1: header lacks column(s) {', '.join(missing)} (has {', '.join(header or [])})")
        indices = [header.index(c) for c in columns]
        for row in reader:
            for column, index in zip(columns, indices):
                if len(row) <= index or (column == columns[0] and not row[index]):
                    raise ValueError(f"{path}:{reader.line_num}: no {column} in column {index + 1}")
            yield reader.line_num, [row[index] for index in indices]


def read_validated(path: Path) -> set[str]:
    """The clip file names (``path`` column) of Common Voice's validated.tsv, of any release from 4 on
    (read as :func:`read_columns` reads)."""
    return {clip_name(clip) for _, (clip,) in read_columns(path, ("path",))}


def load_covost2(covost_dir: Path, commonvoice_dir: Path, src_lang: str, tgt_lang: str,
                 splits: Sequence[str]) -> dict[str, tuple[list[Utterance], SkipReport]]:
    """Read one direction; returns, per split, the kept utterances and a report of the skipped rows.

    A row is skipped (and counted) when its transcript or translation is empty, its clip is not in
    validated.tsv (or not in the Common Voice release at all), its utterance id repeats, or its clip is
    missing or zero bytes.
    """
    src, tgt = direction(src_lang, tgt_lang)
    short_src, short_tgt = langs.normalize(src), langs.normalize(tgt)
    tsv = tsv_path(covost_dir, src, tgt)
    validated = read_validated(validated_path(commonvoice_dir, src))
    clips_dir = Path(commonvoice_dir).resolve() / src / "clips"
    if not clips_dir.is_dir():
        raise FileNotFoundError(f"{clips_dir}: missing; {COMMONVOICE_LAYOUT}")
    split_of = {value: split for split in splits for value in SPLIT_VALUES.get(split, (split,))}
    results = {split: ([], SkipReport(f"{split}_{short_src}_{short_tgt} (stage 1, CoVoST-2)"))
               for split in splits}
    seen: set[str] = set()
    for _, row in read_tsv(tsv, COVOST_COLUMNS):
        split = split_of.get(row["split"])
        if split is None:
            continue
        utts, report = results[split]
        name = clip_name(row["path"])
        utt_id = f"{short_src}-{short_tgt}-{name[:-len('.mp3')]}"
        transcript, translation = clean_text(row["sentence"]), clean_text(row["translation"])
        clip = clips_dir / name
        if not transcript:
            report.skip(EMPTY_TRANSCRIPT, utt_id)
        elif not translation:
            report.skip(EMPTY_TRANSLATION, utt_id)
        elif name not in validated:
            report.skip(NOT_VALIDATED if clip.is_file() else NOT_IN_RELEASE, utt_id)
        elif utt_id in seen:
            report.skip(DUPLICATE, utt_id)
        elif not clip.is_file():
            report.skip(CLIP_MISSING, utt_id)
        elif clip.stat().st_size == 0:
            report.skip(CLIP_ZERO_BYTE, utt_id)
        else:
            seen.add(utt_id)
            utts.append(Utterance(utt_id, recording_id=utt_id, audio=clip, transcript=transcript,
                                  translation=translation, speaker=row["client_id"] or utt_id,
                                  src_lang=short_src, tgt_lang=short_tgt))
            report.keep()
    for split, (utts, _) in results.items():
        if not utts:
            logging.warning("%s: no usable rows for split %s", tsv, split)
    return results
