"""Common Voice transcribed speech as SAMU distillation data (the paper's choice), without CoVoST-2's test set.

SAMU learns from speech and its transcript only, so any clip of a Common Voice release's
``<lang>/validated.tsv`` (columns ``client_id``, ``path``, ``sentence``, ...) can serve, in any language
Common Voice has. CoVoST-2 draws its dev and test rows from the same release, and Common Voice has many
speakers read the same sentence, so a clip is left out when

- it is the clip of a CoVoST-2 row of any direction from its language whose split is not train
  (dev, test; CoVoST-2's train splits are ``train`` and ``train_covost``), or
- its sentence, normalised by :func:`normalize_sentence`, is the sentence of one of those rows (another
  speaker reading a test sentence would leak it).

``hours`` caps the language: the remaining clips are put in a seeded order (a sort by a digest of the
seed and the clip name, so the order of a clip does not depend on the order or number of the other rows)
and taken in that order until the next one would pass the cap. Durations come from the release's
``<lang>/clip_durations.tsv`` (``clip``, ``duration[ms]``; releases from 2023 on) when it is there,
otherwise from each clip's header. validated.tsv is read twice, streaming: once for the ids of the
usable clips, once for the rows of those selected.
"""
from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sst.data import covost2, langs
from sst.data.audio import AudioDecodeError, audio_duration
from sst.data.corpus import Utterance
from sst.data.datadir import SkipReport, clean_text

# Skip reasons, in the order they are checked.
EMPTY_TRANSCRIPT = covost2.EMPTY_TRANSCRIPT
DUPLICATE = "duplicate clip"
HELD_OUT_CLIP = "clip of a CoVoST-2 dev/test row"
HELD_OUT_SENTENCE = "sentence of a CoVoST-2 dev/test row"
CLIP_MISSING = covost2.CLIP_MISSING
CLIP_ZERO_BYTE = covost2.CLIP_ZERO_BYTE
NO_DURATION = "no duration in clip_durations.tsv or the clip's header"
OVER_CAP = "over the hours cap"

DURATIONS_FILE = "clip_durations.tsv"
# Bumped when the rules above change what is selected.
SELECTION_VERSION = 1


def normalize_sentence(text: str) -> str:
    """A sentence as the test-set check compares it: Unicode NFC, every punctuation character (category
    P*) a space, case-folded, runs of whitespace one space, no space at either end.

    >>> normalize_sentence("  L’homme  dit : « Bonjour ! »") == normalize_sentence("l'homme dit bonjour")
    True
    """
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(char).startswith("P") else char for char in text)
    return " ".join(unicodedata.normalize("NFC", text.casefold()).split())


def language_dir(commonvoice_dir: Path, lang: str) -> Path:
    """A language's folder of a Common Voice release: CoVoST-2's spelling of a CoVoST-2 language ("zh" ->
    "zh-CN"), any other as given ("pl", "fy-NL"); FileNotFoundError if it has no validated.tsv."""
    try:
        folder = langs.covost2_code(lang)
    except ValueError:
        folder = lang
    path = Path(commonvoice_dir) / folder
    if not (path / "validated.tsv").is_file():
        raise FileNotFoundError(f"{path / 'validated.tsv'}: missing; {covost2.COMMONVOICE_LAYOUT}")
    return path


def covost_directions(lang: str) -> list[tuple[str, str]]:
    """Every CoVoST-2 direction whose source is ``lang`` (en: the 15 en->X; none for a language CoVoST-2
    lacks)."""
    try:
        src = langs.covost2_code(lang)
    except ValueError:
        return []
    targets = langs.COVOST2_EN_TO_X if src == "en" else ("en",) if src in langs.COVOST2_X_TO_EN else ()
    return [(src, tgt) for tgt in targets]


@dataclass
class HeldOut:
    """The clips and normalised sentences of a language's CoVoST-2 rows outside train, and the TSVs read."""

    clips: set[str] = field(default_factory=set)
    sentences: set[str] = field(default_factory=set)
    tsvs: list[Path] = field(default_factory=list)


def held_out_tsvs(covost_dir: Path, lang: str) -> list[Path]:
    """The CoVoST-2 TSVs of every direction from ``lang``; FileNotFoundError (with where to get it) if one
    is absent: without it the test set could leak."""
    return [covost2.tsv_path(covost_dir, src, tgt) for src, tgt in covost_directions(lang)]


def held_out(covost_dir: Path, lang: str) -> HeldOut:
    """What SAMU data in ``lang`` must leave out: the rows outside CoVoST-2's train splits of every direction
    from ``lang`` (:func:`held_out_tsvs`)."""
    result = HeldOut(tsvs=held_out_tsvs(covost_dir, lang))
    train = set(covost2.SPLIT_VALUES["train"])
    for tsv in result.tsvs:
        for _, row in covost2.read_tsv(tsv, ("path", "sentence", "split")):
            if row["split"] not in train:
                result.clips.add(covost2.clip_name(row["path"]))
                result.sentences.add(normalize_sentence(row["sentence"]))
    result.sentences.discard("")  # an empty or all-punctuation test sentence leaks nothing
    return result


def seeded_order(clips: list[str], seed: int) -> list[str]:
    """The clips in the order a seed gives them: sorted by a digest of the seed and the clip name (the same
    clip gets the same key whatever the other rows are)."""
    return sorted(clips, key=lambda clip: hashlib.sha256(f"{seed}\0{clip}".encode("utf-8")).digest())


