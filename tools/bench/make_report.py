"""Collect the bench scripts' JSON results into ``report.json`` and ``REPORT.md``.

    tools/venv/bin/python tools/bench/make_report.py --results tools/bench/results --out_dir tools/bench \
        [--elapsed_s N] [--load_at_start L]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import MEDIUM_ADAPTER_DIM, MEDIUM_DECODER, MEDIUM_ENCODER, git_revision, machine_info

ITEMS = ("training", "teacher", "decoding", "dump", "gpu", "bad_inputs", "faults", "longform")


def met_text(result: dict) -> str:
    """``yes`` / ``no`` per goal, ``-`` where the item has none; a speedup goal that the ratio of median
    step times judges otherwise than the ratio of the fastest steps says so."""
    met = result.get("goals_met", {})
    if not met:
        return "-"
    texts = []
    for key, ok in met.items():
        text = "yes" if ok else "**no**"
        if key.startswith("speedup") and "speedup_of_medians" in result:
            by_medians = result["speedup_of_medians"] >= result["goals"]["speedup"]
            if by_medians != ok:
                text += f" (by medians: {'yes' if by_medians else 'no'})"
        texts.append(text)
    return "; ".join(texts)


def spread(variants: dict) -> str:
    """How far each variant's slowest timed step lies above its fastest: the noise in the figure."""
    return ", ".join(f"{name} +{v['max_s'] / v['min_s'] - 1:.0%}" for name, v in variants.items())


def clocks(report: dict) -> str:
    """Which clock timed each item: process CPU time or wall time."""
    names = {"cpu": "process CPU time", "wall": "wall time"}
    used = {}
    for name in ITEMS:
        variants = report["items"][name].get("variants", {})
        clock = next((v["clock"] for v in variants.values() if "clock" in v), "wall") if variants else None
        if clock:
            used.setdefault(names[clock], []).append(name)
    return "; ".join(f"{clock} for {', '.join(items)}" for clock, items in used.items())


def markdown(report: dict) -> str:
    """REPORT.md: the summary table, the machine, then each item's notes."""
    machine = report["machine"]
    lines = [
        "# Benchmarks: where the time and memory go",
        "",
        f"Written by `tools/bench/run_all.sh` on {machine['date']} at revision `{report['revision']}` "
        f"(whole run {report['elapsed_s']:.0f} s). Every figure is a ratio of two variants measured side by "
        "side in the same run, with random-weight models built from configs; the command in each row "
        "reproduces it.",
        "",
        "| item | measured | goal | met? | command |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ITEMS:
        result = report["items"][name]
        lines.append(f"| {result['title']} | {result['summary']} | {result['goal_text']} | {met_text(result)} | "
                     f"`{result['command']}` |")
    enc, dec = MEDIUM_ENCODER, MEDIUM_DECODER
    parameters = report["items"]["training"]["variants"]["adapter"]["parameters"]
    lines += [
        "",
        "## Setup",
        "",
        f"- Medium model (training, teacher and decoding benches): XLS-R-shaped encoder, "
        f"{enc['num_hidden_layers']} layers x {enc['hidden_size']} "
        f"(CNN with XLS-R's strides, {enc['conv_dim'][0]} channels), mBART-shaped decoder, {dec['decoder_layers']} "
        f"layers x {dec['d_model']}, {dec['vocab_size']:,}-token vocabulary, {MEDIUM_ADAPTER_DIM}-dim adapters in "
        f"every layer, 3-layer length adaptor: {parameters:,} parameters. Full size (GPU bench): XLS-R-300M + mBART-50 "
        "decoder, 768-dim adapters.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}, {machine['cpu_count']} cores, {machine['memory_gb']} GiB RAM; GPU: "
        f"{machine['gpu'] or 'none'}",
        f"- Python {machine['python']}, torch {machine['torch']}, transformers {machine['transformers']}",
        f"- intra-op threads per bench process: {report['threads']}; load average (1 min) at the start "
        f"{report['load_at_start']}, at the end {machine['load_average_1min']}",
        f"- clocks: {clocks(report)}. Single-threaded, a process's CPU time is a step's own work and leaves out "
        "the time other jobs on the machine hold the core (it still feels their cache and memory traffic); wall time "
        "counts it. Ratios use each variant's fastest "
        "step or run (other jobs only ever add time); medians are in report.json.",
        "",
        "## Findings",
    ]
    for name in ITEMS:
        result = report["items"][name]
        lines += ["", f"### {result['title']}", "", f"`{result['command']}`", ""]
        lines += [f"- {note}" for note in result.get("notes", [result["summary"]])]
        if "speedup_of_medians" in result:
            lines.append(f"- Ratio of median step times: {result['speedup_of_medians']:.2f}x (of the fastest: "
                         f"{result['speedup']:.2f}x). Slowest over fastest step: {spread(result['variants'])}; "
                         "every step's time is in report.json.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, required=True, help="folder of <item>.json files")
    parser.add_argument("--out_dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, required=True, help="the --threads the benches ran with")
    parser.add_argument("--elapsed_s", type=float, default=0.0)
    parser.add_argument("--load_at_start", type=float, default=None)
    args = parser.parse_args(argv)
    report = {"machine": machine_info(), "revision": git_revision(), "threads": args.threads,
              "elapsed_s": args.elapsed_s, "load_at_start": args.load_at_start,
              "items": {name: json.loads((args.results / f"{name}.json").read_text(encoding="utf-8"))
                        for name in ITEMS}}
    (args.out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out_dir / "REPORT.md").write_text(markdown(report), encoding="utf-8")


if __name__ == "__main__":
    main()
