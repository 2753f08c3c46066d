"""Stage 6 diagnostics: off-target / source-language rates on real sentences, repetition, empty, too short."""
from __future__ import annotations

import json
from pathlib import Path

import py3langid
import pytest

from sst.bin import score
from sst.eval.diagnostics import Identifier, diagnose, has_repetition, letter_tokens, tokens
from sst.eval.scoring import score_experiment
from sst.testing.corpora import MINI_ST_CORPUS, read_covost_pairs
from sst.testing.decode_dirs import write_decode_dir
from sst.testing.sentences import SENTENCES

SOURCES = ("fr", "de", "es", "pt", "nl", "it")
RECIPE_LANGS = [*SOURCES, "en"]


def experiment(exp: Path, hyps_of: str) -> list[Path]:
    """X->en decode dirs of every source language; hypotheses: the source transcripts ("source") or the
    references ("reference")."""
    return [write_decode_dir(exp / "decode_test" / f"test_{src}_en", src, "en",
                             SENTENCES[src] if hyps_of == "source" else SENTENCES["en"], SENTENCES["en"])
            for src in SOURCES]


@pytest.mark.parametrize("lid_langs", [RECIPE_LANGS, None], ids=["recipe languages", "all languages"])
def test_source_transcripts_as_hypotheses_are_off_target_and_in_the_source_language(
        tmp_path: Path, lid_langs: list[str] | None) -> None:
    results = score_experiment(experiment(tmp_path / "exp", "source"), seen_langs=["fr", "de"], lid_langs=lid_langs)
    tag = results["tags"]["decode_test"]
    for name, row in tag["directions"].items():
        diagnostics = row["diagnostics"]
        assert diagnostics["n_identified"] == diagnostics["n_refs_identified"] == len(SENTENCES["en"]), name
        assert diagnostics["source_language"] >= 90 and diagnostics["off_target"] >= 90, (name, diagnostics)
        assert diagnostics["ref_lid_error"] <= 10, (name, diagnostics)
        assert diagnostics["repetition"] == diagnostics["empty"] == diagnostics["too_short"] == 0
    for label in ("avg seen", "avg zero-shot", "avg high", "avg mid", "avg all"):
        averages = tag["averages"][label]["diagnostics"]
        assert averages["source_language"] >= 90 and averages["off_target"] >= 90, label
    languages = results["language_identifier"]["languages"]
    assert languages == (sorted(RECIPE_LANGS) if lid_langs else Identifier().languages)
    assert results["language_identifier"]["name"] == "py3langid" and len(languages) == len(set(languages))


def test_references_as_hypotheses_are_on_target_and_the_identifier_error_is_reported(tmp_path: Path) -> None:
    results = score_experiment(experiment(tmp_path / "exp", "reference"), seen_langs=["fr", "de"],
                               lid_langs=RECIPE_LANGS)
    for name, row in results["tags"]["decode_test"]["directions"].items():
        diagnostics = row["diagnostics"]
        assert diagnostics["off_target"] <= 10 and diagnostics["source_language"] <= 10, (name, diagnostics)
        # the hypotheses are the references: their off-target rate is the identifier's own error
        assert diagnostics["ref_lid_error"] is not None and diagnostics["ref_lid_error"] == diagnostics["off_target"]
        assert diagnostics["length_ratio"] == pytest.approx(1)


def test_into_other_targets(tmp_path: Path) -> None:
    """en->X: English hypotheses are off target and in the source language; the right language is not."""
    identifier = Identifier(RECIPE_LANGS)
    for tgt in SOURCES:
        pairs = list(zip(SENTENCES["en"], SENTENCES[tgt]))
        copied = diagnose(pairs, "en", tgt, identifier)
        assert copied["off_target"] >= 90 and copied["source_language"] >= 90 and copied["ref_lid_error"] <= 10, tgt
        right = diagnose(zip(SENTENCES[tgt], SENTENCES[tgt]), "en", tgt, identifier)
        assert right["off_target"] <= 10 and right["source_language"] <= 10, tgt
    # a Portuguese output for German (fairseq#3906): off target, but not the source language
    wrong = diagnose(zip(SENTENCES["pt"], SENTENCES["de"]), "en", "de", identifier)
    assert wrong["off_target"] >= 90 and wrong["source_language"] <= 10


def test_repetition_empty_and_too_short_counts() -> None:
    assert tokens("Hello, WORLD! 12 我爱北京") == ["hello", "world", "12", "我", "爱", "北", "京"]
    assert letter_tokens("12 34, ok") == 1 and letter_tokens("我爱你") == 3
    assert has_repetition("the the the end")  # 1-gram, three times in a row
    assert has_repetition("I think that I think that I think that it works")  # 3-gram
    assert has_repetition("one two three four one two three four one two three four")  # 4-gram
    assert has_repetition("哈哈哈")
    assert not has_repetition("the the end of the the story")  # twice in a row only
    assert not has_repetition("a b c d e a b c d e a b c d e")  # a 5-gram loop is beyond n = 4
    assert not any(has_repetition(sentence) for lang in SENTENCES for sentence in SENTENCES[lang])

    ref = SENTENCES["en"][0]
    hyps = ["", "   ", "Yes.", "Yes, 42 times", "no no no no no", "It rains, it rains, it rains every day here.",
            *SENTENCES["en"][:4]]
    result = diagnose(((hyp, ref) for hyp in hyps), "fr", "en", Identifier(RECIPE_LANGS))
    assert (result["n_utts"], result["n_empty"], result["n_too_short"], result["n_repetition"]) == (10, 2, 2, 2)
    assert result["empty"] == pytest.approx(20) and result["too_short"] == pytest.approx(20)
    assert result["repetition"] == pytest.approx(20)
    assert result["n_identified"] == 6  # the two loops and the four sentences; empty and too short apart
    expected_ratio = sum(len(hyp.replace(" ", "")) for hyp in hyps) / (10 * len(ref.replace(" ", "")))
    assert result["length_ratio"] == pytest.approx(expected_ratio)


