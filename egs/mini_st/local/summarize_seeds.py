"""The demo's figures over several seeds: ranges, run times, zero-shot significance, then each seed's table.

    python local/summarize_seeds.py --seed_dirs seeds/seed_0/egs/mini_st ... --output local/seeds.md \
        [--readme ../../README.md]

Each seed dir is one finished demo run (``exp/st_<encoder>_adapter/results.json``, or
``exp/st_<encoder>_adapter_trimmed/`` with ``--target_vocab true``; ``exp/RESULTS.md``); its seed is read
from the name ``seed_<N>`` of the folder above ``egs/``. Its heading shows the run's time and CPU model
(``run_seconds`` and ``cpu_model``, written by local/run_seeds.sh): a table is byte-identical only for the
same seed on the same CPU model. ``--readme`` rewrites the README's block between the two markers below
with the same ranges, times and significance counts, so the README's figures are these.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from sst.eval.results_md import markdown_table
from sst.io import write_text

ENCODERS = ("xlsr", "samu")
METRICS = ("BLEU", "chrF++")
TAG = "decode_st"
SIGNIFICANCE_LEVEL = 0.05
README_BEGIN = "<!-- seeds: begin (written by egs/mini_st/local/summarize_seeds.py --readme; do not edit) -->"
README_END = "<!-- seeds: end -->"


@dataclass
class ZeroShotGain:
    """SAMU minus XLS-R on one zero-shot direction of one run, with the paired-bootstrap p-values."""
    bleu: float
    p_bleu: float
    chrf: float
    p_chrf: float

    def significant(self, metric: str) -> bool:
        """SAMU better than XLS-R on ``metric`` (BLEU or chrF++), with p below SIGNIFICANCE_LEVEL."""
        gain, p_value = (self.bleu, self.p_bleu) if metric == "BLEU" else (self.chrf, self.p_chrf)
        return gain > 0 and p_value < SIGNIFICANCE_LEVEL


@dataclass
class SeedRun:
    """What one finished demo run left: its averages, zero-shot gains, time and CPU model."""
    seed: str
    averages: dict[tuple[str, str, str], float]
    seen_langs: list[str]
    zero_shot: dict[str, ZeroShotGain]
    seconds: int | None
    cpu_model: str | None


def seed_of(seed_dir: Path) -> str:
    """N of ``seeds/seed_<N>/egs/mini_st``."""
    match = re.fullmatch(r"seed_(\d+)", seed_dir.parents[1].name)
    if match is None:
        raise ValueError(f"{seed_dir}: expected seeds/seed_<N>/egs/mini_st")
    return match.group(1)


def results_of(seed_dir: Path, encoder: str) -> dict:
    """The results.json of the one experiment of ``encoder`` in a run."""
    found = sorted((seed_dir / "exp").glob(f"st_{encoder}_adapter*/results.json"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"{seed_dir}/exp: expected one st_{encoder}_adapter*/results.json (one finished run), found {len(found)}")
    return json.loads(found[0].read_text(encoding="utf-8"))


def read_run(seed_dir: Path) -> SeedRun:
    """One finished run's figures (averages of both encoders; SAMU's zero-shot gains over XLS-R)."""
    averages = {}
    for encoder in ENCODERS:
        for label, row in results_of(seed_dir, encoder)["tags"][TAG]["averages"].items():
            for metric in METRICS:
                averages[label, encoder, metric] = row[metric]
    samu = results_of(seed_dir, "samu")
    zero_shot = {}
    for direction, row in samu["tags"][TAG]["directions"].items():
        baseline = row.get("baseline")
        if not row["seen"] and baseline:
            zero_shot[direction] = ZeroShotGain(
                bleu=baseline["BLEU"] - baseline["baseline_BLEU"], p_bleu=baseline["p_value"],
                chrf=baseline["chrF++"] - baseline["baseline_chrF++"], p_chrf=baseline["chrF++_p_value"])
    seconds_file, cpu_file = seed_dir / "run_seconds", seed_dir / "cpu_model"
    return SeedRun(seed=seed_of(seed_dir), averages=averages, seen_langs=list(samu.get("seen_langs") or []),
                   zero_shot=zero_shot,
                   seconds=int(seconds_file.read_text()) if seconds_file.is_file() else None,
                   cpu_model=(cpu_file.read_text().strip() or None) if cpu_file.is_file() else None)


def run_facts(run: SeedRun) -> str:
    """`` (<minutes> min, <CPU model>)`` of a run, from what local/run_seeds.sh recorded beside it."""
    facts = [f"{run.seconds / 60:.1f} min"] if run.seconds is not None else []
    facts += [run.cpu_model] if run.cpu_model else []
    return f" ({', '.join(facts)})" if facts else ""


def spread(values: list[float], sign: bool = False) -> str:
    """``mean [min–max]`` with one decimal (signed with ``sign``)."""
    form = "{:+.1f}" if sign else "{:.1f}"
    return f"{form.format(statistics.fmean(values))} [{form.format(min(values))}–{form.format(max(values))}]"


def summary(runs: list[SeedRun]) -> str:
    """Mean [min-max] over the runs, one row per average (named with its languages), one column per encoder
    and metric, and the SAMU-minus-XLS-R difference of BLEU."""
    labels = [label for label in ("avg seen", "avg zero-shot", "avg all")
              if all((label, "samu", "BLEU") in run.averages for run in runs)]
    seen = runs[0].seen_langs
    zero_shot = [direction.split("-")[0] for direction in runs[0].zero_shot]
    langs = {"avg seen": seen, "avg zero-shot": zero_shot}
    header = ["average", *(f"{encoder} {metric}" for encoder in ENCODERS for metric in METRICS), "samu − xlsr BLEU"]
    rows = []
    for label in labels:
        name = label.removeprefix("avg ")
        if langs.get(label):
            name += f" ({' '.join(langs[label])})"
        cells = [name]
        for encoder in ENCODERS:
            for metric in METRICS:
                cells.append(spread([run.averages[label, encoder, metric] for run in runs]))
        cells.append(spread([run.averages[label, "samu", "BLEU"] - run.averages[label, "xlsr", "BLEU"]
                             for run in runs], sign=True))
        rows.append(cells)
    return markdown_table(header, rows, ["left"] + ["right"] * (len(header) - 1))


def run_times(runs: list[SeedRun]) -> str:
    """One sentence: the runs' minutes per CPU model, mean [min–max] and how many runs."""
    by_cpu: dict[str, list[float]] = {}
    for run in runs:
        if run.seconds is not None:
            by_cpu.setdefault(run.cpu_model or "an unrecorded CPU", []).append(run.seconds / 60)
    if not by_cpu:
        return "No run recorded its time."
    parts = [f"{spread(minutes)} min on {cpu} ({len(minutes)} run{'s' * (len(minutes) > 1)})"
             for cpu, minutes in sorted(by_cpu.items())]
    return "Whole run (`./run.sh`, install not counted), mean [min–max]: " + "; ".join(parts) + "."


