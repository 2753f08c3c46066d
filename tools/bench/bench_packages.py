"""Adapter-only vs full package of the paper's system at full size (random weights; not in run_all.sh).

    tools/venv/bin/python tools/bench/bench_packages.py [--work_dir /tmp/sst_packages] [--json out.json]

Saves XLS-R-300M and the whole mBART-50 (their packaged architectures, sst/models/configs, random weights;
an MBart50Tokenizer over the CoVoST-2 fixture texts) with ``save_pretrained`` as the two bases, builds the ST
model of egs/covost2/conf/tuning/train_st_samu_adapter.yaml's model_conf over them (768-dim adapters in
24 + 12 layers, 3-layer length adaptor), moves its trained tensors off their initial values and saves the
state dict as an epoch checkpoint. Then packs it both ways (``sst.models.packing.pack``), loads both
(``load_packed``, in fresh processes for their peak RSS) and checks that they hold the same tensors.
Writes the sizes on disk, their ratio and the times into the "Package sizes" section of
tools/bench/REPORT_fullsize.md (bench_fullsize.py rewrites that file: run this one after it) and the JSON.
About 10 minutes and 11 GB of disk on 2 shared cores; peak RSS about 8 GiB.
"""
from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import time
from pathlib import Path

from common import REPO, add_fullsize_options, command_line, disk_mb, emit, git_revision, machine_info, run_json

CONFIG = REPO / "egs" / "covost2" / "conf" / "tuning" / "train_st_samu_adapter.yaml"
SECTION = "## Package sizes: adapter-only vs full (sst.models.packing)"


def build_bases(models_dir: Path, texts: list[str]) -> tuple[Path, Path]:
    """The encoder and decoder base dirs (kept between runs)."""
    from transformers import Wav2Vec2FeatureExtractor

    from sst.models.architectures import MBART50_MMT, XLSR_300M, config_source
    from sst.models.pretrained import load_mbart, load_speech_encoder
    from sst.testing.tiny_models import build_mbart50_tokenizer

    encoder, decoder = models_dir / "encoder", models_dir / "decoder"
    if not (encoder / "preprocessor_config.json").exists():
        load_speech_encoder(XLSR_300M, pretrained=False).save_pretrained(encoder)
        Wav2Vec2FeatureExtractor.from_pretrained(config_source(XLSR_300M)).save_pretrained(encoder)
        gc.collect()
    if not (decoder / "tokenizer_config.json").exists():
        load_mbart(MBART50_MMT, pretrained=False).save_pretrained(decoder)
        gc.collect()
        build_mbart50_tokenizer(decoder, texts, vocab_size=400)
    return encoder, decoder


def make_experiment(exp: Path, encoder: Path, decoder: Path) -> tuple[Path, dict]:
    """``exp/config.yaml`` and ``exp/1epoch.pth`` of the paper's system over the bases, its trained tensors
    moved off their initial values; the checkpoint and the parameter counts."""
    import yaml

    from sst.models.freezing import parameter_report
    from sst.testing.tiny_models import st_experiment

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    model_conf = {**config["model_conf"], "encoder_model": str(encoder), "decoder_model": str(decoder)}
    checkpoint, model = st_experiment(exp, model_conf, config, move_trained=0.01)
    return checkpoint, parameter_report(model)["total"]


def timed_pack(exp: Path, checkpoint: Path, kind: str, out: Path) -> float:
    from sst.models.packing import pack

    start = time.perf_counter()
    pack(exp, checkpoint, kind, out=out)
    return round(time.perf_counter() - start, 1)


# Peak RSS from VmHWM, which starts afresh at exec (ru_maxrss keeps the forking parent's peak).
LOAD_SCRIPT = """
import json, time
start = time.perf_counter()
from pathlib import Path
from sst.models.packing import load_packed
load_packed(Path({packed!r}))
seconds = time.perf_counter() - start
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": round(seconds, 1), "peak_rss_mb": round(peak_kb / 1024, 1)}}))
"""


def timed_load(packed: Path, work: Path) -> dict:
    """load_packed in a fresh process: wall seconds (imports included) and peak RSS."""
    script = work / f"load_{packed.name}.py"
    script.write_text(LOAD_SCRIPT.format(packed=str(packed)), encoding="utf-8")
    return run_json([str(script)], env={"PYTHONPATH": str(REPO)}, timeout=900)


