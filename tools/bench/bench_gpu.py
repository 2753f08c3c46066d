"""Full-size bf16 training step on a GPU: step time, audio seconds/s, peak memory, MFU.

    tools/venv/bin/python tools/bench/bench_gpu.py [--variants adapter full] [--json out.json]

The model is the paper's at full size with random weights: XLS-R-300M encoder and mBART-50 decoder
(their published configs), 768-dim adapters in every layer, 3-layer length adaptor. ``adapter``
freezes encoder and decoder (about 75M trainable parameters), ``full`` trains them too. Each step:
forward under ``torch.autocast(bfloat16)`` (fp32 master weights), backward, grad-norm clipping, Adam
over the ST task's optimizer parameters, zero_grad, on one fixed batch. The variants run one after the
other, each alone on the GPU. Peak memory: ``torch.cuda.max_memory_allocated`` from the built model on
(weights included). MFU: FLOPs of one step (torch FlopCounterMode: matmuls, convolutions, attention,
forward and backward, as executed: frozen weights get no weight-gradient FLOPs) / median step time /
the GPU's dense bf16 peak.

Without CUDA it writes ``not measured: no GPU on this machine``. ``--device cpu --size medium`` runs
the same code on the CPU at medium size, to check the script where no GPU is at hand.
"""
from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

import torch

from common import (FULL_ADAPTER_DIM, MBART50, MEDIUM_ADAPTER_DIM, MEDIUM_DECODER, MEDIUM_ENCODER, XLSR_300M,
                    PeakRss, build_st_model, command_line, count_flops, emit, make_st_batch, time_side_by_side)

SIZES = {"full": (XLSR_300M, MBART50, FULL_ADAPTER_DIM), "medium": (MEDIUM_ENCODER, MEDIUM_DECODER, MEDIUM_ADAPTER_DIM)}
FREEZE = {"adapter": ["encoder", "decoder"], "full": []}
# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s; first match wins.
BF16_PEAK_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("H800", 989.4), ("GH200", 989.4),
                    ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.1), ("L4", 121.0),
                    ("A10G", 70.0), ("A10", 125.0))


def bf16_peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU by its name, or None when it is not in the table."""
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key in device_name), None)


class MemoryProbe:
    """Peak memory from ``reset()`` on: CUDA's allocator statistics, or peak RSS on the CPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.rss = PeakRss()
        self.base_mb = 0.0

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base_mb = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            self.rss.reset()

    def peak_above_reset_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20 - self.base_mb
        return self.rss.peak_mb()


def run_variant(variant: str, args: argparse.Namespace, device: torch.device) -> dict:
    """Build one variant on ``device``, time its bf16 training step, and measure its memory and FLOPs."""
    from sst.tasks.st import STTask

    encoder, decoder, adapter_dim = SIZES[args.size]
    torch.manual_seed(0)
    model = build_st_model(encoder, decoder, adapter_dim, FREEZE[variant]).to(device).train()
    optim_args = argparse.Namespace(optim="adam", optim_conf={"lr": 1e-4})
    optimizer, = STTask.build_optimizers(optim_args, model)
    batch = {k: v.to(device) for k, v in make_st_batch(args.batch_size, (args.min_seconds, args.max_seconds),
                                                       (args.min_tokens, args.max_tokens),
                                                       decoder["vocab_size"]).items()}

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss, _, _ = model(**batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad()

    tensors = [*model.parameters(), *model.buffers()]
    weights_mb = sum(t.numel() * t.element_size() for t in tensors) / 2**20
    memory = MemoryProbe(device)
    memory.reset()
    timing = time_side_by_side({variant: step}, args.warmup, args.steps)[variant]
    peak_above_model = memory.peak_above_reset_mb()
    flops = count_flops(step)
    audio_seconds = batch["speech_lengths"].sum().item() / 16000
    result = {**timing, "audio_seconds_per_s": audio_seconds / timing["median_s"], "flops_per_step": flops,
              "achieved_tflops": flops / timing["median_s"] / 1e12, "weights_mb": weights_mb,
              "peak_memory_mb": weights_mb + peak_above_model, "peak_above_model_mb": peak_above_model,
              "parameters": sum(p.numel() for p in model.parameters()),
              "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    del model, optimizer, batch
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=sorted(FREEZE), default=["adapter", "full"])
    parser.add_argument("--device", default="cuda", help="cuda (the measurement) or cpu (a check of the script)")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--min_seconds", type=float, default=4.0)
    parser.add_argument("--max_seconds", type=float, default=8.0)
    parser.add_argument("--min_tokens", type=int, default=20)
    parser.add_argument("--max_tokens", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--peak_tflops", type=float, default=None, help="bf16 peak for MFU (default: by GPU name)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)

    result = {"item": "gpu", "title": f"{args.size.capitalize()}-size bf16 training step on a GPU",
              "command": command_line(__file__, argv)}
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        reason = "not measured: no GPU on this machine"
        result.update(measured=False, reason=reason, goals={}, goals_met={}, summary=reason, goal_text="none set")
        emit(result, args.json)
        return result
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    if device.type != "cuda":
        result["title"] = f"{args.size.capitalize()}-size bf16 training step on the CPU (a check of the script)"
    peak = args.peak_tflops or (bf16_peak_tflops(device_name) if device.type == "cuda" else None)
    variants = {variant: run_variant(variant, args, device) for variant in args.variants}
    for stats in variants.values():
        stats["mfu"] = stats["achieved_tflops"] / peak if peak else None
    result.update(
        measured=True, device=device_name, bf16_peak_tflops=peak, variants=variants, goals={}, goals_met={},
        config={k: getattr(args, k) for k in ("size", "batch_size", "min_seconds", "max_seconds", "min_tokens",
                                              "max_tokens", "warmup", "steps")})
    if {"adapter", "full"} <= set(variants):
        result["speedup"] = variants["full"]["median_s"] / variants["adapter"]["median_s"]
        result["memory_saving"] = 1 - variants["adapter"]["peak_memory_mb"] / variants["full"]["peak_memory_mb"]
    result["summary"] = "; ".join(
        f"{name} {v['median_s'] * 1e3:.0f} ms/step, {v['audio_seconds_per_s']:.0f} audio s/s, "
        f"{v['peak_memory_mb'] / 1024:.1f} GiB" + (f", MFU {v['mfu']:.1%}" if v["mfu"] is not None else "")
        for name, v in variants.items())
    result["goal_text"] = "none set"
    result["notes"] = [
        f"{name}: {v['median_s'] * 1e3:.0f} ms/step, {v['audio_seconds_per_s']:.0f} audio s/s, peak "
        f"{v['peak_memory_mb'] / 1024:.1f} GiB, {v['achieved_tflops']:.0f} TFLOP/s"
        + (f", MFU {v['mfu']:.1%} of {peak:.0f}" if v["mfu"] is not None else ", MFU: peak unknown")
        for name, v in variants.items()]
    if "speedup" in result:
        result["notes"].append(f"Adapter training against full fine-tuning at this size: full / adapter step time "
                               f"{result['speedup']:.2f}x, "
                               f"adapter peak memory {result['memory_saving']:.0%} lower.")
    emit(result, args.json)
    return result


if __name__ == "__main__":
    main()
