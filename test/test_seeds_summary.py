"""egs/mini_st/local/summarize_seeds.py: the README's ranges, times and zero-shot significance over seeds, read
from each seed's finished run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "egs" / "mini_st" / "local" / "summarize_seeds.py"


def direction(seen: bool, gain: float = 0.0, p_bleu: float = 1.0, p_chrf: float = 1.0) -> dict:
    """A results.json direction; a zero-shot one scored against the baseline with these gains and p-values."""
    row = {"seen": seen}
    if not seen:
        row["baseline"] = {"BLEU": 30.0 + gain, "baseline_BLEU": 30.0, "p_value": p_bleu,
                           "chrF++": 50.0 + 2 * gain, "baseline_chrF++": 50.0, "chrF++_p_value": p_chrf}
    return row


def finished_run(root: Path, seed: int, exp_suffix: str, bleu: dict[str, float],
                 zero_shot: dict[str, dict] | None = None) -> Path:
    """A seed dir holding what a finished demo leaves: one results.json per encoder and exp/RESULTS.md;
    ``zero_shot``: SAMU's zero-shot directions (see ``direction``)."""
    seed_dir = root / "seeds" / f"seed_{seed}" / "egs" / "mini_st"
    for encoder, value in bleu.items():
        averages = {"avg seen": {"BLEU": value, "chrF++": value + 20}, "avg zero-shot": {"BLEU": value - 10,
                                                                                        "chrF++": value + 10}}
        directions = {"fr-en": direction(seen=True), **(zero_shot or {})} if encoder == "samu" else {}
        exp = seed_dir / "exp" / f"st_{encoder}_adapter{exp_suffix}"
        exp.mkdir(parents=True)
        (exp / "results.json").write_text(json.dumps({"seen_langs": ["fr"], "tags": {
            "decode_st": {"averages": averages, "directions": directions}}}))
    (seed_dir / "exp" / "RESULTS.md").write_text(f"# BLEU / chrF++ side by side\n\n| seed {seed} table |\n")
    return seed_dir


def summarize(seed_dirs: list[Path], output: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--seed_dirs", *map(str, seed_dirs), "--output",
                           str(output), *options], capture_output=True, text=True)


@pytest.mark.parametrize("exp_suffix", ["", "_trimmed"])
def test_ranges_over_seeds_read_the_runs_of_either_vocabulary(tmp_path, exp_suffix):
    runs = [finished_run(tmp_path, 0, exp_suffix, {"xlsr": 40.0, "samu": 50.0}),
            finished_run(tmp_path, 1, exp_suffix, {"xlsr": 42.0, "samu": 56.0})]
    result = summarize(runs, tmp_path / "seeds.md")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "seeds.md").read_text()
    seen = next(line for line in text.splitlines() if line.startswith("| seen (fr)"))
    cells = [cell.strip() for cell in seen.strip("|").split("|")]
    # xlsr BLEU, xlsr chrF++, samu BLEU, samu chrF++, samu-xlsr BLEU: mean [min-max]
    assert cells[1:] == ["41.0 [40.0–42.0]", "61.0 [60.0–62.0]", "53.0 [50.0–56.0]", "73.0 [70.0–76.0]",
                         "+12.0 [+10.0–+14.0]"]
    assert "| seed 0 table |" in text and "| seed 1 table |" in text


def test_each_seed_heading_names_its_time_and_cpu_model(tmp_path):
    timed = finished_run(tmp_path, 0, "", {"xlsr": 40.0, "samu": 50.0})
    (timed / "run_seconds").write_text("570\n")
    (timed / "cpu_model").write_text("AMD EPYC 7B13\n")
    untimed = finished_run(tmp_path, 1, "", {"xlsr": 42.0, "samu": 56.0})
    result = summarize([timed, untimed], tmp_path / "seeds.md")
    assert result.returncode == 0, result.stderr
    headings = [line for line in (tmp_path / "seeds.md").read_text().splitlines() if line.startswith("## seed")]
    assert headings == ["## seed 0 (9.5 min, AMD EPYC 7B13)", "## seed 1"]


