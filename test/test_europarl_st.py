"""Stage 1 for Europarl-ST v1.1: segments over whole-speech m4a files, aligned text files, errors."""
from __future__ import annotations

import codecs
import logging
import shutil
from pathlib import Path

import pytest

from sst.data.corpus import CorpusError
from sst.errors import ConfigError
from sst.testing.corpora import EP_SPEECH_A, EP_SPEECH_B, EuroparlStCorpus, data_files
from sst.bin import prepare_europarl_st
from sst.data import europarl_st
from sst.data.datadir import Segment, read_report, validate_data_dir
from sst.io import read_kv

SETS = ["train_fr_en", "dev_fr_en", "test_fr_en"]


def prepare(europarl_dir: Path, out: Path, *extra: str) -> None:
    prepare_europarl_st.main(["--europarl_dir", str(europarl_dir), "--output_dir", str(out), *extra])


@pytest.mark.parametrize("set_name", SETS)
def test_texts_segments_reports(europarl_st_corpus: EuroparlStCorpus, europarl_st_data: Path, set_name: str) -> None:
    expected = europarl_st_corpus.expected[set_name]
    data = validate_data_dir(europarl_st_data / set_name)
    assert {u: (data.transcript(u), data.translation(u)) for u in data.utts} == expected.stage1
    assert set(data.utt2lang.values()) == {"fr"} and set(data.utt2tgt_lang.values()) == {"en"}
    # wav.scp lists exactly the recordings the segments use, as absolute m4a paths
    assert set(data.wav_scp) == {s.recording for s in data.segments.values()}
    for rec, path in data.wav_scp.items():
        assert Path(path).is_absolute() and Path(path).is_file() and path.endswith(f"{rec[3:]}.m4a")
    assert all(data.utt2spk[u] == data.segments[u].recording for u in data.utts)
    counts = read_report(europarl_st_data / set_name / "skip_report.txt")
    assert counts == {"kept": len(expected.stage1), "skipped": sum(expected.stage1_skipped.values()),
                      **expected.stage1_skipped}


def test_segment_ids_and_times(europarl_st_data: Path) -> None:
    segments = (europarl_st_data / "train_fr_en" / "segments").read_text().splitlines()
    assert segments[1] == f"fr-en-{EP_SPEECH_A}_0000100_0000220 fr-{EP_SPEECH_A} 1 2.2"
    assert segments == sorted(segments)
    data = validate_data_dir(europarl_st_data / "train_fr_en")
    assert data.segments[f"fr-en-{EP_SPEECH_B}_0000250_0000300"] == Segment(f"fr-{EP_SPEECH_B}", 2.5, 3.0)
    assert read_kv(europarl_st_data / "train_fr_en" / "text.en")[f"fr-en-{EP_SPEECH_A}_0000100_0000220"] == \
        'The "European" Parliament.'


def test_mismatched_line_counts(europarl_st_corpus: EuroparlStCorpus, tmp_path: Path) -> None:
    root = tmp_path / "ep"
    shutil.copytree(europarl_st_corpus.europarl_dir, root)
    en = root / "v1.1" / "fr" / "en" / "dev" / "segments.en"
    en.write_text(en.read_text() + "One line too many.\n")
    with pytest.raises(CorpusError, match=r"not line-aligned") as err:
        prepare(root, tmp_path / "data", "--src_lang", "fr", "--tgt_lang", "en", "--splits", "dev")
    assert f"{en}: 2 lines" in str(err.value) and "segments.lst: 1 lines" in str(err.value)


def test_bad_segments_line(europarl_st_corpus: EuroparlStCorpus, tmp_path: Path) -> None:
    root = tmp_path / "ep"
    shutil.copytree(europarl_st_corpus.europarl_dir, root)
    lst = root / "v1.1" / "fr" / "en" / "test" / "segments.lst"
    lst.write_text(lst.read_text().replace(" 0.00 0.50", " 0.00"))
    with pytest.raises(CorpusError, match=r"segments\.lst:2: expected 'speech_id start end'"):
        prepare(root, tmp_path / "data", "--src_lang", "fr", "--tgt_lang", "en", "--splits", "test")


def test_unknown_language_and_missing_split(europarl_st_corpus: EuroparlStCorpus, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown Europarl-ST language code 'xx'; known: en fr de"):
        prepare(europarl_st_corpus.europarl_dir, tmp_path, "--src_lang", "xx", "--tgt_lang", "en")
    with pytest.raises(ConfigError, match="both fr"):
        prepare(europarl_st_corpus.europarl_dir, tmp_path, "--src_lang", "fr", "--tgt_lang", "fr")
    with pytest.raises(CorpusError, match=r"v1\.1/fr/en/train-noisy: missing"):
        prepare(europarl_st_corpus.europarl_dir, tmp_path, "--src_lang", "fr", "--tgt_lang", "en",
                "--splits", "train-noisy")


def test_release_dir_itself_and_rerun(europarl_st_corpus: EuroparlStCorpus, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    release = europarl_st_corpus.europarl_dir / "v1.1"
    assert europarl_st.release_dir(release) == release
    prepare(release, tmp_path, "--src_lang", "fr", "--tgt_lang", "en", "--splits", "dev")
    assert validate_data_dir(tmp_path / "dev_fr_en").utts == [f"fr-en-{EP_SPEECH_B}_0000000_0000100"]
    mtime = (tmp_path / "dev_fr_en" / "segments").stat().st_mtime_ns
    caplog.clear()
    prepare(release, tmp_path, "--src_lang", "fr", "--tgt_lang", "en", "--splits", "dev")
    assert "already done" in caplog.text
    assert (tmp_path / "dev_fr_en" / "segments").stat().st_mtime_ns == mtime


def test_bom_and_crlf_files_prepare_the_same_data_dir(europarl_st_corpus: EuroparlStCorpus, tmp_path: Path) -> None:
    """Segment and text files a Windows editor saved (UTF-8 BOM first, CRLF line ends) read as their text says."""
    root = tmp_path / "ep"
    shutil.copytree(europarl_st_corpus.europarl_dir, root)
    args = ("--src_lang", "fr", "--tgt_lang", "en")
    prepare(root, tmp_path / "plain", *args)
    texts = sorted((root / "v1.1" / "fr" / "en").glob("*/segments.*"))
    assert len(texts) == 3 * 3
    for path in texts:
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes().replace(b"\n", b"\r\n"))
    prepare(root, tmp_path / "edited", *args)
    plain, edited = data_files(tmp_path / "plain"), data_files(tmp_path / "edited")
    assert len(plain) == 3 * 8 and plain.keys() == edited.keys()
    assert {name for name in plain if plain[name] != edited[name]} == set()
