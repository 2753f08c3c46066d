"""Sweeps: a recipe run once per value of one option (and per seed), each run in its own experiment, then
one table and one plot of the seen / zero-shot averages against the value.

A run is ``./run.sh <recipe options> --<option> <value> --st_tag <tag> [--seed S]`` in the recipe folder.
An option that carries options of a step (``--st_args``, ``--samu_args``, ``--inference_args`` ...) takes
the value through a template: ``--option st_args --template "--model_conf encoder_adapter_dim={}"`` appends
``--model_conf encoder_adapter_dim=<value>`` to the recipe options' own ``--st_args``. Every run is started
again on a rerun with the very same command: the recipe's provenance records (sst.data.provenance) skip
what is finished, so a finished experiment is neither trained nor decoded again. The results are read
from each run's ``exp/st_*<tag>/results.json`` only (``st_<tag>``, ``st_<pass>_<tag>`` for recipes that
train several passes such as mini_st's encoders, each with ``_trimmed`` for a trimmed vocabulary).
"""
from __future__ import annotations

import json
import logging
import math
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sst.eval.results_md import markdown_table
from sst.io import write_text

METRICS = ("BLEU", "chrF++")
OFF_TARGET = "off_target"
LABELS = {"BLEU": "BLEU", "chrF++": "chrF++", OFF_TARGET: "off-target %"}
AVERAGES = ("avg seen", "avg zero-shot")
ALL = "avg all"
TAG_OPTIONS = ("--st_tag", "--st_exp")


@dataclass(frozen=True)
class Run:
    """One run of a sweep: the swept value, the seed (None: the recipe's own) and its command."""

    value: str
    seed: str | None
    tag: str
    command: tuple[str, ...]


