"""Target-vocabulary trimming at full size: full (250,054) against trimmed mBART-50 output layers (not in run_all.sh).

    tools/venv/bin/python tools/bench/bench_vocab.py [--quick] [--threads 1] [--json out.json]
    tools/venv/bin/python tools/bench/bench_vocab.py --demo    # mini_st BLEU / chrF++ with and without trimming

The models are the real architectures (XLS-R-300M + mBART-50 decoder from sst/models/configs, random weights,
768-dim adapters). The trimmed variants are built on the meta device and given the full model's tensors
(only the kept embedding rows are new), so every variant has the same weights. Measured in one run, the
variants side by side (common.time_side_by_side, process CPU time on one thread):
(a) the beam search alone (beam 5) on a fixed encoder memory, every output forced to ``--tokens`` tokens
(min_length = max_length) so that each variant does the same decoding steps; also for a sweep of subset
sizes; (b) end to end, encoder included, on ``--utts`` utterances of ``--seconds`` s; (c) an adapter training
step (forward + backward): its time and peak RSS, and the LM head + label-smoothed loss alone (forward +
backward on the step's decoder states): its peak RSS, with the logits' size tokens x vocabulary x 4 bytes.

The subset is random ids (no real tokenizer here) plus the special tokens and the 52 language codes: its size,
not which ids, sets the cost. 32,000 is the default: the English side of CoVoST-2 (~290k sentences) uses a
few tens of thousands of mBART's pieces. Writes tools/bench/REPORT_vocab.md and the JSON (--json). Full run:
about 8 minutes on 2 shared cores (one 3.4 GB model: the trimmed variants share its tensors); --quick: 2 minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # RSS follows live tensors (see common.MALLOC_ENV)
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})

import torch

from common import (FULL_ADAPTER_DIM, MBART50, REPO, XLSR_300M, PeakRss, command_line, emit, git_revision,
                    machine_info, make_st_batch, ratio, set_threads, time_side_by_side, write_models)

GOALS = {"beam_search": 1.8, "end_to_end": 1.2, "logits_memory": 5.0}
FULL_VOCAB = MBART50["vocab_size"]


def subset_ids(size: int, seed: int = 0) -> list[int]:
    """``size`` mBART ids: the specials, the 52 language codes and random other pieces."""
    from sst.data.langs import MBART50_CODES

    codes = set(range(FULL_VOCAB - 1 - len(MBART50_CODES), FULL_VOCAB - 1))  # mBART-50: 250001..250052 (+ <mask>)
    kept = {0, 1, 2, 3} | codes
    others = torch.tensor(sorted(set(range(4, FULL_VOCAB)) - kept))
    chosen = others[torch.randperm(len(others), generator=torch.Generator().manual_seed(seed))[: size - len(kept)]]
    return sorted(kept | set(chosen.tolist()))


def build_models(work: Path, sizes: list[int]):
    """The full model and, per subset size, a trimmed one sharing its tensors."""
    from sst.models.speech_translation import SpeechTranslationModel
    from sst.models.vocabulary import write_vocabulary

    encoder_dir, decoder_dir = write_models(work, XLSR_300M, MBART50)
    options = dict(encoder_model=encoder_dir, decoder_model=decoder_dir, pretrained=False,
                   encoder_adapter_dim=FULL_ADAPTER_DIM, decoder_adapter_dim=FULL_ADAPTER_DIM, adapter_dropout=0.0)
    torch.manual_seed(0)
    full = SpeechTranslationModel(**options).eval()
    state = full.state_dict()
    tied = ("mbart.model.shared.weight", "mbart.model.decoder.embed_tokens.weight", "mbart.lm_head.weight")
    trimmed = {}
    for size in sizes:
        ids = subset_ids(size)
        path = work / f"vocab_{size}.txt"
        write_vocabulary(path, ids)
        with torch.device("meta"):
            model = SpeechTranslationModel(**options, target_vocabulary=str(path))
        index = torch.tensor(ids)
        rows = state["mbart.model.shared.weight"][index].clone()
        model.load_state_dict({**state, **{key: rows for key in tied},
                               "mbart.final_logits_bias": state["mbart.final_logits_bias"][:, index].clone()},
                              strict=True, assign=True)
        model.target_vocabulary_ids = index  # a buffer outside the state dict, still on the meta device
        model.mbart.lm_head.weight = model.mbart.model.shared.weight  # one tensor, as in the untrimmed model
        trimmed[size] = model.eval()
    return full, trimmed


def language_ids(batch_size: int) -> torch.Tensor:
    """en_XX's mBART id for every row."""
    return torch.full((batch_size,), 250004)


