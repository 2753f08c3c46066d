"""Kaldi-style data dir files, their validator (file and line in every error), the skip report and stage 1's
writer of a set."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sst.bin import validate_data_dir as validate_cli
from sst.data.corpus import Utterance, is_prepared, write_prepared_set
from sst.data.datadir import (Segment, SkipReport, clean_text, read_report, validate_data_dir, validate_dump_dir,
                              write_data_dir)
from sst.io import DataDirError, read_kv, write_kv

UTTS = ["fr-en-b", "fr-en-a", "fr-en-c"]


def make_data_dir(path: Path, segmented: bool = False) -> Path:
    """A valid three-utterance data dir (with segments over one recording if ``segmented``)."""
    texts = {"fr": {u: f"texte {u}" for u in UTTS}, "en": {u: f"text {u}" for u in UTTS}}
    if segmented:
        wav_scp = {"fr-rec1": "/audio/rec1.m4a"}
        segments = {u: Segment("fr-rec1", float(i), i + 0.5) for i, u in enumerate(UTTS)}
    else:
        wav_scp, segments = {u: f"/audio/{u}.mp3" for u in UTTS}, None
    write_data_dir(path, wav_scp, texts, {u: "spk1" for u in UTTS}, {u: "fr" for u in UTTS},
                   {u: "en" for u in UTTS}, segments=segments)
    return path


def test_write_kv_sorts_in_byte_order_and_reads_back(tmp_path: Path) -> None:
    data = {"b": "2", "B": "upper", "a-1": "x y  z", "a_1": "under", "é": "accent"}
    write_kv(tmp_path / "f", data)
    keys = [line.split(" ")[0] for line in (tmp_path / "f").read_text(encoding="utf-8").splitlines()]
    assert keys == ["B", "a-1", "a_1", "b", "é"]  # LC_ALL=C order
    assert read_kv(tmp_path / "f") == data


def test_write_kv_refuses_keys_with_spaces_and_values_with_newlines(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match="whitespace"):
        write_kv(tmp_path / "f", {"a b": "x"})
    with pytest.raises(DataDirError, match="line break"):
        write_kv(tmp_path / "f", {"a": "x\ny"})


def test_clean_text_turns_tabs_and_line_breaks_into_single_spaces() -> None:
    assert clean_text(' a\tb\r\nc  "d"\u2028e ') == 'a b c "d" e'
    assert clean_text("a \t b\n\n") == "a b"
    assert clean_text("Quoi\u202f?") == "Quoi\u202f?"  # typographic spaces are text, kept


def test_valid_dirs_pass(tmp_path: Path) -> None:
    data = validate_data_dir(make_data_dir(tmp_path / "plain"))
    assert data.utts == sorted(UTTS)
    assert data.transcript("fr-en-a") == "texte fr-en-a" and data.translation("fr-en-a") == "text fr-en-a"
    assert data.segments is None
    data = validate_data_dir(make_data_dir(tmp_path / "seg", segmented=True))
    assert data.segments["fr-en-b"] == Segment("fr-rec1", 0.0, 0.5)


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("breakage, file, message", [
    # unsorted keys
    (lambda d: (d / "utt2spk").write_text("fr-en-b spk1\nfr-en-a spk1\nfr-en-c spk1\n"), "utt2spk:2", "not sorted"),
    # duplicate key
    (lambda d: (d / "utt2lang").write_text("fr-en-a fr\nfr-en-a fr\nfr-en-b fr\nfr-en-c fr\n"), "utt2lang:2",
     "duplicate key fr-en-a"),
    # a key missing from one file
    (lambda d: (d / "text.en").write_text("fr-en-a text\nfr-en-c text\n"), "text.en", "fr-en-b"),
    # a key one file has and the others do not
    (lambda d: _rewrite(d / "text.fr", "fr-en-c texte fr-en-c\n", "fr-en-c x\nfr-en-d y\n"), "text.fr:4",
     "fr-en-d is not in"),
    # empty text
    (lambda d: _rewrite(d / "text.fr", "fr-en-b texte fr-en-b", "fr-en-b"), "text.fr:2", "empty text"),
    # wrong column count
    (lambda d: _rewrite(d / "utt2tgt_lang", "fr-en-c en", "fr-en-c en de"), "utt2tgt_lang:3", "2 columns"),
    # missing file
    (lambda d: (d / "utt2spk").unlink(), "utt2spk", "missing"),
    # empty line
    (lambda d: _rewrite(d / "wav.scp", "fr-en-b", "\nfr-en-b"), "wav.scp:2", "empty line"),
    # language without its text file
    (lambda d: (d / "utt2tgt_lang").write_text("fr-en-a de\nfr-en-b en\nfr-en-c en\n"), "utt2tgt_lang",
     "text.de"),
])
def test_validator_names_file_and_line(tmp_path: Path, breakage, file: str, message: str) -> None:
    data_dir = make_data_dir(tmp_path / "d")
    breakage(data_dir)
    with pytest.raises(DataDirError) as err:
        validate_data_dir(data_dir)
    assert f"{data_dir / file.split(':')[0]}" in str(err.value)
    assert file in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("old, new, file, message", [
    ("fr-en-b fr-rec1 0 0.5", "fr-en-b fr-rec9 0 0.5", "segments:2", "recording fr-rec9 is not in"),
    ("fr-en-b fr-rec1 0 0.5", "fr-en-b fr-rec1 0.5 0.5", "segments:2", "end <= start"),
    ("fr-en-c fr-rec1 2 2.5", "fr-en-c fr-rec1 2", "segments:3", "expected 4 columns"),
    ("fr-en-c fr-rec1 2 2.5", "fr-en-c fr-rec1 two 2.5", "segments:3", "not numbers"),
])
def test_validator_checks_segments(tmp_path: Path, old: str, new: str, file: str, message: str) -> None:
    data_dir = make_data_dir(tmp_path / "d", segmented=True)
    _rewrite(data_dir / "segments", old, new)
    with pytest.raises(DataDirError, match=message) as err:
        validate_data_dir(data_dir)
    assert f"{data_dir / file}" in str(err.value)


def test_validator_rejects_invalid_utf8(tmp_path: Path) -> None:
    data_dir = make_data_dir(tmp_path / "d")
    with (data_dir / "text.fr").open("ab") as f:
        f.write(b"fr-en-d caf\xe9\n")
    with pytest.raises(DataDirError, match=r"text\.fr:4: not valid UTF-8"):
        validate_data_dir(data_dir)


def test_validate_cli_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture, caplog) -> None:
    caplog.set_level(logging.INFO)
    good, bad = make_data_dir(tmp_path / "good"), make_data_dir(tmp_path / "bad")
    validate_cli.main([str(good)])
    assert "OK (3 utterances)" in caplog.text
    (bad / "utt2spk").write_text("fr-en-b spk1\nfr-en-a spk1\nfr-en-c spk1\n")
    with pytest.raises(SystemExit) as exit_info:
        validate_cli.main([str(good), str(bad)])
    assert exit_info.value.code == 1
    assert f"{bad / 'utt2spk'}:2: keys not sorted" in capsys.readouterr().err


def test_validate_dump_dir(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    utts = {"u1": "1", "u2": "2"}
    for name in ("wav.scp", "utt2num_samples", "speech_shape", "transcript", "translation", "utt2lang",
                 "utt2tgt_lang", "utt2spk"):
        write_kv(dump / name, utts)
    (dump / "dump_report.txt").write_text("kept: 2\n")  # not a per-utterance file
    assert set(validate_dump_dir(dump)["transcript"]) == {"u1", "u2"}
    write_kv(dump / "speech_shape", {"u1": "1", "u2": "0"})
    with pytest.raises(DataDirError, match=r"speech_shape:2: not a positive sample count"):
        validate_dump_dir(dump)
    write_kv(dump / "speech_shape", utts)
    write_kv(dump / "text_int", {"u1": "5 6"})
    with pytest.raises(DataDirError, match=r"text_int: key u2 .* is missing"):
        validate_dump_dir(dump)


def test_skip_report(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    report = SkipReport("train_fr_en", max_examples=2)
    report.keep(5)
    for utt in ("u1", "u2", "u3"):
        report.skip("clip missing", utt)
    report.skip("empty translation", "u9")
    assert report.skipped == 4
    assert report.summary() == "train_fr_en: kept 5, skipped 4 (clip missing: 3, empty translation: 1)"
    report.write(tmp_path / "skip_report.txt")
    assert (tmp_path / "skip_report.txt").read_text() == (
        "# train_fr_en\nkept: 5\nskipped: 4\n  clip missing: 3 (e.g. u1 u2)\n  empty translation: 1 (e.g. u9)\n")
    assert read_report(tmp_path / "skip_report.txt") == {"kept": 5, "skipped": 4, "clip missing": 3,
                                                         "empty translation": 1}
    report.log()
    assert caplog.records[-1].levelno == logging.WARNING and "skipped 4" in caplog.records[-1].message


def test_write_prepared_set_from_segments_and_its_record(tmp_path: Path) -> None:
    utts = [Utterance(f"fr-en-s_{i}", "fr-s", Path("/audio/s.m4a"), f"texte {i}", f"text {i}", speaker="fr-s",
                      src_lang="fr", tgt_lang="en", start=float(i), end=i + 0.25) for i in (1, 0)]
    report = SkipReport("train_fr_en")
    report.keep(2)
    report.skip("audio missing", "fr-en-t_0")
    made_from = {"inputs": {"/corpus/segments.lst": "0" * 64}, "split": "train"}
    set_dir = tmp_path / "train_fr_en"
    assert not is_prepared(set_dir, made_from)
    write_prepared_set(set_dir, utts, report, made_from, src_lang="fr", tgt_lang="en", segmented=True)
    assert (set_dir / "wav.scp").read_text() == "fr-s /audio/s.m4a\n"
    assert (set_dir / "segments").read_text() == "fr-en-s_0 fr-s 0 0.25\nfr-en-s_1 fr-s 1 1.25\n"
    assert read_kv(set_dir / "text.fr") == {"fr-en-s_0": "texte 0", "fr-en-s_1": "texte 1"}
    assert read_kv(set_dir / "utt2tgt_lang") == {"fr-en-s_0": "en", "fr-en-s_1": "en"}
    assert read_report(set_dir / "skip_report.txt") == {"kept": 2, "skipped": 1, "audio missing": 1}
    assert is_prepared(set_dir, made_from)
    assert not is_prepared(set_dir, {**made_from, "split": "dev"})
    assert not (set_dir / ".provenance" / "prepare.json").exists()  # cleared: a killed rewrite is not taken as done


def test_write_prepared_set_without_utterances_keeps_every_file(tmp_path: Path) -> None:
    set_dir = tmp_path / "test_fr_en"
    write_prepared_set(set_dir, [], SkipReport("test_fr_en"), {}, src_lang="fr", tgt_lang="en", segmented=True)
    assert sorted(p.name for p in set_dir.iterdir() if p.is_file()) == [
        "segments", "skip_report.txt", "text.en", "text.fr", "utt2lang", "utt2spk", "utt2tgt_lang", "wav.scp"]
    assert validate_data_dir(set_dir).utts == []


def test_whole_recording_has_no_segment() -> None:
    utt = Utterance("fr-en-a", "fr-en-a", Path("/clips/a.mp3"), "texte", "text", speaker="spk1", src_lang="fr",
                    tgt_lang="en")
    with pytest.raises(ValueError, match="fr-en-a is a whole recording"):
        utt.segment