def same_tensors(first: Path, second: Path) -> bool:
    """Whether the two packages load to equal state dicts (bit for bit)."""
    import torch

    from sst.models.packing import load_packed

    one = load_packed(first)[0].state_dict()
    other = load_packed(second)[0].state_dict()
    return set(one) == set(other) and all(torch.equal(one[name], other[name]) for name in one)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_fullsize_options(parser, "/tmp/sst_packages")
    args = parser.parse_args(argv)
    from sst.eval.results_md import upsert_section

    if args.render:
        upsert_section(args.report, SECTION, render(json.loads(args.render.read_text(encoding="utf-8"))))
        return
    from sst.testing.corpora import COVOST_DE_EN, COVOST_FR_EN

    work = args.work_dir.resolve()
    shutil.rmtree(work / "exp", ignore_errors=True)  # the bases are kept
    texts = [text for rows in (COVOST_FR_EN, COVOST_DE_EN) for row in rows for text in row[2:4] if text]
    start = time.perf_counter()
    encoder, decoder = build_bases(work / "models", texts)
    exp = work / "exp" / "st_train_st_samu_adapter"
    checkpoint, parameters = make_experiment(exp, encoder, decoder)
    setup_s = time.perf_counter() - start
    gc.collect()
    kinds = {}
    for kind in ("adapters", "full"):
        out = exp / f"packed_{kind}"
        pack_s = timed_pack(exp, checkpoint, kind, out)
        gc.collect()
        kinds[kind] = {"pack_s": pack_s, "package_mb": disk_mb([out]), "model_pth_mb": disk_mb([out / "model.pth"]),
                       "load": timed_load(out, work)}
        print(f"{kind}: {kinds[kind]}", file=sys.stderr)
    result = {
        "item": "packages", "command": command_line(__file__, sys.argv[1:] if argv is None else argv),
        "revision": git_revision(), "machine": machine_info(), "setup_s": round(setup_s, 1),
        "parameters": parameters, "checkpoint_mb": disk_mb([checkpoint]),
        "bases_mb": {"encoder": disk_mb([encoder]), "decoder": disk_mb([decoder])}, "kinds": kinds,
        "ratio": round(kinds["adapters"]["package_mb"] / kinds["full"]["package_mb"], 4),
        "same_tensors": same_tensors(exp / "packed_adapters", exp / "packed_full"),
    }
    upsert_section(args.report, SECTION, render(result))
    emit(result, args.json)


def render(result: dict) -> str:
    """The report section of one run."""
    machine, kinds, params = result["machine"], result["kinds"], result["parameters"]
    adapters, full = kinds["adapters"], kinds["full"]
    lines = [f"`{result['command']}` at {result['revision']}, {machine['date']}, {machine['cpu']} "
             f"({machine['cpu_count']} cores, {machine['memory_gb']} GB, shared), torch {machine['torch']}. "
             "The paper's system (egs/covost2 `train_st_samu_adapter.yaml`: XLS-R-300M + mBART-50, 768-dim "
             f"adapters, 3-layer length adaptor) with random weights: {params['trainable']:,} trainable of "
             f"{params['trainable'] + params['frozen']:,} parameters; bases saved with `save_pretrained` (encoder "
             f"{result['bases_mb']['encoder'] / 1e3:.2f} GB, decoder {result['bases_mb']['decoder'] / 1e3:.2f} GB), "
             f"checkpoint {result['checkpoint_mb'] / 1e3:.2f} GB.", "",
             "| package | on disk | model.pth | packing | loading (fresh process, imports included) "
             "| peak RSS of loading |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for kind, row in kinds.items():
        peak = row["load"].get("peak_rss_mb")
        lines.append(f"| {kind} | {row['package_mb']:,.1f} MB | {row['model_pth_mb']:,.1f} MB | {row['pack_s']:.0f} s "
                     f"| {row['load']['seconds']:.0f} s | {'-' if peak is None else f'{peak / 1024:.2f} GiB'} |")
    lines += ["", f"- **Adapter-only / full on disk: {result['ratio']:.3f}** ({adapters['package_mb']:,.0f} vs "
              f"{full['package_mb']:,.0f} MB; goal: about a tenth). Both packages load to the same tensors, bit for "
              f"bit: {'yes' if result['same_tensors'] else '**no**'}.",
              "- Both hold the configs and the tokenizer (here a small stand-in MBart50Tokenizer; the real one adds "
              "about 22 MB, sentencepiece model and tokenizer.json, to each). Packing adapter-only loads the bases "
              "and hashes their frozen tensors before and after the checkpoint is loaded over them (the check that "
              "the checkpoint was trained on them); loading reads the bases through `from_pretrained` and hashes "
              "them again."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