def slug(text: str) -> str:
    """``text`` as a piece of a directory name: runs of other characters than letters, digits, '.' and
    '-' become one '_'."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", text).strip("_")


def _option_value(args: Sequence[str], option: str) -> tuple[list[str], str | None]:
    """``args`` without ``--option V`` / ``--option=V`` (all of them) and the last V (a later one wins,
    as in tools/parse_options.sh), None when absent."""
    kept, value, i = [], None, 0
    while i < len(args):
        if args[i] == f"--{option}" and i + 1 < len(args):
            value, i = args[i + 1], i + 2
        elif args[i].startswith(f"--{option}="):
            value, i = args[i].split("=", 1)[1], i + 1
        else:
            kept.append(args[i])
            i += 1
    return kept, value


def sweep_name(option: str, template: str = "{}", name: str | None = None) -> str:
    """What the sweep varies, as its tags and table name it: ``name``, else the option (with a template,
    the template's text), e.g. ``model_conf_encoder_adapter_dim``."""
    return slug(name or (template.replace("{}", " ") if template != "{}" else option)).strip("-_")


def plan_runs(option: str, values: Sequence[str], recipe_args: Sequence[str], seeds: Sequence[str] = (),
              template: str = "{}", name: str | None = None) -> list[Run]:
    """The runs of a sweep of ``option`` over ``values`` (times ``seeds``, if any): tags
    ``<name>_<value>[_seed<S>]`` (``name``: the option, or with a template its text), unique per run.
    ValueError when the recipe options already set what the sweep sets (the swept option unless it is a
    ``*_args`` option, ``--st_tag``, ``--st_exp``, ``--seed`` with seeds) or two runs would share a tag."""
    option = option.removeprefix("--")
    if "{}" not in template:
        raise ValueError(f"--template {template!r} has no {{}} for the value")
    if not values:
        raise ValueError("--values is empty")
    for owned in [*TAG_OPTIONS, f"--{option}" if not option.endswith("_args") else None, "--seed" if seeds else None]:
        if owned and _option_value(recipe_args, owned.removeprefix("--"))[1] is not None:
            raise ValueError(f"the recipe options set {owned}, which the sweep sets for each run: leave it out")
    name = sweep_name(option, template, name)
    base, own = _option_value(recipe_args, option)
    runs = []
    for value in values:
        text = template.replace("{}", value)
        if own:
            text = f"{own} {text}"
        for seed in seeds or [None]:
            tag = f"{name}_{slug(value)}" + (f"_seed{seed}" if seed is not None else "")
            seed_args = ("--seed", seed) if seed is not None else ()
            runs.append(Run(value, seed, tag, ("./run.sh", *base, f"--{option}", text, "--st_tag", tag, *seed_args)))
    tags = [run.tag for run in runs]
    if len(set(tags)) != len(tags):
        duplicate = next(tag for tag in tags if tags.count(tag) > 1)
        raise ValueError(f"two runs of the sweep would share the experiment tag {duplicate}: give distinct --values")
    return runs


def execute(runs: Sequence[Run], recipe: Path, log_dir: Path) -> None:
    """Run each command in the recipe folder, its output into ``<log_dir>/<tag>.log``; a failed run
    stops the sweep with one line naming its log. Finished work is skipped by the recipe itself."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for i, run in enumerate(runs, 1):
        log = log_dir / f"{run.tag}.log"
        logging.info("run %d/%d: %s (log: %s)", i, len(runs), shlex.join(run.command), log)
        with open(log, "w", encoding="utf-8") as f:
            code = subprocess.run(run.command, cwd=recipe, stdout=f, stderr=subprocess.STDOUT).returncode
        if code != 0:
            raise ChildProcessError(f"{shlex.join(run.command)} failed (exit {code}) in {recipe}; see {log}")


def experiments_of(exp_root: Path, tag: str) -> dict[str, Path]:
    """Pass name ("" for a recipe of one pass) -> experiment dir of the run tagged ``tag`` in
    ``exp_root``: ``st_[<pass>_]<tag>[_trimmed]`` holding a results.json."""
    pattern = re.compile(rf"st_(?:(?P<pass>.+)_)?{re.escape(tag)}(?:_trimmed)?")
    found = {}
    for path in sorted(exp_root.iterdir()) if exp_root.is_dir() else []:
        match = pattern.fullmatch(path.name)
        if match and (path / "results.json").is_file():
            found[match.group("pass") or ""] = path
    return found


def read_scores(results_file: Path, decode_tag: str | None) -> dict[tuple[str, str], float]:
    """(average, metric) -> value of one results.json: BLEU, chrF++ and the off-target rate (when scored)
    of the seen and zero-shot averages (without a seen split: of all directions), of the decode tag
    ``decode_tag`` (default: the first one)."""
    tags = json.loads(results_file.read_text(encoding="utf-8"))["tags"]
    if decode_tag is None:
        decode_tag = next(iter(tags))
    if decode_tag not in tags:
        raise ValueError(f"{results_file} has no decode tag {decode_tag} (it has {', '.join(tags)})")
    averages = tags[decode_tag]["averages"]
    scores = {}
    for label in [label for label in AVERAGES if label in averages] or [ALL]:
        row = averages[label]
        for metric in METRICS:
            if row.get(metric) is not None:
                scores[label, metric] = row[metric]
        off_target = (row.get("diagnostics") or {}).get(OFF_TARGET)
        if off_target is not None:
            scores[label, OFF_TARGET] = off_target
    return scores


@dataclass
class Point:
    """The scores of one experiment (pass) at one value over the seeds: (average, metric) -> values."""

    experiment: str
    value: str
    seeds: list[str]
    scores: dict[tuple[str, str], list[float]]


def collect(runs: Sequence[Run], exp_root: Path, decode_tag: str | None = None) -> list[Point]:
    """The points of the sweep, by pass, then in the order of the values; FileNotFoundError naming the
    run whose results.json is missing."""
    points: dict[tuple[str, str], Point] = {}
    for run in runs:
        experiments = experiments_of(exp_root, run.tag)
        if not experiments:
            raise FileNotFoundError(f"{exp_root}: no st_*{run.tag}/results.json; did `{shlex.join(run.command)}` "
                                    "run to stage 6?")
        for experiment, path in experiments.items():
            point = points.setdefault((run.value, experiment), Point(experiment, run.value, [], {}))
            point.seeds.append(run.seed if run.seed is not None else "")
            for key, value in read_scores(path / "results.json", decode_tag).items():
                point.scores.setdefault(key, []).append(value)
    experiments = sorted({experiment for _, experiment in points})
    return [points[value, experiment] for experiment in experiments
            for value in dict.fromkeys(run.value for run in runs) if (value, experiment) in points]


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def columns(points: Sequence[Point]) -> list[tuple[str, str]]:
    """The (average, metric) columns any point has, averages first, in the table's order."""
    present = {key for point in points for key in point.scores}
    return [(label, metric) for label in (*AVERAGES, ALL) for metric in (*METRICS, OFF_TARGET)
            if (label, metric) in present]


def column_name(label: str, metric: str) -> str:
    return f"{label.removeprefix('avg ')} {LABELS[metric]}"


def sweep_json(points: Sequence[Point], option: str) -> dict:
    """The table as JSON: per point, per column, mean, std (null for one seed) and the values."""
    rows = []
    for point in points:
        cells = {}
        for key in columns(points):
            if key in point.scores:
                mean, std = mean_std(point.scores[key])
                cells[column_name(*key)] = {"mean": mean, "std": std, "values": point.scores[key]}
        rows.append({"experiment": point.experiment, "value": point.value, "seeds": point.seeds, "scores": cells})
    return {"option": option, "rows": rows}


def sweep_markdown(points: Sequence[Point], option: str, command: str) -> str:
    """The table as Markdown: one row per value (and pass), mean ± std over the seeds per column."""
    keys = columns(points)
    passes = any(point.experiment for point in points)
    header = [*(["experiment"] if passes else []), option, "seeds", *(column_name(*key) for key in keys)]
    rows = []
    for point in points:
        cells = []
        for key in keys:
            if key not in point.scores:
                cells.append("-")
                continue
            mean, std = mean_std(point.scores[key])
            cells.append(f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else ""))
        seeds = " ".join(seed for seed in point.seeds if seed) or "-"
        rows.append([*([point.experiment] if passes else []), point.value, seeds, *cells])
    align = ["left"] * (len(header) - len(keys)) + ["right"] * len(keys)
    return "\n".join([f"# Sweep over {option}", "", f"Made by `{command}`.", "",
                      markdown_table(header, rows, align), "",
                      "Each cell: mean ± sample standard deviation over the seeds (the mean alone for one seed) of a "
                      "plain average of the per-direction scores (results.json of each run); off-target %: "
                      "hypotheses identified as another language than the target.", ""])