def test_a_seed_dir_with_two_runs_of_one_encoder_is_refused(tmp_path):
    seed_dir = finished_run(tmp_path, 0, "", {"xlsr": 40.0, "samu": 50.0})
    (seed_dir / "exp" / "st_xlsr_adapter_trimmed").mkdir()
    (seed_dir / "exp" / "st_xlsr_adapter_trimmed" / "results.json").write_text("{}")
    result = summarize([seed_dir], tmp_path / "seeds.md")
    assert result.returncode != 0
    assert "expected one st_xlsr_adapter*/results.json" in result.stderr and "found 2" in result.stderr


def test_zero_shot_significance_counts_every_direction_and_seed(tmp_path):
    runs = [finished_run(tmp_path, 0, "", {"xlsr": 40.0, "samu": 50.0},
                         {"pt-en": direction(False, 6.0, 0.01, 0.001), "nl-en": direction(False, 4.0, 0.2, 0.01)}),
            finished_run(tmp_path, 1, "", {"xlsr": 40.0, "samu": 50.0},
                         {"pt-en": direction(False, 7.0, 0.02, 0.001), "nl-en": direction(False, -1.0, 0.01, 0.3)})]
    result = summarize(runs, tmp_path / "seeds.md")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "seeds.md").read_text()
    # nl-en in seed 1 is a significant loss, not a gain: 2 of 4 BLEU gains, 3 of 4 chrF++ gains significant
    assert ("the BLEU gain is significant not in every seed: in 2 of 4 (direction, seed) pairs "
            "(pt-en in 2 of 2; nl-en in 0 of 2); the chrF++ gain in 3 of 4.") in text
    row = next(line for line in text.splitlines() if line.startswith("| nl-en"))
    assert "+4.0 (p 0.200) / +8.0 (p 0.010)" in row and "-1.0 (p 0.010) / -2.0 (p 0.300)" in row


def test_run_times_are_grouped_by_cpu_model(tmp_path):
    runs = []
    for seed, (seconds, cpu) in enumerate([(540, "AMD EPYC 7B13"), (600, "AMD EPYC 7B13"), (480, "Intel Xeon")]):
        runs.append(finished_run(tmp_path, seed, "", {"xlsr": 40.0, "samu": 50.0}))
        (runs[-1] / "run_seconds").write_text(f"{seconds}\n")
        (runs[-1] / "cpu_model").write_text(f"{cpu}\n")
    result = summarize(runs, tmp_path / "seeds.md")
    assert result.returncode == 0, result.stderr
    assert ("mean [min–max]: 9.5 [9.0–10.0] min on AMD EPYC 7B13 (2 runs); 8.0 [8.0–8.0] min on Intel Xeon (1 run)."
            in (tmp_path / "seeds.md").read_text())


def test_the_readme_block_is_rewritten_between_its_markers_only(tmp_path):
    runs = [finished_run(tmp_path, 0, "", {"xlsr": 40.0, "samu": 50.0}, {"pt-en": direction(False, 6.0, 0.01)}),
            finished_run(tmp_path, 1, "", {"xlsr": 42.0, "samu": 56.0}, {"pt-en": direction(False, 7.0, 0.03)})]
    readme = tmp_path / "README.md"
    begin = "<!-- seeds: begin (written by egs/mini_st/local/summarize_seeds.py --readme; do not edit) -->"
    readme.write_text(f"before\n{begin}\nold figures\n<!-- seeds: end -->\nafter\n")
    result = summarize(runs, tmp_path / "seeds.md", "--readme", str(readme))
    assert result.returncode == 0, result.stderr
    text = readme.read_text()
    assert text.startswith(f"before\n{begin}\nOver 2 seeds") and text.endswith("<!-- seeds: end -->\nafter\n")
    assert "old figures" not in text
    assert "| seen (fr)" in text and "| zero-shot (pt)" in text
    assert "the BLEU gain is significant in every seed: in 2 of 2 (direction, seed) pairs" in text

    readme.write_text("no markers\n")
    result = summarize(runs, tmp_path / "seeds.md", "--readme", str(readme))
    assert result.returncode != 0 and f"{readme}: no block between" in result.stderr