def test_identifier_restriction_and_unknown_languages(caplog: pytest.LogCaptureFixture) -> None:
    identifier = Identifier(["fr", "zh-CN", "xx"])
    assert identifier.languages == ["fr", "zh"] and identifier.knows("zh-CN") and not identifier.knows("en")
    assert "does not know xx" in caplog.text
    assert identifier.identify(SENTENCES["de"][0]) in ("fr", "zh")
    assert py3langid.classify(SENTENCES["de"][0])[0] == "de"  # the module's own identifier is not restricted
    assert Identifier(["fr"]).languages == Identifier().languages  # one language decides nothing: all of them
    # an unknown target: no off-target rate, the rest still counted
    result = diagnose(zip(SENTENCES["fr"], SENTENCES["fr"]), "fr", "xx", Identifier(["fr", "en", "xx"]))
    assert result["off_target"] is None and result["ref_lid_error"] is None
    assert result["source_language"] == pytest.approx(100) and result["empty"] == 0


def test_tables_carry_the_diagnostics(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """RESULTS.md and results.json of stage 6, and the side-by-side table of a copying and a translating
    experiment with the off-target and source-language rates on the zero-shot directions."""
    copier, translator = tmp_path / "exp" / "st_xlsr", tmp_path / "exp" / "st_samu"
    for exp, hyps_of in ((copier, "source"), (translator, "reference")):
        score.main(["--exp_dir", str(exp), "--decode_dirs", *map(str, experiment(exp, hyps_of)),
                    "--seen_langs", "fr de es it", "--lid_langs", " ".join(RECIPE_LANGS)])
    markdown = (copier / "RESULTS.md").read_text(encoding="utf-8")
    table = [[c.strip() for c in line.split("|")[1:-1]] for line in markdown.splitlines() if line.startswith("| ")]
    assert table[0][-7:] == ["off-target %", "LID err. refs %", "src-lang %", "repeat %", "empty %",
                             "too short %", "len ratio"]
    rows = {row[0]: dict(zip(table[0][1:], row[1:])) for row in table[1:]}
    assert float(rows["pt-en"]["off-target %"]) >= 90 and float(rows["pt-en"]["LID err. refs %"]) <= 10
    assert float(rows["**avg zero-shot**"]["src-lang %"]) >= 90 and rows["nl-en"]["empty %"] == "0.0"
    assert "- language identifier: `py3langid 0.4.0` over `de en es fr it nl pt`" in markdown
    assert "off-target % = identifiable hypotheses detected as another language" in markdown
    results = json.loads((copier / "results.json").read_text(encoding="utf-8"))
    zero_shot = results["tags"]["decode_test"]["averages"]["avg zero-shot"]["diagnostics"]
    assert zero_shot["off_target"] >= 90 and set(zero_shot) >= {"ref_lid_error", "length_ratio", "repetition"}

    capsys.readouterr()
    score.main(["--side_by_side", str(copier), str(translator), "--metrics", "BLEU", "off_target",
                "ref_lid_error", "source_language"])
    side = capsys.readouterr().out
    table = [[c.strip() for c in line.split("|")[1:-1]] for line in side.splitlines() if line.startswith("| ")]
    assert table[0] == ["direction", "group", "seen/zero-shot", "st_xlsr BLEU", "st_xlsr off-target %",
                        "st_xlsr LID err. refs %", "st_xlsr src-lang %", "st_samu BLEU", "st_samu off-target %",
                        "st_samu LID err. refs %", "st_samu src-lang %"]
    rows = {row[0]: row[1:] for row in table[1:]}
    for name in ("pt-en", "nl-en", "**avg zero-shot**"):
        copied, translated = rows[name][2:6], rows[name][6:10]
        assert float(copied[1]) >= 90 and float(copied[3]) >= 90, name
        assert float(translated[1]) <= 10 and float(translated[3]) <= 10 and translated[0] == "100.0", name
    assert rows["pt-en"][1] == "zero-shot" and rows["fr-en"][1] == "seen"
    assert "src-lang % = identifiable hypotheses detected as the source language" in side


def test_the_identifier_is_reliable_on_the_demo_test_sets() -> None:
    """mini_st's test sets (template sentences): every reference is identified as English and every source
    transcript as its language, so the demo's off-target rates are the models' own, not the identifier's."""
    identifier = Identifier([*SOURCES, "en"])
    pairs = read_covost_pairs(MINI_ST_CORPUS, ("test",))
    for src in SOURCES:
        texts = [(pair.source, pair.target) for pair in pairs if pair.lang == src]
        copied = diagnose(texts, src, "en", identifier)
        assert len(texts) >= 40 and copied["n_identified"] == len(texts), src
        assert copied["source_language"] >= 90 and copied["off_target"] >= 90, (src, copied)
        assert copied["ref_lid_error"] <= 10, (src, copied)