def _numeric(values: Sequence[str]) -> list[float] | None:
    try:
        return [float(value) for value in values]
    except ValueError:
        return None


def plot(points: Sequence[Point], option: str, output: Path) -> None:
    """One panel per metric against the swept value (numeric values on a numeric axis, others in
    order), a line per pass (colour) and average (seen solid, zero-shot dashed), error bars of the
    standard deviation over the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = list(dict.fromkeys(point.value for point in points))
    numeric = _numeric(values)
    positions = dict(zip(values, numeric or range(len(values))))
    metrics = [metric for metric in (*METRICS, OFF_TARGET) if any(key[1] == metric for key in columns(points))]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.8), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for label, style in zip((*AVERAGES, ALL), ("-", "--", ":")):
            for colour, experiment in enumerate(dict.fromkeys(point.experiment for point in points)):
                series = [point for point in points if point.experiment == experiment
                          and (label, metric) in point.scores]
                if not series:
                    continue
                stats = [mean_std(point.scores[label, metric]) for point in series]
                axis.errorbar([positions[point.value] for point in series], [mean for mean, _ in stats],
                              yerr=[std or 0.0 for _, std in stats], marker="o", capsize=3, color=f"C{colour}", linestyle=style,
                              label=" ".join(part for part in (experiment, label.removeprefix("avg ")) if part))
        if numeric and min(numeric) > 0 and max(numeric) / min(numeric) >= 8:
            axis.set_xscale("log", base=2)
        axis.set_xticks(list(positions.values()), values)
        axis.set_xlabel(option)
        axis.set_ylabel(LABELS[metric])
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, format="png", dpi=120)
    plt.close(figure)


def write_outputs(points: Sequence[Point], option: str, command: str, out_dir: Path) -> dict[str, Path]:
    """sweep.md, sweep.json and sweep.png into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / "sweep.md", "json": out_dir / "sweep.json", "png": out_dir / "sweep.png"}
    write_text(paths["md"], sweep_markdown(points, option, command))
    write_text(paths["json"], json.dumps({"command": command, **sweep_json(points, option)}, indent=1) + "\n")
    plot(points, option, paths["png"])
    return paths


def summarize(runs: Sequence[Run], exp_root: Path, option: str, command: str, out_dir: Path,
              decode_tag: str | None = None) -> Mapping[str, Path]:
    """Collect the runs' results.json and write the table and plot."""
    return write_outputs(collect(runs, exp_root, decode_tag), option, command, out_dir)
