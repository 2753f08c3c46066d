"""Builders of tiny corpora in the REAL on-disk layouts of CoVoST-2 / Common Voice v4 and Europarl-ST v1.1.

Tests and benchmarks import these (``from sst.testing.corpora import make_covost2_corpus``); each
builder writes into the folder it is given and returns the paths plus what stages 1 and 2 are expected
to make of it (``expected[set_name]``, an ExpectedSet). Audio is a few seconds in all, so tests stay fast.
The readers at the end take a CoVoST-2 style corpus (the mini_st demo's) through ``sst.data.covost2``.
"""
from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import soundfile as sf

from sst.data.covost2 import load_covost2
from sst.data.langs import normalize


# The source checkout these fixtures belong to, and the mini_st demo's shipped corpus (CoVoST-2 layout).
REPO = Path(__file__).resolve().parents[2]
MINI_ST_CORPUS = REPO / "egs" / "mini_st" / "corpus"
TSV_STYLE = dict(delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
CV_COLUMNS = ("client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accent")
COVOST_COLUMNS = ("path", "sentence", "translation", "client_id", "split")


@dataclass(frozen=True)
class ExpectedSet:
    """What stages 1 and 2 should make of one set (e.g. ``train_fr_en``) of a fixture corpus.

    stage1: utt -> (transcript, translation) of the utterances stage 1 keeps (texts exactly as in
    the data dir). stage1_skipped: reason -> count in skip_report.txt. num_samples: utt -> samples at
    16 kHz of the utterances stage 2 keeps with the default config (min 0.3 s, max 30 s); None where
    the count depends on the AAC decoder (a segment clipped at the end of its speech), with
    approx_samples giving (low, high) bounds for those. stage2_skipped: reason -> count in dump_report.txt.
    """

    stage1: dict[str, tuple[str, str]]
    stage1_skipped: dict[str, int]
    num_samples: dict[str, int | None]
    stage2_skipped: dict[str, int]
    approx_samples: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Covost2Corpus:
    """Paths of a fixture CoVoST-2 + Common Voice corpus and its expectations per set."""

    covost_dir: Path
    commonvoice_dir: Path
    expected: dict[str, ExpectedSet]


@dataclass
class EuroparlStCorpus:
    """Path of a fixture Europarl-ST corpus (the folder holding ``v1.1``) and its expectations per set."""

    europarl_dir: Path
    expected: dict[str, ExpectedSet]


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    """A sine tone, float32, shape (samples,) or (samples, channels) (each channel another pitch)."""
    t = np.arange(round(seconds * rate)) / rate
    waves = [0.3 * np.sin(2 * np.pi * freq * (1 + 0.5 * c) * t) for c in range(channels)]
    out = np.stack(waves, axis=1).astype(np.float32)
    return out[:, 0] if channels == 1 else out


def write_mp3(path: Path, seconds: float, rate: int = 48000) -> None:
    """A mono MP3 (libsndfile/LAME) whose decoded length is exactly seconds * rate samples."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(seconds, rate), rate, format="MP3", subtype="MPEG_LAYER_III")


def write_m4a(path: Path, seconds: float, rate: int) -> None:
    """A stereo AAC-in-MP4 file (as Europarl-ST ships), written with PyAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.ascontiguousarray(tone(seconds, rate, channels=2).T)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout="stereo")
        for start in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]),
                                               format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def write_tsv(path: Path, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A TSV as pandas' to_csv(sep="\\t", quoting=QUOTE_NONE, escapechar="\\\\") writes it (CoVoST's way)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, **TSV_STYLE)
        writer.writerow(columns)
        writer.writerows(rows)


def data_files(out: Path) -> dict[Path, bytes]:
    """The bytes of every file stage 1 wrote under ``out`` (relative path -> bytes), but its provenance
    records, which hold the digests of the input files."""
    return {path.relative_to(out): path.read_bytes() for path in out.rglob("*")
            if path.is_file() and ".provenance" not in path.parts}


