"""Stage 6 scoring: metrics per direction, averages, errors, RESULTS.md/results.json, bootstrap, side by side."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU

from sst.bin import score
from sst.io import write_kv
from sst.eval.scoring import paired_bootstrap, score_corpus, score_experiment
from sst.testing.decode_dirs import write_decode_dir

REFS = {"en": ["The cat sat on the mat.", "It is raining again today.", "We will meet tomorrow morning."],
        "zh": ["我爱北京天安门", "今天天气很好", "明天早上见"]}
WRONG = ["qqq zzz", "xxx vvv", "jjj kkk"]  # no character or word in common with the English references


def make_decode_dir(path: Path, src: str, tgt: str, hyps: list[str], refs: list[str] | None = None,
                    ids: list[str] | None = None) -> Path:
    """A decode dir as sst.bin.st_inference writes it (references: ``REFS[tgt]`` unless given)."""
    return write_decode_dir(path, src, tgt, hyps, REFS[tgt] if refs is None else refs, ids)


def test_perfect_hypothesis_scores() -> None:
    scores = score_corpus(REFS["en"], REFS["en"], "en")
    assert scores["BLEU"] == pytest.approx(100.0)
    assert scores["chrF++"] == pytest.approx(100.0)
    assert scores["TER"] == pytest.approx(0.0)
    assert "tok:13a" in scores["signatures"]["BLEU"] and "case:mixed" in scores["signatures"]["BLEU"]
    assert "nw:2" in scores["signatures"]["chrF++"]
    wrong = score_corpus(WRONG, REFS["en"], "en")
    assert (wrong["BLEU"], wrong["chrF++"]) == (0.0, 0.0)


def test_zh_target_uses_character_tokenisation() -> None:
    hyps = ["我爱北京", "今天天气很好", "明天见"]
    scores = score_corpus(hyps, REFS["zh"], "zh")
    assert "tok:char" in scores["signatures"]["BLEU"]
    assert "asian:yes" in scores["signatures"]["TER"]
    word_level = BLEU(tokenize="13a").corpus_score(hyps, [REFS["zh"]]).score
    assert scores["BLEU"] > 0 and scores["BLEU"] != pytest.approx(word_level)
    # Same check through the decode-dir path, which takes the target from utt2tgt_lang.
    assert score_corpus(hyps, REFS["zh"], "zh-CN")["BLEU"] == pytest.approx(scores["BLEU"])


def test_mismatched_ids_raise_one_clear_error(tmp_path: Path) -> None:
    ddir = make_decode_dir(tmp_path / "decode_test" / "test_fr_en", "fr", "en", REFS["en"])
    hyp = {f"fr-en-{i:03d}": REFS["en"][i] for i in (0, 1)} | {"fr-en-999": "extra"}
    write_kv(ddir / "hyp", hyp)
    with pytest.raises(ValueError) as error:
        score_experiment([ddir])
    message = str(error.value)
    assert str(ddir) in message
    assert "1 ids are in hyp but missing from ref (e.g. fr-en-999)" in message
    assert "1 are in ref but missing from hyp (e.g. fr-en-002)" in message

    (ddir / "utt2lang").unlink()
    with pytest.raises(FileNotFoundError, match="missing utt2lang"):
        score_experiment([ddir])


def test_duplicate_utterance_in_one_tag_is_an_error(tmp_path: Path) -> None:
    a = make_decode_dir(tmp_path / "decode_test" / "a", "fr", "en", REFS["en"])
    b = make_decode_dir(tmp_path / "decode_test" / "b", "fr", "en", REFS["en"])
    with pytest.raises(ValueError, match="fr-en-000 is in two decode dirs of tag decode_test"):
        score_experiment([a, b])


def _experiment(exp: Path, tag: str = "decode_test") -> list[Path]:
    """fr-en 100, de-en 0 (high); es-en 100 (high); it-en 100 (mid); et-en 0 (low); fr-en split in two dirs."""
    dirs = [make_decode_dir(exp / tag / "test_fr_en_a", "fr", "en", REFS["en"][:2], REFS["en"][:2]),
            make_decode_dir(exp / tag / "test_fr_en_b", "fr", "en", REFS["en"][2:], REFS["en"][2:],
                            ids=["fr-en-900"])]
    for src, good in (("de", False), ("es", True), ("it", True), ("et", False)):
        dirs.append(make_decode_dir(exp / tag / f"test_{src}_en", src, "en", REFS["en"] if good else WRONG))
    return dirs


def test_group_and_seen_averages(tmp_path: Path) -> None:
    results = score_experiment(_experiment(tmp_path / "exp"), seen_langs=["fr", "de"])
    tag = results["tags"]["decode_test"]
    directions, averages = tag["directions"], tag["averages"]
    assert list(directions) == ["de-en", "es-en", "fr-en", "it-en", "et-en"]
    assert directions["fr-en"]["n_utts"] == 3 and directions["fr-en"]["BLEU"] == pytest.approx(100)
    assert len(directions["fr-en"]["decode_dirs"]) == 2
    assert [directions[d]["seen"] for d in directions] == [True, False, True, False, False]
    expected_bleu = {"avg high": 200 / 3, "avg mid": 100, "avg low": 0, "avg seen": 50,
                     "avg zero-shot": 200 / 3, "avg all": 60}
    assert {k: v["BLEU"] for k, v in averages.items()} == pytest.approx(expected_bleu)
    assert averages["avg high"]["TER"] == pytest.approx(100 / 3)
    assert averages["avg high"]["n_utts"] == 9 and averages["avg high"]["n_directions"] == 3
    assert averages["avg all"]["n_utts"] == 15
    # TRFGap by hand: avg high (100 + 0 + 100) / 3 minus avg mid 100 and minus avg low 0
    assert tag["trfgap"] == pytest.approx({"high-mid": 200 / 3 - 100, "high-low": 200 / 3})

    all_seen = score_experiment(_experiment(tmp_path / "exp"))["tags"]["decode_test"]
    assert all(d["seen"] for d in all_seen["directions"].values())
    assert list(all_seen["averages"]) == ["avg high", "avg mid", "avg low", "avg all"]


def test_cli_writes_results_md_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = tmp_path / "exp" / "st_a"
    dirs = _experiment(exp) + [make_decode_dir(exp / "decode_dev" / "dev_en_zh", "en", "zh", REFS["zh"])]
    score.main(["--exp_dir", str(exp), "--decode_dirs", *map(str, dirs), "--seen_langs", "fr de"])
    markdown = (exp / "RESULTS.md").read_text(encoding="utf-8")
    assert capsys.readouterr().out == markdown
    assert "- sacrebleu version: `2.6.0`" in markdown
    assert "--seen_langs 'fr de'" in markdown
    assert markdown.index("## decode_dev") < markdown.index("## decode_test")
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in markdown.splitlines() if line.startswith("| ")}
    assert rows["fr-en"][:6] == ["high", "seen", "3", "100.0", "100.0", "0.0"]
    assert rows["et-en"][:4] == ["low", "zero-shot", "3", "0.0"]
    assert rows["en-zh"][:4] == ["zero-shot", "3", "100.0", "100.0"]  # CoVoST's groups are X->En only
    assert rows["**avg all**"][2:4] == ["15", "60.0"]
    assert rows["**avg zero-shot**"][3] == "66.7"
    assert "plain, unweighted means" in markdown
    assert "TRFGap (cross-lingual transfer gap, arXiv 2306.00789 v3" in markdown
    assert "high-mid: -33.3, high-low: 66.7." in markdown
    assert "- BLEU (en-zh): `nrefs:1|case:mixed|eff:no|tok:char|" in markdown

    results = json.loads((exp / "results.json").read_text(encoding="utf-8"))
    assert results["sacrebleu_version"] == "2.6.0" and results["seen_langs"] == ["de", "fr"]
    assert set(results["tags"]) == {"decode_dev", "decode_test"}
    assert results["tags"]["decode_test"]["averages"]["avg all"]["BLEU"] == pytest.approx(60)
    assert results["tags"]["decode_dev"]["directions"]["en-zh"]["BLEU"] == pytest.approx(100)


def test_europarl_st_groups_by_language_not_by_covost_resource(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    exp = tmp_path / "exp" / "st_ep"
    dirs = [make_decode_dir(exp / "decode_test" / "test_fr_en", "fr", "en", REFS["en"]),
            make_decode_dir(exp / "decode_test" / "test_fr_de", "fr", "de", WRONG, REFS["en"]),
            make_decode_dir(exp / "decode_test" / "test_en_fr", "en", "fr", REFS["en"], REFS["en"])]
    score.main(["--exp_dir", str(exp), "--decode_dirs", *map(str, dirs), "--seen_langs", "fr",
                "--corpus", "europarl_st"])
    markdown = (exp / "RESULTS.md").read_text(encoding="utf-8")
    capsys.readouterr()
    table = [[c.strip() for c in line.split("|")[1:-1]] for line in markdown.splitlines() if line.startswith("| ")]
    assert table[0][:3] == ["direction", "seen/zero-shot", "#utts"]  # no group column
    rows = {row[0]: row[1:] for row in table[1:]}
    assert rows["fr-de"][:3] == ["seen", "3", "0.0"]
    bleu = {label: row[2] for label, row in rows.items() if label.startswith("**")}
    assert bleu == {"**avg seen**": "50.0", "**avg zero-shot**": "100.0", "**avg from en**": "100.0",
                    "**avg from fr**": "50.0", "**avg into de**": "0.0", "**avg into en**": "100.0",
                    "**avg into fr**": "100.0", "**avg all**": "66.7"}
    assert not any(word in markdown for word in ("avg high", "avg mid", "avg low", "TRFGap", "| high"))
    results = json.loads((exp / "results.json").read_text(encoding="utf-8"))
    assert results["corpus"] == "europarl_st"
    assert {row["group"] for row in results["tags"]["decode_test"]["directions"].values()} == {None}


def test_paired_bootstrap_against_baseline(tmp_path: Path) -> None:
    exp, base = tmp_path / "exp" / "st_a", tmp_path / "exp" / "st_base"
    dirs = [make_decode_dir(exp / "decode_test" / "test_fr_en", "fr", "en", REFS["en"]),
            make_decode_dir(exp / "decode_test" / "test_de_en", "de", "en", REFS["en"])]
    make_decode_dir(base / "decode_test" / "test_fr_en", "fr", "en", WRONG)
    make_decode_dir(base / "decode_test" / "test_de_en", "de", "en", REFS["en"])
    score.main(["--exp_dir", str(exp), "--decode_dirs", *map(str, dirs), "--baseline_exp_dir", str(base),
                "--bootstrap_samples", "100"])
    results = json.loads((exp / "results.json").read_text(encoding="utf-8"))
    assert results["bootstrap_samples"] == 100
    fr = results["tags"]["decode_test"]["directions"]["fr-en"]["baseline"]
    de = results["tags"]["decode_test"]["directions"]["de-en"]["baseline"]
    assert fr["baseline_BLEU"] == pytest.approx(0) and fr["BLEU"] == pytest.approx(100)
    assert 0 < fr["p_value"] <= 1 and isinstance(fr["significant"], bool)
    assert "bs:100" in fr["signature"] and "seed:12345" in fr["signature"]
    assert (de["baseline_BLEU"], de["p_value"], de["significant"]) == (pytest.approx(100), 1.0, False)
    markdown = (exp / "RESULTS.md").read_text(encoding="utf-8")
    table = [[c.strip() for c in line.split("|")[1:-1]] for line in markdown.splitlines() if line.startswith("| ")]
    assert table[0][-3:] == ["baseline BLEU", "p-value", "sig. (p<0.05)"]
    assert [row[0] for row in table[1:3]] == ["de-en", "fr-en"]
    assert table[1][-3:] == ["100.0", "1.0000", "no"]
    assert table[2][-3:-1] == ["0.0", f"{fr['p_value']:.4f}"]

    # Direct call: deterministic (fixed seed) and p-value in (0, 1].
    hyps, worse = ["the cat sat", "it is raining", "we meet"], ["a dog", "it rains", "meet"]
    first = paired_bootstrap(hyps, worse, REFS["en"], "en", n_samples=50)
    assert first == paired_bootstrap(hyps, worse, REFS["en"], "en", n_samples=50)
    assert 0 < first["p_value"] <= 1

    with pytest.raises(FileNotFoundError, match="baseline decode dir"):
        score_experiment(dirs, baseline_exp_dir=tmp_path / "exp" / "missing")
    make_decode_dir(base / "decode_test" / "test_fr_en", "fr", "en", WRONG, ["other", *REFS["en"][1:]])
    with pytest.raises(ValueError, match="1 references differ .e.g. fr-en-000"):
        score_experiment(dirs, baseline_exp_dir=base)
    make_decode_dir(base / "decode_test" / "test_fr_en", "fr", "en", WRONG[:2], REFS["en"][:2])
    with pytest.raises(ValueError, match="baseline comparison .* 1 ids are in the decode dir but missing"):
        score_experiment(dirs, baseline_exp_dir=base)


def test_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    samu, xlsr = tmp_path / "exp" / "st_samu", tmp_path / "exp" / "st_xlsr"
    score.main(["--exp_dir", str(samu), "--decode_dirs",
                str(make_decode_dir(samu / "decode_test" / "test_fr_en", "fr", "en", REFS["en"])),
                str(make_decode_dir(samu / "decode_test" / "test_it_en", "it", "en", REFS["en"]))])
    score.main(["--exp_dir", str(xlsr), "--decode_dirs",
                str(make_decode_dir(xlsr / "decode_test" / "test_fr_en", "fr", "en", WRONG))])
    capsys.readouterr()
    output = tmp_path / "compare.md"
    score.main(["--side_by_side", str(samu), str(xlsr), "--output", str(output)])
    markdown = output.read_text(encoding="utf-8")
    assert capsys.readouterr().out == markdown
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in markdown.splitlines() if line.startswith("| ")}
    assert rows["direction"] == ["group", "st_samu", "st_xlsr"]
    assert rows["fr-en"] == ["high", "100.0", "0.0"]
    assert rows["it-en"] == ["mid", "100.0", "-"]
    assert rows["**avg all**"] == ["", "100.0", "0.0"]
    assert rows["**TRFGap high-mid**"] == ["", "0.0", "-"]  # st_xlsr has no mid direction
    assert "TRFGap (cross-lingual transfer gap" in markdown

    score.main(["--side_by_side", str(samu), str(xlsr), "--metrics", "BLEU", "chrF++"])
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert rows["direction"] == ["group", "st_samu BLEU", "st_samu chrF++", "st_xlsr BLEU", "st_xlsr chrF++"]
    assert rows["fr-en"][:4] == ["high", "100.0", "100.0", "0.0"] and float(rows["fr-en"][4]) < 100
    assert rows["it-en"] == ["mid", "100.0", "100.0", "-", "-"]
    assert rows["**TRFGap high-mid**"] == ["", "0.0", "", "-", ""]

    with pytest.raises(FileNotFoundError, match="results.json"):
        score.main(["--side_by_side", str(samu), str(tmp_path / "nothing")])


def test_side_by_side_carries_the_paired_bootstrap_of_stage_6(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    xlsr, samu = tmp_path / "exp" / "st_xlsr", tmp_path / "exp" / "st_samu"
    score.main(["--exp_dir", str(xlsr), "--decode_dirs",
                str(make_decode_dir(xlsr / "decode_test" / "test_fr_en", "fr", "en", WRONG))])
    score.main(["--exp_dir", str(samu), "--baseline_exp_dir", str(xlsr), "--bootstrap_samples", "100",
                "--decode_dirs", str(make_decode_dir(samu / "decode_test" / "test_fr_en", "fr", "en", REFS["en"]))])
    tested = json.loads((samu / "results.json").read_text())["tags"]["decode_test"]["directions"]["fr-en"]["baseline"]
    assert tested["chrF++"] == pytest.approx(100) and tested["baseline_chrF++"] == pytest.approx(0)
    assert 0 < tested["chrF++_p_value"] <= 1 and "nw:2" in tested["chrF++_signature"]
    capsys.readouterr()
    score.main(["--side_by_side", str(xlsr), str(samu), "--metrics", "BLEU", "chrF++"])
    markdown = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in markdown.splitlines() if line.startswith("| ")}
    assert rows["direction"][-4:] == ["Δ BLEU", "p BLEU", "Δ chrF++", "p chrF++"]
    assert rows["fr-en"][-4:] == ["+100.0", f"{tested['p_value']:.3f}", "+100.0", f"{tested['chrF++_p_value']:.3f}"]
    assert rows["**avg all**"][-4:] == ["+100.0", "", "+100.0", ""]
    assert "Δ: st_samu minus st_xlsr" in markdown and "100 resamples" in markdown
    # the other way round, st_xlsr was not scored against st_samu: no differences
    score.main(["--side_by_side", str(samu), str(xlsr)])
    assert "Δ" not in capsys.readouterr().out
