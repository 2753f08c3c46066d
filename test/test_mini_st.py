"""The demo recipe end to end: egs/mini_st/run.sh, shortened (fewer languages and epochs), on a copy.

Every stage runs through the same run.sh a user runs; the test asserts what each stage leaves behind
and that the translations of the seen directions are far better than chance.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import sacrebleu

ROOT = Path(__file__).resolve().parents[1]
SRC_LANGS = ("fr", "de", "pt")
TRAIN_LANGS = ("fr", "de")
ENCODERS = ("xlsr", "samu")
# Floors a model that ignores its input cannot reach. The phrases are 1-4 words, so BLEU is BLEU-2
# (unigrams and bigrams; 4-gram BLEU is 0 whenever no 4-word phrase matches) over the seen directions
# pooled. Chance level, measured by the test itself on shuffled hypotheses, is ~2-4 BLEU-2 and ~7-13
# chrF++; with a random encoder the demo reached chrF++ ~12.
SEEN_BLEU2_FLOOR = 20.0
SEEN_CHRF_FLOOR = 25.0
SHORTENED = ["--src_langs", " ".join(SRC_LANGS), "--train_langs", " ".join(TRAIN_LANGS)]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """egs/mini_st copied beside a link to tools/ (so the run writes no repo files), run once."""
    root = tmp_path_factory.mktemp("demo")
    recipe = root / "egs" / "mini_st"
    shutil.copytree(ROOT / "egs" / "mini_st", recipe,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "models", "downloads"))
    (root / "tools").symlink_to(ROOT / "tools")
    result = subprocess.run(["./run.sh", *SHORTENED], cwd=recipe, capture_output=True, text=True, timeout=1800)
    (root / "run.log").write_text(result.stdout + result.stderr)
    return recipe, result


def test_demo_runs_every_stage(demo_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    recipe, result = demo_run
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for stage in range(7):
        assert f"Stage {stage}" in result.stdout
    for model in ("wav2vec2", "teacher", "mbart"):
        assert (recipe / "models" / model / "config.json").is_file()
    samu_exp = recipe / f"exp/samu_train_samu_{'.'.join(SRC_LANGS)}"  # the SAMU languages are --src_langs
    assert (samu_exp / "encoder_hf/config.json").is_file()
    assert "## SAMU retrieval" in (samu_exp / "RESULTS.md").read_text()


def test_demo_decodes_every_test_utterance(demo_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    recipe, _ = demo_run
    for encoder in ENCODERS:
        for lang in SRC_LANGS:
            decode = recipe / f"exp/st_{encoder}_adapter/decode_st/test_{lang}_en"
            ref_ids = [line.split(maxsplit=1)[0] for line in (decode / "ref").read_text().splitlines()]
            hyps = dict(line.split(" ", 1) for line in (decode / "hyp").read_text().splitlines())
            assert sorted(hyps) == sorted(ref_ids) and len(ref_ids) > 10


def test_demo_translates_seen_directions_far_above_chance(demo_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    recipe, result = demo_run
    bleu2 = sacrebleu.BLEU(max_ngram_order=2)
    for encoder in ENCODERS:
        exp = recipe / f"exp/st_{encoder}_adapter"
        rows = next(iter(json.loads((exp / "results.json").read_text())["tags"].values()))["directions"]
        assert {row["src"] for row in rows.values()} == set(SRC_LANGS)
        assert {row["src"] for row in rows.values() if row["seen"]} == set(TRAIN_LANGS)
        hyps, refs = [], []
        for lang in TRAIN_LANGS:
            decode = exp / f"decode_st/test_{lang}_en"
            hyp = dict(line.split(" ", 1) for line in (decode / "hyp").read_text().splitlines())
            ref = dict(line.split(" ", 1) for line in (decode / "ref").read_text().splitlines())
            hyps += [hyp[utt] for utt in sorted(ref)]
            refs += [ref[utt] for utt in sorted(ref)]
        shuffled = hyps[1:] + hyps[:1]  # the same outputs, each paired with another utterance
        assert bleu2.corpus_score(shuffled, [refs]).score < SEEN_BLEU2_FLOOR / 2
        assert bleu2.corpus_score(hyps, [refs]).score > SEEN_BLEU2_FLOOR, (encoder, hyps, refs)
        chrf = [row["chrF++"] for row in rows.values() if row["seen"]]
        assert sum(chrf) / len(chrf) > SEEN_CHRF_FLOOR, (encoder, rows)
    table = (recipe / "exp/RESULTS.md").read_text()
    assert "st_xlsr_adapter chrF++" in table and "st_samu_adapter BLEU" in table
    assert table in result.stdout  # the run ends by printing the side-by-side table


def test_demo_translates_the_long_recordings(demo_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    import srt

    recipe, _ = demo_run
    first = f"longform_test_{SRC_LANGS[0]}_en"
    clips = (recipe / "data" / first / "segments").read_text().splitlines()
    cues = list(srt.parse((recipe / "exp" / f"{first}.srt").read_text(encoding="utf-8")))
    assert abs(len(cues) - len(clips)) <= 0.1 * len(clips)
    for encoder in ENCODERS:
        exp = recipe / f"exp/st_{encoder}_adapter"
        for lang in SRC_LANGS:
            hyp_ids = read_ids(exp / f"decode_st_longform/longform_test_{lang}_en/hyp")
            assert sorted(hyp_ids) == sorted(read_ids(recipe / "data" / f"test_{lang}_en" / "text.en"))
        assert "## decode_st: gold vs VAD segmentation" in (exp / "RESULTS.md").read_text()
    assert "## decode_st_longform" in (recipe / "exp/RESULTS.md").read_text()


def read_ids(path: Path) -> list[str]:
    return [line.split(maxsplit=1)[0] for line in path.read_text(encoding="utf-8").splitlines()]
