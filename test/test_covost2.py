"""Stage 1 for CoVoST-2: the real TSV layout and escaping, skip counts, re-runs, language codes."""
from __future__ import annotations

import codecs
import logging
import os
import shutil
from pathlib import Path

import pytest

from sst.data.corpus import CorpusError
from sst.errors import ConfigError
from sst.testing.corpora import COVOST_COLUMNS, Covost2Corpus, data_files, write_tsv
from sst.bin import prepare_covost2
from sst.data import covost2
from sst.data.datadir import read_report, validate_data_dir
from sst.io import read_kv

SETS = ["train_fr_en", "dev_fr_en", "test_fr_en", "train_de_en", "dev_de_en", "test_de_en"]


def prepare(corpus: Covost2Corpus, out: Path, *extra: str, covost_dir: Path | None = None) -> None:
    prepare_covost2.main(["--covost_dir", str(covost_dir or corpus.covost_dir), "--commonvoice_dir",
                          str(corpus.commonvoice_dir), "--output_dir", str(out), *extra])


@pytest.mark.parametrize("set_name", SETS)
def test_texts_and_ids_exactly(covost2_corpus: Covost2Corpus, covost2_data: Path, set_name: str) -> None:
    expected = covost2_corpus.expected[set_name]
    src = set_name.split("_")[1]
    data = validate_data_dir(covost2_data / set_name)
    assert data.utts == sorted(expected.stage1)
    assert {u: (data.transcript(u), data.translation(u)) for u in data.utts} == expected.stage1
    assert set(data.texts) == {src, "en"}
    assert set(data.utt2lang.values()) == {src} and set(data.utt2tgt_lang.values()) == {"en"}
    for utt, clip in data.wav_scp.items():
        assert Path(clip).is_absolute() and Path(clip).is_file()
        assert Path(clip) == (covost2_corpus.commonvoice_dir / src / "clips" / f"{utt[6:]}.mp3").resolve()
    assert (covost2_data / set_name / "segments").exists() is False


def test_quotes_and_escapes_survive(covost2_data: Path) -> None:
    """The TSV has \\" for quotes, \\\\ for backslashes and backslash-tab; the data dir has the plain text."""
    text_fr = (covost2_data / "train_fr_en" / "text.fr").read_text(encoding="utf-8").splitlines()
    assert 'fr-en-common_voice_fr_100001 Il a dit "bonjour" à tous.' in text_fr
    assert "fr-en-common_voice_fr_100002 Le fichier C:\\dossier\\a b est là." in text_fr
    text_en = read_kv(covost2_data / "train_fr_en" / "text.en")
    assert text_en["fr-en-common_voice_fr_100002"] == 'The file C:\\folder\\a b is "here".'


@pytest.mark.parametrize("set_name", SETS)
def test_skip_reports(covost2_corpus: Covost2Corpus, covost2_data: Path, set_name: str) -> None:
    expected = covost2_corpus.expected[set_name]
    counts = read_report(covost2_data / set_name / "skip_report.txt")
    assert counts == {"kept": len(expected.stage1), "skipped": sum(expected.stage1_skipped.values()),
                      **expected.stage1_skipped}


def test_files_sorted_and_speakers(covost2_data: Path) -> None:
    for name in ("wav.scp", "text.fr", "text.en", "utt2spk", "utt2lang", "utt2tgt_lang"):
        lines = (covost2_data / "train_fr_en" / name).read_bytes().splitlines()
        assert lines == sorted(lines) and len(lines) == 4
    assert read_kv(covost2_data / "train_fr_en" / "utt2spk")["fr-en-common_voice_fr_100001"] == "cdfr00" + "f" * 16


def test_train_covost_rows_go_to_train(covost2_data: Path) -> None:
    assert "fr-en-common_voice_fr_100003" in read_kv(covost2_data / "train_fr_en" / "wav.scp")


