"""The demo's figures over several seeds: mean and range (min-max) of every average, then each seed's table.

    python local/summarize_seeds.py --seed_dirs seeds/seed_0/egs/mini_st ... --output local/seeds.md

Each seed dir is one finished demo run (``exp/st_<encoder>_adapter/results.json``, or
``exp/st_<encoder>_adapter_trimmed/`` with ``--target_vocab true``; ``exp/RESULTS.md``); its seed is read
from the name ``seed_<N>`` of the folder above ``egs/``. Its heading shows the run's time and CPU model
(``run_seconds`` and ``cpu_model``, written by local/run_seeds.sh): a table is byte-identical only for the
same seed on the same CPU model.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from sst.eval.results_md import markdown_table

ENCODERS = ("xlsr", "samu")
METRICS = ("BLEU", "chrF++")
TAG = "decode_st"


def seed_of(seed_dir: Path) -> str:
    """N of ``seeds/seed_<N>/egs/mini_st``."""
    match = re.fullmatch(r"seed_(\d+)", seed_dir.parents[1].name)
    if match is None:
        raise ValueError(f"{seed_dir}: expected seeds/seed_<N>/egs/mini_st")
    return match.group(1)


def read_averages(seed_dir: Path) -> dict[tuple[str, str, str], float]:
    """(average label, encoder, metric) -> value of one run."""
    values = {}
    for encoder in ENCODERS:
        found = sorted((seed_dir / "exp").glob(f"st_{encoder}_adapter*/results.json"))
        if len(found) != 1:
            raise FileNotFoundError(
                f"{seed_dir}/exp: expected one st_{encoder}_adapter*/results.json (one finished run), found "
                f"{len(found)}")
        path = found[0]
        averages = json.loads(path.read_text(encoding="utf-8"))["tags"][TAG]["averages"]
        for label, row in averages.items():
            for metric in METRICS:
                values[label, encoder, metric] = row[metric]
    return values


def run_facts(seed_dir: Path) -> str:
    """`` (<minutes> min, <CPU model>)`` of a run, from what local/run_seeds.sh recorded beside it."""
    facts = []
    if (seed_dir / "run_seconds").is_file():
        facts.append(f"{int((seed_dir / 'run_seconds').read_text()) / 60:.1f} min")
    if (seed_dir / "cpu_model").is_file() and (seed_dir / "cpu_model").read_text().strip():
        facts.append((seed_dir / "cpu_model").read_text().strip())
    return f" ({', '.join(facts)})" if facts else ""


def summary(runs: dict[str, dict[tuple[str, str, str], float]]) -> str:
    """Mean [min-max] over the runs, one row per average, one column per encoder and metric, and the
    SAMU-minus-XLS-R difference of BLEU."""
    labels = [label for label in ("avg seen", "avg zero-shot", "avg all")
              if all((label, "samu", "BLEU") in values for values in runs.values())]
    header = ["average", *(f"{encoder} {metric}" for encoder in ENCODERS for metric in METRICS), "samu−xlsr BLEU"]
    rows = []
    for label in labels:
        cells = [label.removeprefix("avg ")]
        series = [[values[label, encoder, metric] for values in runs.values()]
                  for encoder in ENCODERS for metric in METRICS]
        series.append([values[label, "samu", "BLEU"] - values[label, "xlsr", "BLEU"] for values in runs.values()])
        for values in series:
            cells.append(f"{sum(values) / len(values):.1f} [{min(values):.1f}–{max(values):.1f}]")
        rows.append(cells)
    return markdown_table(header, rows, ["left"] + ["right"] * (len(header) - 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed_dirs", type=Path, nargs="+", required=True)
    parser.add_argument("--command", default="local/run_seeds.sh", help="the command recorded in the output")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    runs = {seed_of(seed_dir): read_averages(seed_dir) for seed_dir in args.seed_dirs}
    lines = ["# mini_st over seeds", "",
             f"Made by `cd egs/mini_st && {args.command}` (one fresh demo run per seed, `./run.sh --seed N`).",
             f"Seeds: {' '.join(runs)}. Each cell: mean [min–max] over the seeds of a plain average of the "
             "per-direction scores (seen: fr de es it; zero-shot: pt nl).", "", summary(runs), ""]
    for seed_dir in args.seed_dirs:
        table = (seed_dir / "exp" / "RESULTS.md").read_text(encoding="utf-8")
        table = re.sub(r"^#+ .*side by side\n+", "", table)
        lines += [f"## seed {seed_of(seed_dir)}{run_facts(seed_dir)}", "", table.strip(), ""]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines[:6 + len(runs)]))


if __name__ == "__main__":
    main()