def write_dump_config(path: Path, sample_rate: int = 16000, min_duration: float = 0.3,
                      max_duration: float = 30.0) -> Path:
    """A conf/dump.yaml for stage 2."""
    path.write_text(f"sample_rate: {sample_rate}\nmin_duration: {min_duration}\nmax_duration: {max_duration}\n")
    return path


# (clip stem, split, sentence, translation, in validated.tsv, clip: seconds | "zero" | "garbage" | None)
COVOST_FR_EN = [
    # double quotes, written by the TSV writer as \"...\"
    ("common_voice_fr_100001", "train", 'Il a dit "bonjour" à tous.', 'He said "hello" to everyone.', True, 1.0),
    # a tab (written as backslash + tab; becomes one space) and backslashes (written doubled)
    ("common_voice_fr_100002", "train", "Le fichier C:\\dossier\\a\tb est là.",
     'The file C:\\folder\\a\tb is "here".', True, 0.5),
    # CoVoST's extra training split: belongs to train
    ("common_voice_fr_100003", "train_covost", "Bonjour à tous.", "Hello everyone.", True, 0.75),
    # empty translation: skipped by stage 1
    ("common_voice_fr_100004", "train", "Une phrase sans traduction.", "", True, 0.5),
    # 0.2 s clip: kept by stage 1, "too short" for stage 2
    ("common_voice_fr_100005", "train", "Trop court.", "Too short.", True, 0.2),
    ("common_voice_fr_100006", "dev", "Bonsoir.", "Good evening.", True, 1.0),
    # zero-byte clip: skipped by stage 1
    ("common_voice_fr_100007", "dev", "Fichier vide.", "Empty file.", True, "zero"),
    # garbage bytes: kept by stage 1 (it only checks existence and size), "undecodable audio" in stage 2
    ("common_voice_fr_100008", "dev", "Fichier abîmé.", "Broken file.", True, "garbage"),
    ("common_voice_fr_100009", "test", "Au revoir.", "Goodbye.", True, 0.5),
    # clip exists but the row is not in validated.tsv: skipped by stage 1
    ("common_voice_fr_100010", "test", "Pas validée.", "Not validated.", False, 0.5),
    # in validated.tsv but no clip file: skipped by stage 1
    ("common_voice_fr_100011", "test", "Clip absent.", "Missing clip.", True, None),
    # empty transcript: skipped by stage 1
    ("common_voice_fr_100012", "test", "", "Empty transcript.", True, 0.5),
]

COVOST_DE_EN = [
    ("common_voice_de_200001", "train", "Schöne Grüße aus Köln.", "Greetings from Cologne.", True, 0.5),
    ("common_voice_de_200002", "train", 'Er sagte: „Guten Tag“ und "Hallo".', 'He said: "Good day" and "Hello".',
     True, 0.75),
    ("common_voice_de_200003", "dev", "Straße.", "Street.", True, 0.5),
    ("common_voice_de_200004", "test", "Tschüss.", "Bye.", True, 0.5),
]


def _fr(stem: str) -> str:
    return f"fr-en-{stem}"


