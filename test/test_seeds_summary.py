"""egs/mini_st/local/summarize_seeds.py: the README's ranges over seeds, read from each seed's finished run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "egs" / "mini_st" / "local" / "summarize_seeds.py"


def finished_run(root: Path, seed: int, exp_suffix: str, bleu: dict[str, float]) -> Path:
    """A seed dir holding what a finished demo leaves: one results.json per encoder and exp/RESULTS.md."""
    seed_dir = root / "seeds" / f"seed_{seed}" / "egs" / "mini_st"
    for encoder, value in bleu.items():
        averages = {"avg seen": {"BLEU": value, "chrF++": value + 20}, "avg zero-shot": {"BLEU": value - 10,
                                                                                        "chrF++": value + 10}}
        exp = seed_dir / "exp" / f"st_{encoder}_adapter{exp_suffix}"
        exp.mkdir(parents=True)
        (exp / "results.json").write_text(json.dumps({"tags": {"decode_st": {"averages": averages}}}))
    (seed_dir / "exp" / "RESULTS.md").write_text(f"# BLEU / chrF++ side by side\n\n| seed {seed} table |\n")
    return seed_dir


def summarize(seed_dirs: list[Path], output: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--seed_dirs", *map(str, seed_dirs), "--output",
                           str(output)], capture_output=True, text=True)


@pytest.mark.parametrize("exp_suffix", ["", "_trimmed"])
def test_ranges_over_seeds_read_the_runs_of_either_vocabulary(tmp_path, exp_suffix):
    runs = [finished_run(tmp_path, 0, exp_suffix, {"xlsr": 40.0, "samu": 50.0}),
            finished_run(tmp_path, 1, exp_suffix, {"xlsr": 42.0, "samu": 56.0})]
    result = summarize(runs, tmp_path / "seeds.md")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "seeds.md").read_text()
    seen = next(line for line in text.splitlines() if line.startswith("| seen"))
    cells = [cell.strip() for cell in seen.strip("|").split("|")]
    # xlsr BLEU, xlsr chrF++, samu BLEU, samu chrF++, samu-xlsr BLEU: mean [min-max]
    assert cells[1:] == ["41.0 [40.0–42.0]", "61.0 [60.0–62.0]", "53.0 [50.0–56.0]", "73.0 [70.0–76.0]",
                         "12.0 [10.0–14.0]"]
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