def significance(runs: list[SeedRun]) -> tuple[str, str]:
    """A table of every zero-shot direction's SAMU gain and p-values per seed, and one sentence counting the
    (direction, seed) pairs whose BLEU and chrF++ gains are significant."""
    directions = list(runs[0].zero_shot)
    if not directions:
        return "", "No zero-shot direction was scored against a baseline."
    header = ["direction", *(f"seed {run.seed}" for run in runs)]
    rows = []
    for direction in directions:
        cells = [direction]
        for run in runs:
            gain = run.zero_shot[direction]
            cells.append(f"{gain.bleu:+.1f} (p {gain.p_bleu:.3f}) / {gain.chrf:+.1f} (p {gain.p_chrf:.3f})")
        rows.append(cells)
    pairs = [run.zero_shot[direction] for direction in directions for run in runs]
    bleu_significant = sum(gain.significant("BLEU") for gain in pairs)
    chrf_significant = sum(gain.significant("chrF++") for gain in pairs)
    per_direction = "; ".join(
        f"{direction} in {sum(run.zero_shot[direction].significant('BLEU') for run in runs)} of {len(runs)}"
        for direction in directions)
    verdict = "in every seed" if bleu_significant == len(pairs) else "not in every seed"
    sentence = (f"Zero-shot significance (sacreBLEU's paired bootstrap, SAMU against XLS-R, p < {SIGNIFICANCE_LEVEL}): "
                f"the BLEU gain is significant {verdict}: in {bleu_significant} of {len(pairs)} (direction, seed) "
                f"pairs ({per_direction}); the chrF++ gain in {chrf_significant} of {len(pairs)}.")
    return markdown_table(header, rows, ["left"] + ["right"] * len(runs)), sentence


def readme_block(seed_count: int, command: str, ranges: str, times: str, significance_sentence: str) -> str:
    """The README's figures: the ranges table, the run times and the significance sentence."""
    return "\n".join([
        f"Over {seed_count} seed{'s' * (seed_count > 1)} (`cd egs/mini_st && {command}`; every seed's table in "
        "`egs/mini_st/local/seeds.md`), mean [min–max] of the averages (4-gram BLEU, sacreBLEU's default):", "",
        ranges, "", times, significance_sentence])


def replace_readme_block(readme: Path, block: str) -> None:
    """Rewrite the text between README_BEGIN and README_END in ``readme``."""
    text = readme.read_text(encoding="utf-8")
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"ERROR: {readme}: no block between '{README_BEGIN}' and '{README_END}'")
    write_text(readme, text[:begin + len(README_BEGIN)] + "\n" + block + "\n" + text[end:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed_dirs", type=Path, nargs="+", required=True)
    parser.add_argument("--command", default="local/run_seeds.sh", help="the command recorded in the output")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--readme", type=Path, help="a README whose seeds block is rewritten with these figures")
    args = parser.parse_args(argv)
    runs = [read_run(seed_dir) for seed_dir in args.seed_dirs]
    ranges, times, (table, sentence) = summary(runs), run_times(runs), significance(runs)
    gains = ["Zero-shot gains per seed, SAMU minus XLS-R: BLEU (p) / chrF++ (p).", "", table, ""] if table else []
    lines = ["# mini_st over seeds", "",
             f"Made by `cd egs/mini_st && {args.command}` (one fresh demo run per seed, `./run.sh --seed N`).",
             f"Seeds: {' '.join(run.seed for run in runs)}. Each cell: mean [min–max] over the seeds of a plain "
             "average of the per-direction scores.", "", ranges, "", times, "", *gains, sentence, ""]
    for seed_dir, run in zip(args.seed_dirs, runs):
        results = (seed_dir / "exp" / "RESULTS.md").read_text(encoding="utf-8")
        results = re.sub(r"^#+ .*side by side\n+", "", results)
        lines += [f"## seed {run.seed}{run_facts(run)}", "", results.strip(), ""]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.output, "\n".join(lines))
    if args.readme:
        replace_readme_block(args.readme, readme_block(len(runs), args.command, ranges, times, sentence))
    print("\n".join(lines[:lines.index(sentence) + 1]))


if __name__ == "__main__":
    main()