COVOST2_EXPECTED = {
    "train_fr_en": ExpectedSet(
        stage1={_fr("common_voice_fr_100001"): ('Il a dit "bonjour" à tous.', 'He said "hello" to everyone.'),
                _fr("common_voice_fr_100002"): ("Le fichier C:\\dossier\\a b est là.",
                                                 'The file C:\\folder\\a b is "here".'),
                _fr("common_voice_fr_100003"): ("Bonjour à tous.", "Hello everyone."),
                _fr("common_voice_fr_100005"): ("Trop court.", "Too short.")},
        stage1_skipped={"empty translation": 1},
        num_samples={_fr("common_voice_fr_100001"): 16000, _fr("common_voice_fr_100002"): 8000,
                     _fr("common_voice_fr_100003"): 12000},
        stage2_skipped={"too short": 1}),
    "dev_fr_en": ExpectedSet(
        stage1={_fr("common_voice_fr_100006"): ("Bonsoir.", "Good evening."),
                _fr("common_voice_fr_100008"): ("Fichier abîmé.", "Broken file.")},
        stage1_skipped={"zero-byte clip": 1},
        num_samples={_fr("common_voice_fr_100006"): 16000},
        stage2_skipped={"undecodable audio": 1}),
    "test_fr_en": ExpectedSet(
        stage1={_fr("common_voice_fr_100009"): ("Au revoir.", "Goodbye.")},
        stage1_skipped={"not in validated.tsv": 1, "clip missing": 1, "empty transcript": 1},
        num_samples={_fr("common_voice_fr_100009"): 8000},
        stage2_skipped={}),
    "train_de_en": ExpectedSet(
        stage1={"de-en-common_voice_de_200001": ("Schöne Grüße aus Köln.", "Greetings from Cologne."),
                "de-en-common_voice_de_200002": ('Er sagte: „Guten Tag“ und "Hallo".',
                                                 'He said: "Good day" and "Hello".')},
        stage1_skipped={},
        num_samples={"de-en-common_voice_de_200001": 8000, "de-en-common_voice_de_200002": 12000},
        stage2_skipped={}),
    "dev_de_en": ExpectedSet(stage1={"de-en-common_voice_de_200003": ("Straße.", "Street.")}, stage1_skipped={},
                             num_samples={"de-en-common_voice_de_200003": 8000}, stage2_skipped={}),
    "test_de_en": ExpectedSet(stage1={"de-en-common_voice_de_200004": ("Tschüss.", "Bye.")}, stage1_skipped={},
                              num_samples={"de-en-common_voice_de_200004": 8000}, stage2_skipped={}),
}


def make_covost2_corpus(root: Path) -> Covost2Corpus:
    """CoVoST-2 fr->en and de->en in the real layout, on a Common Voice v4-style tree.

    Writes ``root/covost/covost_v2.{fr,de}_en.tsv`` and ``root/commonvoice/{fr,de}/validated.tsv`` with
    48 kHz mono MP3 clips in ``root/commonvoice/{fr,de}/clips/``. fr->en has every nasty case (see
    COVOST_FR_EN): quotes, an escaped tab and backslashes, a train_covost row, an empty translation,
    an empty transcript, a zero-byte clip, a garbage clip, a row not in validated.tsv, a missing clip
    and a 0.2 s clip. validated.tsv also lists clips CoVoST does not use. Expected results:
    COVOST2_EXPECTED (stage 1 keeps 4/2/1 fr-en utterances in train/dev/test, stage 2 keeps 3/1/1).
    """
    covost_dir, cv_dir = Path(root) / "covost", Path(root) / "commonvoice"
    for lang, rows in (("fr", COVOST_FR_EN), ("de", COVOST_DE_EN)):
        clips = cv_dir / lang / "clips"
        clips.mkdir(parents=True, exist_ok=True)
        validated = [(f"client{i % 2}{lang}" + "0" * 20, f"{lang}_unused_{i}.mp3", "Phrase inutilisée.", "2", "0",
                      "", "", "") for i in range(2)]
        covost_rows = []
        for i, (stem, split, sentence, translation, is_valid, clip) in enumerate(rows):
            client = f"{'ab' if i % 2 else 'cd'}{lang}{i:02d}" + "f" * 16
            covost_rows.append((f"{stem}.mp3", sentence, translation, client, split))
            if is_valid:
                validated.append((client, f"{stem}.mp3", sentence, "2", "0", "twenties", "male", ""))
            if clip == "zero":
                (clips / f"{stem}.mp3").write_bytes(b"")
            elif clip == "garbage":
                (clips / f"{stem}.mp3").write_bytes(b"this is not an mp3 file\x00\xff" * 40)
            elif clip is not None:
                write_mp3(clips / f"{stem}.mp3", clip)
        write_tsv(cv_dir / lang / "validated.tsv", CV_COLUMNS, sorted(validated, key=lambda r: r[1]))
        write_tsv(covost_dir / f"covost_v2.{lang}_en.tsv", COVOST_COLUMNS, covost_rows)
    return Covost2Corpus(covost_dir, cv_dir, COVOST2_EXPECTED)