def test_skip_logged(covost2_corpus: Covost2Corpus, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    prepare(covost2_corpus, tmp_path, "--src_lang", "fr", "--tgt_lang", "en", "--splits", "test")
    assert ("test_fr_en (stage 1, CoVoST-2): kept 1, skipped 3 (clip missing: 1, empty transcript: 1, "
            "not in validated.tsv: 1)") in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_fr_en"]


def test_rerun_does_no_work(covost2_corpus: Covost2Corpus, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    args = ("--src_lang", "de", "--tgt_lang", "en", "--splits", "train", "dev")
    covost_dir = tmp_path / "covost"
    shutil.copytree(covost2_corpus.covost_dir, covost_dir)
    prepare(covost2_corpus, tmp_path / "data", *args, covost_dir=covost_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "data").rglob("*")}
    caplog.clear()
    prepare(covost2_corpus, tmp_path / "data", *args, covost_dir=covost_dir)
    assert caplog.text.count("already done") == 2
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "data").rglob("*")} == mtimes
    # a touched but unchanged TSV is the same input; an edited one makes it run again
    tsv = covost_dir / "covost_v2.de_en.tsv"
    os.utime(tsv, ns=(tsv.stat().st_atime_ns, tsv.stat().st_mtime_ns + 10**9))
    caplog.clear()
    prepare(covost2_corpus, tmp_path / "data", *args, covost_dir=covost_dir)
    assert caplog.text.count("already done") == 2
    header, first, *rest = tsv.read_text(encoding="utf-8").splitlines(keepends=True)
    tsv.write_text(header + first.rstrip("\n") + "x\n" + "".join(rest), encoding="utf-8")
    caplog.clear()
    prepare(covost2_corpus, tmp_path / "data", *args, covost_dir=covost_dir)
    assert "already done" not in caplog.text and "wrote" in caplog.text