def decoding(models: dict, batch: dict, tokens: int, warmup: int, rounds: int) -> dict:
    """(a) beam search on a fixed memory, (b) encoder + beam search; outputs forced to ``tokens`` tokens."""
    full = models["full"]
    langs = language_ids(batch["speech"].size(0))
    with torch.no_grad():
        memory, mask = full.encode(batch["speech"], batch["speech_lengths"])
    # </s> <lang>, then ``tokens`` tokens and the </s> that mBART's generation config forces at max_length.
    length = {"max_length": tokens + 3, "min_length": tokens + 3}

    def search(model):
        return lambda: model.search(memory, mask, langs, beam_size=5, **length)

    def end_to_end(model):
        def run():
            with torch.no_grad():
                encoded = model.encode(batch["speech"], batch["speech_lengths"])
            return model.search(*encoded, langs, beam_size=5, **length)
        return run

    outputs = {name: search(model)() for name, model in models.items()}
    assert all(len(row) == tokens for rows in outputs.values() for row in rows), "forced length not reached"
    beam = time_side_by_side({name: search(model) for name, model in models.items()}, warmup, rounds, "cpu")
    e2e_models = {name: models[name] for name in ("full", "trimmed")}
    e2e = time_side_by_side({name: end_to_end(model) for name, model in e2e_models.items()}, warmup, rounds, "cpu")
    return {"memory_frames": int(memory.size(1)), "beam_search": beam, "end_to_end": e2e}


def training(models: dict, batch: dict, rounds: int) -> dict:
    """(c) ``rounds`` adapter training steps per variant: time, peak RSS; the LM head + loss alone: peak RSS."""
    from transformers.modeling_outputs import BaseModelOutput

    from sst.models.speech_translation import scored_positions, translation_loss
    from sst.models.vocabulary import to_trimmed

    peak = PeakRss()
    result = {}
    for name, model in models.items():
        text = batch["text"]
        if model.target_vocabulary_ids is not None:
            text = torch.where(text >= 0, to_trimmed(text.clamp(min=0), model.target_vocabulary_ids), text)
        model.train()

        def step():
            loss, _, _ = model(batch["speech"], batch["speech_lengths"], text, batch["text_lengths"])
            loss.backward()
            model.zero_grad(set_to_none=True)

        peak.reset()
        times = time_side_by_side({name: step}, 0, rounds, "cpu")[name]
        step_peak = peak.peak_mb()
        with torch.no_grad():
            memory, mask = model.encode(batch["speech"], batch["speech_lengths"])
            hidden = model.mbart.model(encoder_outputs=BaseModelOutput(last_hidden_state=memory), attention_mask=mask,
                                       decoder_input_ids=model.decoder_inputs(text), use_cache=False).last_hidden_state
        hidden = hidden[scored_positions(text)].detach().requires_grad_()
        peak.reset()
        logits = model.mbart.lm_head(hidden) + model.mbart.final_logits_bias
        loss, _ = translation_loss(logits, text, model.label_smoothing)
        loss.backward()
        del logits, loss
        head_peak = peak.peak_mb()
        model.eval()
        vocab = model.mbart.config.vocab_size
        result[name] = {"step": times, "step_peak_rss_mb": round(step_peak, 1), "head_loss_peak_rss_mb": round(head_peak, 1),
                        "scored_tokens": int(hidden.size(0)), "vocab": vocab,
                        "logits_mb": round(hidden.size(0) * vocab * 4 / 2**20, 1)}
    return result