# Europarl-ST speeches: id -> (seconds, sample rate); EP_MISSING has segments but no m4a.
EP_SPEECH_A = "fr.20090114.3.3-037"
EP_SPEECH_B = "fr.20090115.7.4-112"
EP_MISSING = "fr.20090116.2.1-005"
EP_SPEECHES = {EP_SPEECH_A: (3.0, 44100), EP_SPEECH_B: (2.0, 48000)}

# split -> [(speech id, start, end, fr text, en text)]
EUROPARL_FR_EN = {
    "train": [
        (EP_SPEECH_A, "0.00", "1.00", "Monsieur le Président, je vous remercie.", "Mr President, thank you."),
        (EP_SPEECH_A, "1.00", "2.20", "Le « Parlement » européen.", 'The "European" Parliament.'),
        # ends 1 s after the end of its 3 s speech: clipped to about 0.5 s and kept
        (EP_SPEECH_A, "2.50", "4.00", "Fin du discours.", "End of the speech."),
        # starts after the end of its 2 s speech: "segment past end" in stage 2
        (EP_SPEECH_B, "2.50", "3.00", "Après la fin.", "After the end."),
        # ends past the end and only ~0.1 s remains (< min_duration): "segment past end" in stage 2
        (EP_SPEECH_B, "1.90", "2.60", "Presque après la fin.", "Almost after the end."),
        # its m4a does not exist: "audio missing" in stage 1
        (EP_MISSING, "0.00", "1.00", "Discours perdu.", "Lost speech."),
        # empty translation: stage 1
        (EP_SPEECH_B, "0.00", "0.80", "Sans traduction.", ""),
    ],
    "dev": [(EP_SPEECH_B, "0.00", "1.00", "Merci.", "Thank you.")],
    "test": [(EP_SPEECH_B, "0.50", "1.50", "La séance est levée.", "The sitting is closed."),
             (EP_SPEECH_A, "0.00", "0.50", "Oui.", "Yes.")],
}


def _ep(speech: str, start: float, end: float) -> str:
    return f"fr-en-{speech}_{round(start * 100):07d}_{round(end * 100):07d}"


EUROPARL_ST_EXPECTED = {
    "train_fr_en": ExpectedSet(
        stage1={_ep(EP_SPEECH_A, 0, 1): ("Monsieur le Président, je vous remercie.", "Mr President, thank you."),
                _ep(EP_SPEECH_A, 1, 2.2): ("Le « Parlement » européen.", 'The "European" Parliament.'),
                _ep(EP_SPEECH_A, 2.5, 4): ("Fin du discours.", "End of the speech."),
                _ep(EP_SPEECH_B, 2.5, 3): ("Après la fin.", "After the end."),
                _ep(EP_SPEECH_B, 1.9, 2.6): ("Presque après la fin.", "Almost after the end.")},
        stage1_skipped={"audio missing": 1, "empty translation": 1},
        num_samples={_ep(EP_SPEECH_A, 0, 1): 16000, _ep(EP_SPEECH_A, 1, 2.2): 19200,
                     _ep(EP_SPEECH_A, 2.5, 4): None},
        stage2_skipped={"segment past end": 2},
        # 3 s of AAC decode to 3 s plus at most one 1024-sample frame (at 44.1 kHz) of padding
        approx_samples={_ep(EP_SPEECH_A, 2.5, 4): (8000, 8000 + 372)}),
    "dev_fr_en": ExpectedSet(stage1={_ep(EP_SPEECH_B, 0, 1): ("Merci.", "Thank you.")}, stage1_skipped={},
                             num_samples={_ep(EP_SPEECH_B, 0, 1): 16000}, stage2_skipped={}),
    "test_fr_en": ExpectedSet(
        stage1={_ep(EP_SPEECH_B, 0.5, 1.5): ("La séance est levée.", "The sitting is closed."),
                _ep(EP_SPEECH_A, 0, 0.5): ("Oui.", "Yes.")},
        stage1_skipped={},
        num_samples={_ep(EP_SPEECH_B, 0.5, 1.5): 16000, _ep(EP_SPEECH_A, 0, 0.5): 8000},
        stage2_skipped={}),
}