def test_unknown_language_code(covost2_corpus: Covost2Corpus, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown CoVoST-2 language code 'xx'; known: .*\bfr\b"):
        prepare(covost2_corpus, tmp_path, "--src_lang", "xx", "--tgt_lang", "en")
    with pytest.raises(ConfigError, match=r"CoVoST-2 has no direction fr->de"):
        prepare(covost2_corpus, tmp_path, "--src_lang", "fr", "--tgt_lang", "de")
    assert covost2.direction("zh", "en") == ("zh-CN", "en")
    assert covost2.direction("en", "sv") == ("en", "sv-SE")


def test_missing_inputs_are_named(covost2_corpus: Covost2Corpus, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"covost_v2\.es_en\.tsv: missing; download"):
        prepare(covost2_corpus, tmp_path, "--src_lang", "es", "--tgt_lang", "en")
    (tmp_path / "covost").mkdir()
    shutil.copy(covost2_corpus.covost_dir / "covost_v2.fr_en.tsv", tmp_path / "covost" / "covost_v2.ca_en.tsv")
    with pytest.raises(CorpusError, match=r"ca/validated\.tsv: missing"):
        prepare(covost2_corpus, tmp_path / "data", "--src_lang", "ca", "--tgt_lang", "en",
                covost_dir=tmp_path / "covost")


def test_malformed_row_names_file_and_line(covost2_corpus: Covost2Corpus, tmp_path: Path) -> None:
    covost_dir = tmp_path / "covost"
    write_tsv(covost_dir / "covost_v2.fr_en.tsv", COVOST_COLUMNS,
              [("common_voice_fr_100001.mp3", "a", "b", "c", "train"), ("common_voice_fr_100002.mp3", "a", "b")])
    with pytest.raises(CorpusError, match=r"covost_v2\.fr_en\.tsv:3: 3 fields, the header has 5"):
        prepare(covost2_corpus, tmp_path / "data", "--src_lang", "fr", "--tgt_lang", "en", covost_dir=covost_dir)
    write_tsv(covost_dir / "covost_v2.fr_en.tsv", ("path", "sentence"), [("x.mp3", "a")])
    with pytest.raises(CorpusError, match=r"covost_v2\.fr_en\.tsv:1: header lacks column\(s\) translation"):
        prepare(covost2_corpus, tmp_path / "data", "--src_lang", "fr", "--tgt_lang", "en", covost_dir=covost_dir)


# validated.tsv of a recent Common Voice release (cv-corpus-17.0 and later)
NEW_CV_COLUMNS = ("client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
                  "age", "gender", "accents", "variant", "locale", "segment")


def test_later_common_voice_release(covost2_corpus: Covost2Corpus, tmp_path: Path) -> None:
    """A later release: validated.tsv in the new schema (extra columns, a sentence another writer did not
    escape) and one CoVoST clip the release lacks, which is skipped and counted."""
    release = tmp_path / "cv-corpus-17.0-2024-03-15"
    shutil.copytree(covost2_corpus.commonvoice_dir / "fr", release / "fr")
    old = list(covost2.read_tsv(release / "fr" / "validated.tsv", ("path",)))
    lacking = "common_voice_fr_100003.mp3"  # a train_covost row that stage 1 keeps from the v4 tree
    rows = [(row["client_id"], row["path"], f"{index:064x}", row["sentence"] + ' ends in \\', "", "2", "0", "", "",
             "", "", "fr", "") for index, (_, row) in enumerate(old) if row["path"] != lacking]
    (release / "fr" / "clips" / lacking).unlink()
    with open(release / "fr" / "validated.tsv", "w", encoding="utf-8") as f:  # no escaping at all
        f.write("\t".join(NEW_CV_COLUMNS) + "\n" + "".join("\t".join(row) + "\n" for row in rows))
    out = tmp_path / "data"
    prepare_covost2.main(["--covost_dir", str(covost2_corpus.covost_dir), "--commonvoice_dir", str(release),
                          "--src_lang", "fr", "--tgt_lang", "en", "--output_dir", str(out)])
    for name in ("train_fr_en", "dev_fr_en", "test_fr_en"):
        expected = covost2_corpus.expected[name]
        kept = {utt for utt in expected.stage1 if lacking[:-4] not in utt}
        assert sorted(read_kv(out / name / "text.en")) == sorted(kept), name
        skipped = dict(expected.stage1_skipped)
        if len(kept) < len(expected.stage1):
            skipped[covost2.NOT_IN_RELEASE] = 1
        assert read_report(out / name / "skip_report.txt") == {"kept": len(kept), "skipped": sum(skipped.values()),
                                                               **skipped}, name


def test_bom_and_crlf_tsvs_prepare_the_same_data_dir(covost2_corpus: Covost2Corpus, tmp_path: Path) -> None:
    """A TSV a spreadsheet program saved (UTF-8 BOM first, CRLF line ends) reads as its text says."""
    args = ("--src_lang", "fr", "--tgt_lang", "en")
    prepare(covost2_corpus, tmp_path / "plain", *args)
    covost_dir = tmp_path / "covost"
    shutil.copytree(covost2_corpus.covost_dir, covost_dir)
    tsv = covost_dir / "covost_v2.fr_en.tsv"
    tsv.write_bytes(codecs.BOM_UTF8 + tsv.read_bytes().replace(b"\n", b"\r\n"))
    prepare(covost2_corpus, tmp_path / "spreadsheet", *args, covost_dir=covost_dir)
    plain, spreadsheet = data_files(tmp_path / "plain"), data_files(tmp_path / "spreadsheet")
    assert len(plain) == 3 * 7 and plain.keys() == spreadsheet.keys()
    assert {name for name in plain if plain[name] != spreadsheet[name]} == set()
    validated = covost2_corpus.commonvoice_dir / "fr" / "validated.tsv"
    spreadsheet_validated = tmp_path / "validated.tsv"
    spreadsheet_validated.write_bytes(codecs.BOM_UTF8 + validated.read_bytes().replace(b"\n", b"\r\n"))
    assert covost2.read_validated(spreadsheet_validated) == covost2.read_validated(validated)
