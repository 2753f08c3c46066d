"""Stage 2: decoding, resampling, cutting and filtering to 16 kHz FLAC; reports, re-runs, --nj; combine_data."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sst.errors import ConfigError
from sst.testing.corpora import COVOST2_EXPECTED, EUROPARL_ST_EXPECTED, write_dump_config, write_mp3
from sst.bin import combine_data, dump_audio
from sst.data.audio import AudioDecodeError, load_audio, read_dumped, speech_loader_type
from sst.data.datadir import read_report, validate_dump_dir, write_data_dir
from sst.io import DataDirError, read_kv, write_kv


def dump(data_dir: Path, out: Path, *extra: str) -> None:
    config = write_dump_config(out.parent / "dump.yaml")
    dump_audio.main(["--data_dir", str(data_dir), "--output_dir", str(out), "--config", str(config), *extra])


@pytest.fixture(scope="module")
def dumps(covost2_data: Path, europarl_st_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stage-2 output of every fixture set (nj 1): ``<dir>/{covost,europarl}/<set>`` (read-only)."""
    out = tmp_path_factory.mktemp("dumps")
    for corpus, data, sets in (("covost", covost2_data, COVOST2_EXPECTED), ("europarl", europarl_st_data,
                                                                            EUROPARL_ST_EXPECTED)):
        (out / corpus).mkdir()
        for set_name in sets:
            dump(data / set_name, out / corpus / set_name)
    return out


CASES = [("covost", s, e) for s, e in COVOST2_EXPECTED.items()] + \
        [("europarl", s, e) for s, e in EUROPARL_ST_EXPECTED.items()]


@pytest.mark.parametrize("corpus, set_name, expected", CASES, ids=[f"{c}-{s}" for c, s, _ in CASES])
def test_dump_dir_content(dumps: Path, corpus: str, set_name: str, expected) -> None:
    out = dumps / corpus / set_name
    files = validate_dump_dir(out)
    assert sorted(files["wav.scp"]) == sorted(expected.num_samples)
    for utt, n in expected.num_samples.items():
        got = int(files["utt2num_samples"][utt])
        if n is None:
            low, high = expected.approx_samples[utt]
            assert low <= got <= high, utt
        else:
            assert got == n, utt
        info = sf.info(files["wav.scp"][utt])
        assert (info.samplerate, info.channels, info.frames, info.subtype, info.format) == \
            (16000, 1, got, "PCM_16", "FLAC")
        assert files["wav.scp"][utt] == str((out / "audio" / f"{utt}.flac").resolve())
        assert (files["transcript"][utt], files["translation"][utt]) == expected.stage1[utt]
    assert files["speech_shape"] == files["utt2num_samples"]
    for name in files:
        lines = (out / name).read_bytes().splitlines()
        assert lines == sorted(lines), name
    counts = read_report(out / "dump_report.txt")
    assert counts == {"kept": len(expected.num_samples), "skipped": sum(expected.stage2_skipped.values()),
                      **expected.stage2_skipped}


def test_texts_carried_exactly(dumps: Path) -> None:
    out = dumps / "covost" / "train_fr_en"
    assert read_kv(out / "transcript")["fr-en-common_voice_fr_100002"] == "Le fichier C:\\dossier\\a b est là."
    assert read_kv(out / "translation")["fr-en-common_voice_fr_100001"] == 'He said "hello" to everyone.'
    assert set(read_kv(out / "utt2lang").values()) == {"fr"} and set(read_kv(out / "utt2tgt_lang").values()) == {"en"}


def _peak_hz(path: str) -> float:
    audio, rate = sf.read(path)
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.argmax(spectrum) * rate / len(audio))


def test_audio_is_resampled_not_just_relabelled(dumps: Path) -> None:
    """Fixture clips are 440 Hz tones (stereo m4a: 440 + 660 Hz), so the peak must stay there at 16 kHz."""
    covost = read_kv(dumps / "covost" / "train_fr_en" / "wav.scp")
    assert abs(_peak_hz(covost["fr-en-common_voice_fr_100001"]) - 440) < 2
    europarl = read_kv(dumps / "europarl" / "train_fr_en" / "wav.scp")
    assert abs(_peak_hz(next(iter(europarl.values()))) - 440) < 3


def test_nj2_same_as_nj1(dumps: Path, covost2_data: Path, europarl_st_data: Path, tmp_path: Path) -> None:
    for corpus, data in (("covost", covost2_data), ("europarl", europarl_st_data)):
        reference, out = dumps / corpus / "train_fr_en", tmp_path / corpus / "train_fr_en"
        out.parent.mkdir()
        dump(data / "train_fr_en", out, "--nj", "2")
        for name in ("utt2num_samples", "speech_shape", "transcript", "translation", "utt2lang", "utt2tgt_lang",
                     "utt2spk", "dump_report.txt"):
            assert (out / name).read_bytes() == (reference / name).read_bytes(), name
        assert (out / "wav.scp").read_text() == (reference / "wav.scp").read_text().replace(
            str(reference.resolve()), str(out.resolve()))
        for flac in (reference / "audio").glob("*.flac"):
            assert np.array_equal(sf.read(flac)[0], sf.read(out / "audio" / flac.name)[0])