def _durations(lang_dir: Path, wanted: set[str]) -> dict[str, float] | None:
    """Seconds of the ``wanted`` clips from clip_durations.tsv, or None when the release has none."""
    path = lang_dir / DURATIONS_FILE
    if not path.is_file():
        return None
    seconds = {}
    for lineno, (clip, millis) in covost2.read_columns(path, ("clip", "duration[ms]")):
        name = covost2.clip_name(clip)
        if name in wanted:
            try:
                seconds[name] = float(millis) / 1000
            except ValueError:
                raise ValueError(f"{path}:{lineno}: duration[ms] is not a number: {millis!r}") from None
    return seconds


@dataclass
class Selection:
    """The utterances selected in one language, the report of what was left out and why, their hours
    (None when no duration was needed: no cap and no clip_durations.tsv)."""

    utts: list[Utterance]
    report: SkipReport
    hours: float | None


def _usable_clips(validated: Path, held: HeldOut, report: SkipReport) -> list[str]:
    """First pass over validated.tsv: the clips that are neither held out nor without a transcript."""
    usable, seen = [], set()
    for _, (clip, sentence) in covost2.read_columns(validated, ("path", "sentence")):
        name = covost2.clip_name(clip)
        if not clean_text(sentence):
            report.skip(EMPTY_TRANSCRIPT, name)
        elif name in seen:
            report.skip(DUPLICATE, name)
        elif name in held.clips:
            report.skip(HELD_OUT_CLIP, name)
        elif normalize_sentence(sentence) in held.sentences:
            report.skip(HELD_OUT_SENTENCE, name)
        else:
            usable.append(name)
        seen.add(name)
    return usable


def _take(clips: list[str], clips_dir: Path, durations: dict[str, float] | None, cap_seconds: float | None,
          report: SkipReport) -> tuple[set[str], float | None]:
    """The clips (in the given order) whose file is there, until the next would pass the cap, and their hours
    (from ``durations``, else the clip's header; None when neither a cap nor a durations table asks)."""
    taken, total = set(), 0.0
    measure = cap_seconds is not None or durations is not None
    for index, name in enumerate(clips):
        clip = clips_dir / name
        if not clip.is_file():
            report.skip(CLIP_MISSING, name)
            continue
        if clip.stat().st_size == 0:
            report.skip(CLIP_ZERO_BYTE, name)
            continue
        seconds = 0.0
        if measure:
            seconds = (durations or {}).get(name)
            if seconds is None:
                try:
                    seconds = audio_duration(clip)
                except AudioDecodeError:
                    seconds = None
            if seconds is None:
                report.skip(NO_DURATION, name)
                continue
        if cap_seconds is not None and total + seconds > cap_seconds:
            for rest in clips[index:]:
                report.skip(OVER_CAP, rest)
            break
        taken.add(name)
        total += seconds
    return taken, (total / 3600 if measure else None)


def _rows(validated: Path, chosen: set[str]) -> Iterator[tuple[str, str, str]]:
    """Second pass: (clip, client_id, sentence) of the first row of each chosen clip."""
    left = set(chosen)
    for _, (clip, client, sentence) in covost2.read_columns(validated, ("path", "client_id", "sentence")):
        name = covost2.clip_name(clip)
        if name in left:
            left.discard(name)
            yield name, client, clean_text(sentence)


def select(commonvoice_dir: Path, covost_dir: Path, lang: str, *, hours: float | None = None,
           seed: int = 0) -> Selection:
    """The SAMU utterances of ``lang`` from a Common Voice release (module doc): every usable clip, or at
    most ``hours`` hours of them chosen by ``seed``. An utterance's translation is its transcript and its
    target language its source (Common Voice has no translations; SAMU reads only the transcript)."""
    lang_dir = language_dir(commonvoice_dir, lang)
    clips_dir = lang_dir.resolve() / "clips"
    if not clips_dir.is_dir():
        raise FileNotFoundError(f"{clips_dir}: missing; {covost2.COMMONVOICE_LAYOUT}")
    held = held_out(covost_dir, lang)
    if not held.tsvs:
        logging.info("%s: CoVoST-2 has no direction from it, no clip is held out", lang)
    validated = lang_dir / "validated.tsv"
    report = SkipReport(f"Common Voice {lang} (stage 1, SAMU data)")
    usable = _usable_clips(validated, held, report)
    durations = _durations(lang_dir, set(usable))
    chosen, selected_hours = _take(seeded_order(usable, seed), clips_dir, durations,
                                   None if hours is None else hours * 3600, report)
    utts = [Utterance(f"{lang}-{name[:-len('.mp3')]}", recording_id=f"{lang}-{name[:-len('.mp3')]}",
                      audio=clips_dir / name, transcript=sentence, translation=sentence,
                      speaker=client or f"{lang}-{name[:-len('.mp3')]}", src_lang=lang, tgt_lang=lang)
             for name, client, sentence in _rows(validated, chosen)]
    report.keep(len(utts))
    logging.info("Common Voice %s: selected %d clips%s%s; left out %s", lang, len(utts),
                 "" if selected_hours is None else f", {selected_hours:.4g} h",
                 "" if hours is None else f" (cap {hours:g} h, seed {seed})",
                 ", ".join(f"{reason}: {n}" for reason, n in sorted(report.counts.items())) or "none")
    return Selection(utts, report, selected_hours)