def measure(args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    sizes = sorted({args.subset, *([] if args.quick else args.sweep)})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        full, trimmed = build_models(Path(tmp), sizes)
        build_s = time.perf_counter() - start
    variants = {"full": full, "trimmed": trimmed[args.subset],
                **{f"trimmed_{size}": trimmed[size] for size in sizes if size != args.subset}}
    batch = make_st_batch(args.utts, (args.seconds, args.seconds), (args.train_tokens, args.train_tokens), FULL_VOCAB)
    batch["text"][:, 0] = 250004
    rounds = 2 if args.quick else args.rounds
    decode = decoding(variants, batch, args.tokens, 1, rounds)
    train = training({"full": full, "trimmed": trimmed[args.subset]}, batch, 2)
    beam, e2e = decode["beam_search"], decode["end_to_end"]
    ratios = {"beam_search": ratio(beam["full"], beam["trimmed"])["min"],
              "end_to_end": ratio(e2e["full"], e2e["trimmed"])["min"],
              "training_step": ratio(train["full"]["step"], train["trimmed"]["step"])["min"],
              "logits_memory": train["full"]["logits_mb"] / train["trimmed"]["logits_mb"],
              "head_loss_peak_rss": train["full"]["head_loss_peak_rss_mb"] / max(train["trimmed"]["head_loss_peak_rss_mb"], 1e-3),
              "step_peak_rss": train["full"]["step_peak_rss_mb"] / max(train["trimmed"]["step_peak_rss_mb"], 1e-3),
              "sweep_beam_search": {str(variants[name].mbart.config.vocab_size): ratio(beam["full"], beam[name])["min"]
                                    for name in beam if name != "full"}}
    return {"item": "vocab", "command": command_line(__file__, sys.argv[1:]), "revision": git_revision(),
            "machine": machine_info(), "quick": args.quick, "build_s": round(build_s, 1),
            "setup": {"subset": args.subset, "sizes": sizes, "utts": args.utts, "seconds": args.seconds,
                      "tokens": args.tokens, "train_tokens": args.train_tokens, "beam": 5, "threads": args.threads,
                      "full_vocab": FULL_VOCAB},
            "decoding": decode, "training": train, "ratios": ratios, "goals": GOALS,
            "goals_met": {key: ratios[key] >= goal for key, goal in GOALS.items()}}


def render(result: dict) -> str:
    """REPORT_vocab.md of one run."""
    setup, r, train, dec = result["setup"], result["ratios"], result["training"], result["decoding"]
    machine = result["machine"]
    met = {key: "yes" if ok else "**no**" for key, ok in result["goals_met"].items()}
    seconds = lambda v: f"{v['min_s']:.2f} s"  # noqa: E731
    lines = [
        "# Target-vocabulary trimming at full size (XLS-R-300M + mBART-50 decoder, random weights, CPU)", "",
        f"`{result['command']}` at {result['revision']}, {machine['date']}, {machine['cpu']} ({machine['cpu_count']} "
        f"cores, shared), torch {machine['torch']}, {setup['threads']} thread(s), process CPU time; each figure is "
        "the ratio of the fastest of the timed runs of the two variants, measured side by side in this run"
        + (" (--quick: fewer rounds, no sweep)" if result["quick"] else "") + ".", "",
        f"Full vocabulary {setup['full_vocab']:,} against a subset of {setup['subset']:,} ids (specials, the 52 "
        f"language codes, random pieces). Batch: {setup['utts']} utterances of {setup['seconds']:g} s "
        f"({dec['memory_frames']} memory frames after the length adaptor), beam 5, every hypothesis forced to "
        f"{setup['tokens']} tokens and </s>; training targets of {setup['train_tokens']} tokens.", "",
        "| measured | full | trimmed | ratio | goal | met? |", "| --- | ---: | ---: | ---: | ---: | --- |",
        f"| (a) beam search, encoder excluded | {seconds(dec['beam_search']['full'])} | "
        f"{seconds(dec['beam_search']['trimmed'])} | {r['beam_search']:.2f}x | >= 1.8x | {met['beam_search']} |",
        f"| (b) end-to-end decoding, encoder included | {seconds(dec['end_to_end']['full'])} | "
        f"{seconds(dec['end_to_end']['trimmed'])} | {r['end_to_end']:.2f}x | >= 1.2x | {met['end_to_end']} |",
        f"| (c) training step logits ({train['full']['scored_tokens']} tokens x vocab x 4 B) | "
        f"{train['full']['logits_mb']:.1f} MB | {train['trimmed']['logits_mb']:.1f} MB | {r['logits_memory']:.2f}x | "
        f">= 5x | {met['logits_memory']} |",
        f"| (c) LM head + label-smoothed loss, forward + backward: peak RSS | "
        f"{train['full']['head_loss_peak_rss_mb']:.1f} MB | {train['trimmed']['head_loss_peak_rss_mb']:.1f} MB | "
        f"{r['head_loss_peak_rss']:.2f}x | - | - |",
        f"| (c) adapter training step: time | {seconds(train['full']['step'])} | {seconds(train['trimmed']['step'])} | "
        f"{r['training_step']:.2f}x | - | - |",
        f"| (c) adapter training step: peak RSS above the model | {train['full']['step_peak_rss_mb']:.0f} MB | "
        f"{train['trimmed']['step_peak_rss_mb']:.0f} MB | {r['step_peak_rss']:.2f}x | - | - |", ""]
    if len(r["sweep_beam_search"]) > 1:
        lines += ["Beam search (a) speed-up by subset size: " + ", ".join(
            f"{int(size):,}: {value:.2f}x" for size, value in sorted(r["sweep_beam_search"].items(), key=lambda kv: int(kv[0])))
            + ".", ""]
    lines += ["Times are each variant's fastest run (every run is in the JSON). The step's peak RSS is what one "
              "forward + backward adds above the resident model; the logits are a small part of it at this batch, "
              "the encoder's activations for the input-gradient backward the rest.", ""]
    if result.get("demo"):
        lines += ["## Demo (egs/mini_st), same seed, with and without trimming", "", result["demo"], ""]
    return "\n".join(lines)


def demo(args: argparse.Namespace) -> str:
    """Train and decode egs/mini_st (xlsr encoder) without and with --target_vocab; their scores side by side."""
    recipe = REPO / "egs" / "mini_st"
    common = ["./run.sh", "--encoders", "xlsr", "--longform", "false"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for trim in ("false", "true"):
        subprocess.run([*common, "--target_vocab", trim], cwd=recipe, env=env, check=True)
    return subprocess.run(["tools/venv/bin/python", "-m", "sst.bin.score", "--side_by_side",
                           str(recipe / "exp" / "st_xlsr_adapter"), str(recipe / "exp" / "st_xlsr_adapter_trimmed"),
                           "--metrics", "BLEU", "chrF++"], cwd=REPO, env=env, check=True, capture_output=True,
                          text=True).stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=32000, help="trimmed vocabulary size of the main figures")
    parser.add_argument("--sweep", type=int, nargs="*", default=[8000, 16000, 64000], help="more sizes for (a)")
    parser.add_argument("--utts", type=int, default=4, help="utterances per batch")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each utterance")
    parser.add_argument("--tokens", type=int, default=25, help="tokens every hypothesis is forced to")
    parser.add_argument("--train_tokens", type=int, default=25, help="target tokens per training utterance")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per variant")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2 utterances of 2 s, 8 tokens, 2 rounds, no sweep")
    parser.add_argument("--demo", action="store_true", help="only the mini_st comparison (BLEU / chrF++), into the report")
    parser.add_argument("--report", type=Path, default=REPO / "tools" / "bench" / "REPORT_vocab.md")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.demo:
        saved = args.json or REPO / "tools" / "bench" / "vocab.json"
        result = json.loads(saved.read_text(encoding="utf-8"))
        result["demo"] = demo(args)
        args.report.write_text(render(result), encoding="utf-8")
        emit(result, saved)
        return
    if args.quick:
        args.utts, args.seconds, args.tokens, args.train_tokens = 2, 2.0, 8, 8
    result = measure(args)
    args.report.write_text(render(result), encoding="utf-8")
    emit(result, args.json)


if __name__ == "__main__":
    main()