def write_europarl_split(split_dir: Path, rows: list[tuple[str, str, str, str, str]],
                         src: str = "fr", tgt: str = "en") -> None:
    """segments.lst, segments.<src> and segments.<tgt> of one Europarl-ST split."""
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / "segments.lst").write_text("".join(f"{s} {a} {b}\n" for s, a, b, _, _ in rows), encoding="utf-8")
    (split_dir / f"segments.{src}").write_text("".join(f"{t}\n" for *_, t, _ in rows), encoding="utf-8")
    (split_dir / f"segments.{tgt}").write_text("".join(f"{t}\n" for *_, t in rows), encoding="utf-8")


def make_europarl_st_corpus(root: Path) -> EuroparlStCorpus:
    """Europarl-ST v1.1 fr->en in the real layout under ``root/europarl_st/v1.1``.

    Two speeches as stereo AAC m4a (3 s at 44.1 kHz, 2 s at 48 kHz) in ``fr/audios/``, and
    ``fr/en/{train,dev,test}/segments.{lst,fr,en}``. The train split (EUROPARL_FR_EN) has a segment
    clipped at the end of its speech (kept), one starting past the end and one with < 0.3 s left
    (both "segment past end" in stage 2), one whose m4a is missing and one with an empty
    translation (both skipped in stage 1). Expected results: EUROPARL_ST_EXPECTED.
    """
    europarl_dir = Path(root) / "europarl_st"
    release = europarl_dir / "v1.1"
    for speech, (seconds, rate) in EP_SPEECHES.items():
        write_m4a(release / "fr" / "audios" / f"{speech}.m4a", seconds, rate)
    for split, rows in EUROPARL_FR_EN.items():
        write_europarl_split(release / "fr" / "en" / split, rows)
    return EuroparlStCorpus(europarl_dir, EUROPARL_ST_EXPECTED)


# ---------------------------------------------------------------- CoVoST-2 style corpora read as stage 1 reads them

class TextPair(NamedTuple):
    """One corpus row's text: source language, transcript, English translation."""
    lang: str
    source: str
    target: str


def _source_langs(corpus_dir: Path) -> list[str]:
    """The source languages of the ``covost/covost_v2.<src>_en.tsv`` files of a corpus, normalised
    ("zh-CN" -> "zh"), in file order."""
    files = sorted(Path(corpus_dir, "covost").glob("covost_v2.*_en.tsv"))
    if not files:
        raise FileNotFoundError(f"{corpus_dir}/covost: no covost_v2.<src>_en.tsv files")
    return [normalize(path.name.split(".")[1].rsplit("_", 1)[0]) for path in files]


