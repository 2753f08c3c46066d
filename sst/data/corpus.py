"""Stage 1 for every corpus: the one utterance schema the corpus readers produce, and the writer of a set.

As in Lhotse, one typed record serves all corpora: an utterance is a whole recording (CoVoST-2: one clip
each) or a time segment of one (Europarl-ST: one m4a per speech). A corpus entry point
(``sst.bin.prepare_*``) describes what a set is made from, asks ``is_prepared`` whether it is already
written from that, and otherwise reads the corpus and hands the utterances to ``write_prepared_set``.
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sst.data.datadir import Segment, SkipReport, validate_data_dir, write_data_dir
from sst.data.provenance import Provenance
from sst.errors import UserError

# The provenance step of stage 1: ``<set_dir>/.provenance/prepare.json``.
PREPARE_STEP = "prepare"


class CorpusError(UserError):
    """A file of a corpus release (CoVoST-2, Common Voice, Europarl-ST) is missing or malformed; the
    message names the file and line, and what to do."""


@dataclass(frozen=True)
class Utterance:
    """One kept utterance of any corpus: a whole recording, or its ``start``..``end`` seconds."""

    utt_id: str
    recording_id: str
    audio: Path
    transcript: str
    translation: str
    speaker: str
    src_lang: str
    tgt_lang: str
    start: float | None = None
    end: float | None = None

    @property
    def segment(self) -> Segment:
        """The ``segments`` line of an utterance cut from its recording."""
        if self.start is None or self.end is None:
            raise ValueError(f"utterance {self.utt_id} is a whole recording, not a segment")
        return Segment(self.recording_id, self.start, self.end)


def add_set_options(parser: argparse.ArgumentParser, src_help: str, splits_help: str) -> None:
    """The options of every stage-1 entry point beside its corpus folders: the direction, where the
    sets go and which splits to prepare."""
    parser.add_argument("--src_lang", required=True, help=src_help)
    parser.add_argument("--tgt_lang", required=True, help="e.g. en")
    parser.add_argument("--output_dir", type=Path, required=True,
                        help="data dirs go in <output_dir>/<split>_<src>_<tgt>")
    parser.add_argument("--splits", nargs="+", default=["train", "dev", "test"], help=splits_help)


def is_prepared(set_dir: Path, made_from: dict) -> bool:
    """Whether stage 1 already wrote ``set_dir`` from ``made_from`` (logged either way); when not, its
    record is cleared so that a run killed while rewriting the set is not taken as done."""
    record = Provenance(set_dir, PREPARE_STEP)
    if record.is_current(made_from, set_dir) and (set_dir / "wav.scp").is_file():
        return True
    record.clear()
    return False


def write_prepared_set(set_dir: Path, utts: Sequence[Utterance], report: SkipReport, made_from: dict, *,
                       src_lang: str, tgt_lang: str, segmented: bool) -> None:
    """Write one set of stage 1: the data dir (with ``segments`` when the corpus cuts its recordings),
    ``skip_report.txt``; validate it, then record ``made_from``.

    ``src_lang``, ``tgt_lang`` and ``segmented`` describe the set, so that a set with no utterance left
    still gets its (empty) text and segments files.
    """
    texts: dict[str, dict[str, str]] = {src_lang: {}, tgt_lang: {}}
    for utt in utts:
        texts.setdefault(utt.src_lang, {})[utt.utt_id] = utt.transcript
        texts.setdefault(utt.tgt_lang, {})[utt.utt_id] = utt.translation
    write_data_dir(
        set_dir,
        wav_scp={utt.recording_id: str(utt.audio) for utt in utts},
        texts=texts,
        utt2spk={utt.utt_id: utt.speaker for utt in utts},
        utt2lang={utt.utt_id: utt.src_lang for utt in utts},
        utt2tgt_lang={utt.utt_id: utt.tgt_lang for utt in utts},
        segments={utt.utt_id: utt.segment for utt in utts} if segmented else None,
    )
    report.write(set_dir / "skip_report.txt")
    report.log()
    validate_data_dir(set_dir)
    Provenance(set_dir, PREPARE_STEP).save(made_from)
    logging.info("wrote %s (%d utterances)", set_dir, len(utts))
