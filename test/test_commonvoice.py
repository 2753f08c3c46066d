"""SAMU data from a Common Voice release (--samu_data commonvoice): no CoVoST-2 dev/test clip and no other
reading of a dev/test sentence is selected; --samu_hours takes the same clips for the same seed and at most
that many hours per language; a change of hours, seed or inputs re-runs the selection."""
from __future__ import annotations

import logging
import shutil
import unicodedata
from pathlib import Path

import pytest

from sst.bin import prepare_commonvoice
from sst.data.commonvoice import HELD_OUT_CLIP, HELD_OUT_SENTENCE, OVER_CAP, normalize_sentence, seeded_order
from sst.data.datadir import read_report, validate_data_dir
from sst.testing.corpora import CommonVoiceRelease, make_commonvoice_release

CAP_SECONDS = 2.0


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> CommonVoiceRelease:
    """The fixture release (read-only)."""
    return make_commonvoice_release(tmp_path_factory.mktemp("commonvoice_release"))


def prepare(release: CommonVoiceRelease, out: Path, lang: str, *extra: str) -> dict[str, str]:
    """Run stage 1 for one language; returns the selected utterances' clip names -> transcript."""
    prepare_commonvoice.main(["--commonvoice_dir", str(release.commonvoice_dir), "--covost_dir",
                              str(release.covost_dir), "--lang", lang, "--output_dir", str(out), *extra])
    data = validate_data_dir(out)
    return {Path(data.wav_scp[utt]).name: data.transcript(utt) for utt in data.utts}


@pytest.mark.parametrize("lang", ["fr", "de", "pl"])
def test_no_dev_test_clip_nor_rereading(release: CommonVoiceRelease, tmp_path: Path, lang: str) -> None:
    selected = prepare(release, tmp_path / lang, lang)
    assert set(selected) == set(release.usable[lang])
    assert not set(selected) & release.held_out.get(lang, set())
    data = validate_data_dir(tmp_path / lang)
    assert set(data.utt2lang.values()) == set(data.utt2tgt_lang.values()) == {lang}
    assert all(Path(clip).is_absolute() for clip in data.wav_scp.values())
    counts = read_report(tmp_path / lang / "skip_report.txt")
    assert counts["kept"] == len(release.usable[lang])
    rereadings = {"fr": 3, "de": 1, "pl": 0}[lang]
    assert counts.get(HELD_OUT_SENTENCE, 0) == rereadings
    assert counts.get(HELD_OUT_CLIP, 0) == len(release.held_out.get(lang, ())) - rereadings


def test_transcripts_as_in_validated(release: CommonVoiceRelease, tmp_path: Path) -> None:
    selected = prepare(release, tmp_path, "fr")
    assert selected["common_voice_fr_100001.mp3"] == 'Il a dit "bonjour" à tous.'
    assert selected["common_voice_fr_300004.mp3"] == "bonjour à tous !"  # another reading of a train sentence


@pytest.mark.parametrize("lang", ["fr", "de"])  # fr: clip_durations.tsv, de: the clips' headers
def test_hours_cap_same_seed_same_clips(release: CommonVoiceRelease, tmp_path: Path, lang: str) -> None:
    hours = str(CAP_SECONDS / 3600)
    first = prepare(release, tmp_path / "a", lang, "--hours", hours, "--seed", "3")
    again = prepare(release, tmp_path / "b", lang, "--hours", hours, "--seed", "3")
    assert first == again and first
    seconds = sum(release.usable[lang][clip] for clip in first)
    assert seconds <= CAP_SECONDS
    assert len(first) < len(release.usable[lang]) and not set(first) & release.held_out[lang]
    # the clips are taken in the seed's order until the next one would pass the cap
    order = seeded_order(list(release.usable[lang]), 3)
    fits = next(n for n in range(len(order) + 1)
                if n == len(order) or sum(release.usable[lang][clip] for clip in order[:n + 1]) > CAP_SECONDS)
    assert set(first) == set(order[:fits])
    assert read_report(tmp_path / "a" / "skip_report.txt")[OVER_CAP] > 0


def test_another_seed_selects_other_clips(release: CommonVoiceRelease, tmp_path: Path) -> None:
    hours = str(CAP_SECONDS / 3600)
    by_seed = [prepare(release, tmp_path / str(seed), "fr", "--hours", hours, "--seed", str(seed))
               for seed in (0, 1)]
    assert by_seed[0] != by_seed[1]
    assert all(sum(release.usable["fr"][clip] for clip in clips) <= CAP_SECONDS for clips in by_seed)


def test_selection_does_not_depend_on_row_order(release: CommonVoiceRelease, tmp_path: Path) -> None:
    """A release whose validated.tsv lists the rows in another order selects the same clips for a seed."""
    hours = str(CAP_SECONDS / 3600)
    copy = tmp_path / "release"
    shutil.copytree(release.commonvoice_dir / "de", copy / "de")
    validated = copy / "de" / "validated.tsv"
    header, *rows = validated.read_text(encoding="utf-8").splitlines(keepends=True)
    validated.write_text(header + "".join(reversed(rows)), encoding="utf-8")
    reordered = CommonVoiceRelease(release.covost_dir, copy, release.usable, release.held_out, ())
    assert (prepare(reordered, tmp_path / "reordered", "de", "--hours", hours)
            == prepare(release, tmp_path / "original", "de", "--hours", hours))


def test_selection_rerun_only_when_inputs_or_options_change(release: CommonVoiceRelease, tmp_path: Path,
                                                             caplog) -> None:
    caplog.set_level(logging.INFO)
    out = tmp_path / "cv_fr"
    hours = str(CAP_SECONDS / 3600)
    prepare(release, out, "fr", "--hours", hours, "--seed", "0")
    for options, redone in ((("--hours", hours, "--seed", "0"), False), (("--hours", hours, "--seed", "1"), True),
                            (("--hours", str(2 * CAP_SECONDS / 3600), "--seed", "1"), True),
                            (("--seed", "1"), True), (("--seed", "1"), False)):
        caplog.clear()
        prepare(release, out, "fr", *options)
        assert ("already done" not in caplog.text) == redone, options
        assert ("wrote" in caplog.text) == redone, options


def test_missing_covost_tsv_is_named(release: CommonVoiceRelease, tmp_path: Path) -> None:
    """Without the TSV of a direction from the language, its test set could leak: stop, naming it."""
    with pytest.raises(FileNotFoundError, match=r"covost_v2\.fr_en\.tsv: missing"):
        prepare_commonvoice.main(["--commonvoice_dir", str(release.commonvoice_dir), "--covost_dir",
                                  str(tmp_path), "--lang", "fr", "--output_dir", str(tmp_path / "out")])
    with pytest.raises(FileNotFoundError, match=r"xx/validated\.tsv: missing"):
        prepare(release, tmp_path / "out", "xx")


def test_normalize_sentence() -> None:
    assert normalize_sentence("  « L’homme,  dit-il ! »\t") == "l homme dit il"
    assert normalize_sentence(unicodedata.normalize("NFD", "Straße ÉTÉ.")) == "strasse été"
    assert normalize_sentence("...") == ""