def read_covost_rows(corpus_dir: Path, splits: tuple[str, ...],
                     langs: tuple[str, ...] | None = None) -> list[tuple[TextPair, Path]]:
    """(text, clip) of every utterance stage 1 keeps from ``covost/covost_v2.<src>_en.tsv`` with its clips in
    ``commonvoice/`` (read by ``sst.data.covost2.load_covost2``): languages in file order, then split by
    split, rows in file order. ``langs=None`` reads every X->En file present."""
    present = _source_langs(corpus_dir)
    missing = set(langs or ()) - set(present)
    if missing:
        raise FileNotFoundError(f"{corpus_dir}/covost: no covost_v2.<src>_en.tsv for {sorted(missing)}")
    chosen = [lang for lang in present if langs is None or lang in langs]
    loaded = {lang: load_covost2(Path(corpus_dir, "covost"), Path(corpus_dir, "commonvoice"), lang, "en", splits)
              for lang in chosen}
    return [(TextPair(lang, utt.transcript, utt.translation), utt.audio)
            for lang in chosen for split in splits for utt in loaded[lang][split][0]]


def read_covost_pairs(corpus_dir: Path, splits: tuple[str, ...] = ("train",),
                      langs: tuple[str, ...] | None = None) -> list[TextPair]:
    """(lang, transcript, translation) of every utterance of ``corpus_dir`` in ``splits``, as stage 1 reads
    them (CoVoST's ``train_covost`` rows count as ``train``); ``langs=None`` reads every language present."""
    return [text for text, _ in read_covost_rows(corpus_dir, splits, langs)]


def read_covost_clips(corpus_dir: Path, splits: tuple[str, ...] = ("train",)) -> list[Path]:
    """The clips of those utterances (every source language)."""
    return [clip for _, clip in read_covost_rows(corpus_dir, splits, None)]


def write_mini_st_data_dir(out: Path, clips: int, corpus_dir: Path = MINI_ST_CORPUS) -> float:
    """A stage-1 style data dir over the first ``clips`` clips (sorted by path, over all languages) of a
    CoVoST-2 style corpus, one utterance per recording; returns their audio seconds. The clips come from
    several source languages, so their transcripts go under ISO 639's code for "multiple languages",
    ``mul`` (stage 2 only copies them)."""
    from sst.data.datadir import write_data_dir

    texts = {clip.stem: text for text, clip in read_covost_rows(corpus_dir, ("train", "dev", "test"))}
    paths = sorted(Path(corpus_dir).glob("commonvoice/*/clips/*.mp3"))[:clips]
    if len(paths) < clips:
        raise ValueError(f"{corpus_dir}: only {len(paths)} clips, {clips} asked for")
    utts = {path.stem: path for path in paths}
    write_data_dir(out, {u: str(p) for u, p in utts.items()},
                   {"mul": {u: texts[u].source for u in utts}, "en": {u: texts[u].target for u in utts}},
                   utt2spk={u: u for u in utts}, utt2lang={u: "mul" for u in utts},
                   utt2tgt_lang={u: "en" for u in utts})
    return sum(sf.info(str(p)).duration for p in paths)


# ---------------------------------------------------------------- a Common Voice release as SAMU data

@dataclass
class CommonVoiceRelease:
    """Paths of a fixture Common Voice release (on the CoVoST-2 fixture) and what SAMU data may take from it.

    usable: lang -> clip name -> seconds of every clip ``--samu_data commonvoice`` selects without a cap.
    held_out: lang -> the clips it must never select (CoVoST-2 dev/test clips and re-readings of their
    sentences). durations_table: the languages whose folder has clip_durations.tsv.
    """

    covost_dir: Path
    commonvoice_dir: Path
    usable: dict[str, dict[str, float]]
    held_out: dict[str, set[str]]
    durations_table: tuple[str, ...]


