"""CPU decoding at full size with --quantize int8: real-time factors of fp32, int8 and int8 + trimmed vocabulary (not in run_all.sh).

    tools/venv/bin/python tools/bench/bench_quantize.py [--quick] [--threads 2] [--json out.json]
    tools/venv/bin/python tools/bench/bench_quantize.py --demo    # mini_st BLEU / chrF++ with and without int8

The models are bench_vocab's: XLS-R-300M + mBART-50 decoder (sst/models/configs, random weights, 768-dim
adapters), and the same model with a 32,000-id target vocabulary sharing its tensors. Variants: fp32 (the full
model), int8 (a copy of it through sst.inference.quantize, what ``--quantize int8`` does) and int8 + trimmed
(the trimmed model, quantized). Each decodes ``--utts`` utterances of ``--seconds`` s end to end (encoder and
beam search, beam 5, one batch), every hypothesis forced to ``--tokens`` tokens (min_length = max_length) so
that every variant does the same decoding steps; timed side by side in one run (common.time_side_by_side,
rotated order, wall time with ``--threads`` > 1). Real-time factor = the fastest decoding time / the seconds
of audio; the speed-ups are the ratios of those times. Writes tools/bench/REPORT_quantize.md and the JSON
(--json, default tools/bench/quantize.json).

``--demo`` decodes the test sets of egs/mini_st (run it first: ``cd egs/mini_st && ./run.sh``) with each of
its packed models, fp32 (its stage 5 dirs, decode_st) and int8 (decode_st_int8, as ``--quantize int8`` makes
them), and adds their BLEU / chrF++ side by side to the report.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

# Importing bench_vocab re-executes this script with MALLOC_MMAP_THRESHOLD_ set (its memory figures need it).
from bench_vocab import FULL_VOCAB, build_models, language_ids
from common import (REPO, clock_for, command_line, emit, git_revision, machine_info, make_speech_batch, ratio,
                    set_threads, time_side_by_side)

GOAL_RTF = 0.5  # faster than real time with room: half the audio's duration on 2 cores
GOAL_BLEU_DROP = 1.0  # int8 within 1.0 BLEU of fp32 on every average
MINI_ST = REPO / "egs" / "mini_st"
DEMO_TAG = "st"  # the decode tag of mini_st's conf/decode_st.yaml: exp/<st>/decode_st (fp32), decode_st_int8


def build_variants(work: Path, subset: int) -> dict[str, torch.nn.Module]:
    """fp32, int8 and int8 + trimmed vocabulary, all from the same random weights."""
    from sst.inference.quantize import quantize_model

    full, trimmed = build_models(work, [subset])
    return {"fp32": full, "int8": quantize_model(copy.deepcopy(full), "int8", "cpu"),
            "int8_trimmed": quantize_model(trimmed[subset], "int8", "cpu")}


def measure(args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        variants = build_variants(Path(tmp), args.subset)
        build_s = time.perf_counter() - start
    batch = make_speech_batch(args.utts, (args.seconds, args.seconds))
    langs = language_ids(args.utts)
    # </s> <lang>, then ``tokens`` tokens and the </s> that mBART's generation config forces at max_length.
    length = {"max_length": args.tokens + 3, "min_length": args.tokens + 3}

    def decode(model: torch.nn.Module):
        def run():
            with torch.no_grad():
                encoded = model.encode(batch["speech"], batch["speech_lengths"])
            return model.search(*encoded, langs, beam_size=5, **length)
        return run

    outputs = {name: decode(model)() for name, model in variants.items()}
    assert all(len(row) == args.tokens for rows in outputs.values() for row in rows), "forced length not reached"
    clock = clock_for(args.threads)
    times = time_side_by_side({name: decode(model) for name, model in variants.items()}, 1, args.rounds, clock)
    audio_s = args.utts * args.seconds
    rtf = {name: times[name]["min_s"] / audio_s for name in variants}
    speedups = {name: ratio(times["fp32"], times[name])["min"] for name in variants if name != "fp32"}
    return {"item": "quantize", "command": command_line(__file__, sys.argv[1:]), "revision": git_revision(),
            "machine": machine_info(), "quick": args.quick, "build_s": round(build_s, 1),
            "setup": {"subset": args.subset, "utts": args.utts, "seconds": args.seconds, "tokens": args.tokens,
                      "beam": 5, "threads": args.threads, "clock": clock, "rounds": args.rounds,
                      "full_vocab": FULL_VOCAB, "audio_s": audio_s},
            "times": times, "rtf": rtf, "speedups": speedups, "goal_rtf": GOAL_RTF,
            "goal_met": {name: value <= GOAL_RTF for name, value in rtf.items()}}


def _decode_dirs(exp: Path, tag: str) -> list[Path]:
    return sorted(path for path in (exp / f"decode_{tag}").glob("*") if (path / "hyp").is_file())


def demo() -> str:
    """Decode mini_st's test sets with each packed model in int8 (stage 5's fp32 dirs beside them) and
    tabulate BLEU / chrF++ per direction and averaged, fp32 against int8."""
    from sst.eval.scoring import score_experiment

    experiments = sorted(path.parent for path in (MINI_ST / "exp").glob("st_*/packed"))
    if not experiments:
        return (f"No packed model in {MINI_ST / 'exp'}: run the demo first (`cd egs/mini_st && ./run.sh`), "
                "then `tools/venv/bin/python tools/bench/bench_quantize.py --demo`.")
    lines = ["| experiment | direction | BLEU fp32 | BLEU int8 | difference | chrF++ fp32 | chrF++ int8 |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    worst = 0.0
    for exp in experiments:
        fp32_dirs = _decode_dirs(exp, DEMO_TAG)
        if not fp32_dirs:
            lines.append(f"| {exp.name} | no stage 5 decoding in {exp.name}/decode_{DEMO_TAG} | | | | | |")
            continue
        int8_dirs = [exp / f"decode_{DEMO_TAG}_int8" / path.name for path in fp32_dirs]
        # what st.sh's stage 5 runs with --quantize int8, in the recipe folder (the dumps' paths are relative to it)
        subprocess.run([sys.executable, "-m", "sst.bin.st_inference", "--model_dir", str(exp), "--dump_dir",
                        *(f"dump/{path.name}" for path in fp32_dirs), "--output_dir", *map(str, int8_dirs),
                        "--config", "conf/decode_st.yaml", "--quantize", "int8"],
                       cwd=MINI_ST, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
        fp32, int8 = (score_experiment(dirs, bootstrap_samples=1)["tags"] for dirs in (fp32_dirs, int8_dirs))
        # one tag each, named by its decode dir (decode_st, decode_st_int8)
        for fp32_scored, int8_scored in zip(fp32.values(), int8.values()):
            rows = {**fp32_scored["directions"], **fp32_scored["averages"]}
            quantized = {**int8_scored["directions"], **int8_scored["averages"]}
            for name, row in rows.items():
                other = quantized[name]
                drop = row["BLEU"] - other["BLEU"]
                if name.startswith("avg"):
                    worst = max(worst, drop)
                lines.append(f"| {exp.name} | {name} | {row['BLEU']:.1f} | {other['BLEU']:.1f} | {-drop:+.1f} | "
                             f"{row['chrF++']:.1f} | {other['chrF++']:.1f} |")
    met = "yes" if worst <= GOAL_BLEU_DROP else "**no**"
    return "\n".join([*lines, "", f"Largest drop of an average's BLEU under int8: {worst:.2f} "
                      f"(goal <= {GOAL_BLEU_DROP:.1f}; met: {met})."])


def render(result: dict) -> str:
    """REPORT_quantize.md of one run."""
    title = "# CPU decoding with dynamic int8 quantization (XLS-R-300M + mBART-50 decoder, random weights)"
    demo_part = ["## Demo (egs/mini_st): BLEU with and without int8", "", result["demo"], ""] if result.get("demo") else []
    if "times" not in result:
        return "\n".join([title, "", "No timing run yet: `tools/venv/bin/python tools/bench/bench_quantize.py`.", "",
                          *demo_part])
    setup, machine, times = result["setup"], result["machine"], result["times"]
    names = {"fp32": "fp32", "int8": "int8 (`--quantize int8`)",
             "int8_trimmed": f"int8 + trimmed vocabulary ({setup['subset']:,} ids)"}
    lines = [
        title, "",
        f"`{result['command']}` at {result['revision']}, {machine['date']}, {machine['cpu']} ({machine['cpu_count']} "
        f"cores, shared), torch {machine['torch']}, {setup['threads']} thread(s), {setup['clock']} time; the "
        f"variants timed side by side in this run, fastest of {setup['rounds']} each"
        + (" (--quick: a small input, not the figures)" if result["quick"] else "") + ".", "",
        f"Input: {setup['utts']} utterances of {setup['seconds']:g} s ({setup['audio_s']:g} s of audio) in one batch, "
        f"encoder + beam search (beam 5), every hypothesis forced to {setup['tokens']} tokens and </s>. "
        f"Real-time factor = decoding time / audio seconds; speed-up = fp32 time / variant time.", "",
        "| variant | decoding time | real-time factor | speed-up over fp32 | RTF <= 0.5? |",
        "| --- | ---: | ---: | ---: | --- |"]
    for name, label in names.items():
        speedup = "1.00x" if name == "fp32" else f"{result['speedups'][name]:.2f}x"
        lines.append(f"| {label} | {times[name]['min_s']:.2f} s | {result['rtf'][name]:.2f} | {speedup} | "
                     f"{'yes' if result['goal_met'][name] else '**no**'} |")
    lines += ["", "int8: every nn.Linear (encoder, adapters, decoder, LM head) with int8 weights and activations "
              "quantized per batch (torch.ao.quantization.quantize_dynamic); the CNN feature encoder, the "
              "convolutional position embedding, the length adaptor and the embeddings stay fp32. Every timed run "
              "is in the JSON.", ""]
    return "\n".join(lines + demo_part)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=32000, help="the trimmed vocabulary's size")
    parser.add_argument("--utts", type=int, default=4, help="utterances in the batch")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each utterance")
    parser.add_argument("--tokens", type=int, default=25, help="tokens every hypothesis is forced to")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per variant")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 utterances of 2 s, 8 tokens, 2 rounds")
    parser.add_argument("--demo", action="store_true", help="only the mini_st comparison (BLEU / chrF++), into the report")
    parser.add_argument("--report", type=Path, default=REPO / "tools" / "bench" / "REPORT_quantize.md")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.demo:
        saved = args.json or REPO / "tools" / "bench" / "quantize.json"
        result = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {"item": "quantize"}
        result["demo"] = demo()
        args.report.write_text(render(result), encoding="utf-8")
        emit(result, saved)
        return
    if args.quick:
        args.utts, args.seconds, args.tokens, args.rounds = 2, 2.0, 8, 2
    result = measure(args)
    args.report.write_text(render(result), encoding="utf-8")
    emit(result, args.json or (None if args.quick else REPO / "tools" / "bench" / "quantize.json"))


if __name__ == "__main__":
    main()