@pytest.mark.parametrize("corpus, data_fixture", [("covost", "covost2_data"), ("europarl", "europarl_st_data")])
def test_kaldi_archive_dump_holds_the_same_audio(dumps: Path, corpus: str, data_fixture: str, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    from espnet2.train.dataset import ESPnetDataset

    data = request.getfixturevalue(data_fixture) / "train_fr_en"
    reference, out = dumps / corpus / "train_fr_en", tmp_path / "train_fr_en"
    config = write_dump_config(tmp_path / "dump.yaml")
    config.write_text(config.read_text() + "audio_format: flac.ark\n")
    dump_audio.main(["--data_dir", str(data), "--output_dir", str(out), "--config", str(config), "--nj", "2"])
    for name in ("utt2num_samples", "speech_shape", "transcript", "translation", "dump_report.txt"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert not list((out / "audio").glob("*.flac"))
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["audio.00000.ark", "audio.00000.tsv"]
    entries, flacs = read_kv(out / "wav.scp"), read_kv(reference / "wav.scp")
    assert sorted(entries) == sorted(flacs)
    assert all(entry.startswith(f"{(out / 'audio' / 'audio.00000.ark').resolve()}:") for entry in entries.values())
    assert speech_loader_type(out) == "kaldi_ark" and speech_loader_type(reference) == "sound"
    # what stage 5 / samu_eval read, and what ESPnet's training loader reads: the FLAC dump's samples
    espnet = ESPnetDataset([(str(out / "wav.scp"), "speech", "kaldi_ark")])
    for utt, flac in flacs.items():
        samples = sf.read(flac, dtype="float32")[0]
        assert np.array_equal(read_dumped(entries[utt]), samples), utt
        assert np.array_equal(espnet[utt][1]["speech"], samples), utt
    # a rerun reuses finished archives; an archive without its index is written again
    (out / ".provenance" / "dump_audio.json").unlink()
    ark = out / "audio" / "audio.00000.ark"
    before = ark.stat().st_mtime_ns
    dump_audio.main(["--data_dir", str(data), "--output_dir", str(out), "--config", str(config)])
    assert ark.stat().st_mtime_ns == before
    (out / ".provenance" / "dump_audio.json").unlink()
    (out / "audio" / "audio.00000.tsv").unlink()
    dump_audio.main(["--data_dir", str(data), "--output_dir", str(out), "--config", str(config)])
    rewritten = read_kv(out / "wav.scp")  # in the order the recordings were cut: offsets may differ
    assert ark.stat().st_mtime_ns != before and sorted(rewritten) == sorted(entries)
    assert all(np.array_equal(read_dumped(rewritten[utt]), sf.read(flac, dtype="float32")[0])
               for utt, flac in flacs.items())


def test_rerun_does_no_work_and_resumes(europarl_st_data: Path, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    out = tmp_path / "test_fr_en"
    dump(europarl_st_data / "test_fr_en", out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    caplog.clear()
    dump(europarl_st_data / "test_fr_en", out)
    assert "already done" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes
    # an interrupted run: no record of a finished dump, one FLAC missing -> only that one is written again
    (out / ".provenance" / "dump_audio.json").unlink()
    flacs = sorted((out / "audio").glob("*.flac"))
    flacs[0].unlink()
    dump(europarl_st_data / "test_fr_en", out)
    assert flacs[0].is_file() and flacs[1].stat().st_mtime_ns == mtimes[flacs[1]]
    assert sf.info(flacs[0]).frames == int(read_kv(out / "utt2num_samples")[flacs[0].stem])
    # other settings are another run: the sample rate changes, and the FLACs are rewritten
    dump(europarl_st_data / "test_fr_en", out, "--sample_rate", "8000")
    assert sorted(read_kv(out / "utt2num_samples").values()) == ["4000", "8000"]
    assert sf.info(flacs[1]).samplerate == 8000


def test_config_file_and_overrides(covost2_data: Path, tmp_path: Path) -> None:
    config = write_dump_config(tmp_path / "dump.yaml", min_duration=0.1, max_duration=0.9)
    out = tmp_path / "out"
    dump_audio.main(["--data_dir", str(covost2_data / "train_fr_en"), "--output_dir", str(out),
                     "--config", str(config)])
    assert read_report(out / "dump_report.txt") == {"kept": 3, "skipped": 1, "too long": 1}
    assert read_kv(out / "utt2num_samples")["fr-en-common_voice_fr_100005"] == "3200"
    dump_audio.main(["--data_dir", str(covost2_data / "train_fr_en"), "--output_dir", str(out),
                     "--config", str(config), "--max_duration", "2", "--min_duration", "0.6"])
    assert read_report(out / "dump_report.txt") == {"kept": 2, "skipped": 2, "too short": 2}
    (tmp_path / "bad.yaml").write_text("sample_rate: 16000\nmax_durration: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key\(s\) max_durration"):
        dump_audio.main(["--data_dir", str(covost2_data / "train_fr_en"), "--output_dir", str(out),
                         "--config", str(tmp_path / "bad.yaml")])


def test_several_sets_in_one_call_match_one_call_each(covost2_data: Path, dumps: Path, tmp_path: Path) -> None:
    config = write_dump_config(tmp_path / "dump.yaml")
    sets = ("train_fr_en", "dev_fr_en")
    dump_audio.main(["--data_dir", *(str(covost2_data / s) for s in sets),
                     "--output_dir", *(str(tmp_path / s) for s in sets), "--config", str(config)])
    for set_name in sets:
        for name in ("utt2num_samples", "transcript", "translation", "dump_report.txt"):
            assert (tmp_path / set_name / name).read_text() == (dumps / "covost" / set_name / name).read_text()
    with pytest.raises(SystemExit):
        dump_audio.main(["--data_dir", *(str(covost2_data / s) for s in sets),
                         "--output_dir", str(tmp_path / "x"), "--config", str(config)])


def test_bad_audio_is_skipped_and_counted(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    write_mp3(clips / "good.mp3", 0.5)
    (clips / "zero.mp3").write_bytes(b"")
    (clips / "junk.wav").write_bytes(b"RIFF\x00\x00junk" * 10)
    (clips / "silence.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 64)
    names = {"a-good": "good.mp3", "b-zero": "zero.mp3", "c-junk": "junk.wav", "d-gone": "gone.mp3",
             "e-broken-m4a": "silence.m4a"}
    utts = sorted(names)
    write_data_dir(tmp_path / "data", {u: str(clips / names[u]) for u in utts},
                   {"fr": {u: "texte" for u in utts}, "en": {u: "text" for u in utts}},
                   {u: "spk" for u in utts}, {u: "fr" for u in utts}, {u: "en" for u in utts})
    dump(tmp_path / "data", tmp_path / "dump")
    assert read_kv(tmp_path / "dump" / "utt2num_samples") == {"a-good": "8000"}
    assert read_report(tmp_path / "dump" / "dump_report.txt") == {
        "kept": 1, "skipped": 4, "zero-byte audio": 1, "undecodable audio": 2, "audio missing": 1}
    with pytest.raises(AudioDecodeError, match="cannot decode"):
        load_audio(clips / "junk.wav")


def test_invalid_data_dir_is_refused(covost2_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(covost2_data / "dev_fr_en", data)
    (data / "text.en").write_text("fr-en-common_voice_fr_100006 Good evening.\n")
    with pytest.raises(DataDirError, match=r"text\.en: key fr-en-common_voice_fr_100008 .* is missing"):
        dump(data, tmp_path / "dump")
    assert not (tmp_path / "dump").exists()


def test_combine_data(dumps: Path, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    fr, de = tmp_path / "train_fr_en", tmp_path / "train_de_en"
    shutil.copytree(dumps / "covost" / "train_fr_en", fr)
    shutil.copytree(dumps / "covost" / "train_de_en", de)
    write_kv(fr / "text_int", {u: "250004 17 2" for u in read_kv(fr / "wav.scp")})  # only in one input
    out = tmp_path / "train_multi"
    combine_data.main(["--output_dir", str(out), str(fr), str(de)])
    files = validate_dump_dir(out)
    assert set(files) == {"wav.scp", "utt2num_samples", "speech_shape", "transcript", "translation", "utt2lang",
                          "utt2tgt_lang", "utt2spk"}
    assert files["utt2lang"] == {**read_kv(fr / "utt2lang"), **read_kv(de / "utt2lang")}
    assert sorted(files["utt2lang"].values()) == ["de", "de", "fr", "fr", "fr"]
    assert "text_int not in every input" in caplog.text
    lines = (out / "transcript").read_bytes().splitlines()
    assert lines == sorted(lines) and len(lines) == 5
    mtime = (out / "wav.scp").stat().st_mtime_ns
    caplog.clear()
    combine_data.main(["--output_dir", str(out), str(fr), str(de)])
    assert "already done" in caplog.text and (out / "wav.scp").stat().st_mtime_ns == mtime
    with pytest.raises(DataDirError, match=r"utterance de-en-common_voice_de_200001 is in both"):
        combine_data.main(["--output_dir", str(tmp_path / "dup"), str(de), str(dumps / "covost" / "train_de_en")])