# Clips CoVoST-2 does not use: (lang, stem, sentence, seconds, held out). The held-out ones are other
# speakers reading CoVoST-2 dev/test sentences, spelled otherwise (case, punctuation, spaces, NFD).
CV_EXTRA_CLIPS = [
    ("fr", "common_voice_fr_300001", "au revoir", 0.5, True),  # test "Au revoir."
    ("fr", "common_voice_fr_300002", "  BONSOIR  !", 0.5, True),  # dev "Bonsoir."
    ("fr", "common_voice_fr_300003", unicodedata.normalize("NFD", "« Fichier abîmé »"), 0.5, True),  # dev
    ("fr", "common_voice_fr_300004", "bonjour à tous !", 0.5, False),  # a train sentence: may be used
    *[("fr", f"common_voice_fr_3001{i:02d}", f"Phrase libre numéro {i}.", 0.25 * (1 + i % 4), False)
      for i in range(12)],
    ("de", "common_voice_de_400001", "TSCHÜSS!", 0.5, True),  # test "Tschüss."
    *[("de", f"common_voice_de_4001{i:02d}", f"Freier Satz Nummer {i}.", 0.5, False) for i in range(3)],
    # Common Voice has it, CoVoST-2 does not
    *[("pl", f"common_voice_pl_5001{i:02d}", f"Zdanie numer {i}.", 0.5, False) for i in range(3)],
]
# (lang, clip stem, seconds) of the CoVoST-2 fixture's train clips Common Voice validated and holds
CV_COVOST_TRAIN_CLIPS = [("fr", "common_voice_fr_100001", 1.0), ("fr", "common_voice_fr_100002", 0.5),
                         ("fr", "common_voice_fr_100003", 0.75), ("fr", "common_voice_fr_100004", 0.5),
                         ("fr", "common_voice_fr_100005", 0.2), ("de", "common_voice_de_200001", 0.5),
                         ("de", "common_voice_de_200002", 0.75)]
CV_COVOST_HELD_OUT = {"fr": ["common_voice_fr_100006", "common_voice_fr_100007", "common_voice_fr_100008",
                             "common_voice_fr_100009", "common_voice_fr_100011"],
                      "de": ["common_voice_de_200003", "common_voice_de_200004"]}


def make_commonvoice_release(root: Path) -> CommonVoiceRelease:
    """The CoVoST-2 fixture (make_covost2_corpus) whose Common Voice release also holds CV_EXTRA_CLIPS: other
    readings of dev/test sentences, a reading of a train sentence, free clips in fr, de and pl (a language
    CoVoST-2 lacks). fr has a clip_durations.tsv; de and pl durations come from the clips."""
    corpus = make_covost2_corpus(root)
    usable: dict[str, dict[str, float]] = {}
    held: dict[str, set[str]] = {lang: {f"{stem}.mp3" for stem in stems} for lang, stems in CV_COVOST_HELD_OUT.items()}
    for lang, stem, seconds in CV_COVOST_TRAIN_CLIPS:
        usable.setdefault(lang, {})[f"{stem}.mp3"] = seconds
    rows: dict[str, list[tuple[str, ...]]] = {}
    for i, (lang, stem, sentence, seconds, is_held) in enumerate(CV_EXTRA_CLIPS):
        write_mp3(corpus.commonvoice_dir / lang / "clips" / f"{stem}.mp3", seconds)
        rows.setdefault(lang, []).append((f"reader{i:02d}{lang}" + "e" * 16, f"{stem}.mp3", sentence, "2", "0",
                                          "", "", ""))
        (held.setdefault(lang, set()).add(f"{stem}.mp3") if is_held
         else usable.setdefault(lang, {}).__setitem__(f"{stem}.mp3", seconds))
    for lang, extra in rows.items():
        validated = corpus.commonvoice_dir / lang / "validated.tsv"
        if validated.is_file():
            with open(validated, "a", encoding="utf-8", newline="") as f:
                csv.writer(f, **TSV_STYLE).writerows(extra)
        else:
            write_tsv(validated, CV_COLUMNS, extra)
    fr_seconds = {**usable["fr"], **{name: 0.5 for name in held["fr"]}}
    write_tsv(corpus.commonvoice_dir / "fr" / "clip_durations.tsv", ("clip", "duration[ms]"),
              [(name, str(round(seconds * 1000))) for name, seconds in sorted(fr_seconds.items())])
    return CommonVoiceRelease(corpus.covost_dir, corpus.commonvoice_dir, usable, held, ("fr",))
