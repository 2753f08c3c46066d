"""Stages 1-6 of egs/covost2 through run.sh with full-size random-weight models (not in run_all.sh).

    tools/venv/bin/python tools/bench/bench_fullsize.py [--work_dir /tmp/sst_fullsize] [--json out.json]

The corpus is the CoVoST-2 fixture of sst/testing/corpora.py (fr->en and de->en, a few seconds of audio each).
The models are the real architectures (sst/models/configs) with random weights, saved with
``save_pretrained``: XLS-R-300M, a LaBSE-sized teacher (BERT with the 501,153-row embedding, CLS pooling,
Dense 768 tanh, Normalize; a WordPiece tokenizer over the corpus texts) and the whole mBART-50 with its
250,054-entry output layer (an MBart50Tokenizer over the corpus texts: the model's vocabulary is what
costs). Each training stage runs two epochs of one update (``--batch_bins`` above the set's size) and
averages its two checkpoints, as ``keep_nbest_models`` does at scale. Per stage: wall time, peak RSS
(largest process of the stage, ``/usr/bin/time``'s maximum resident set size) and the size on disk of
what it wrote. Writes ``tools/bench/REPORT_fullsize.md`` and the JSON (``--json``). Took 40 minutes on 2
shared cores, with a peak of 13-17 GiB in stage 4 (see the report); run it alone, with ~70 GB of disk.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, add_fullsize_options, command_line, disk_mb, emit, git_revision, machine_info

STAGES = {1: "data dirs", 2: "feature prep (dump audio, teacher embeddings, tokenisation)",
          3: "SAMU distillation + export + retrieval check", 4: "ST training + n-best averaging + packing",
          5: "decoding", 6: "scoring"}
TRAINER_ARGS = ("--max_epoch 2 --batch_bins 100000000 --accum_grad 1 --keep_nbest_models 2 --num_workers 0 "
                "--use_tensorboard false --log_interval 1")
RECIPE_FILES = ("run.sh", "path.sh", "cmd.sh", "db.sh", "conf")


def build_models(models_dir: Path, texts: list[str]) -> dict[str, str]:
    """Save the three full-size random-weight model dirs; returns their paths by role."""
    from transformers import BertTokenizer, Wav2Vec2FeatureExtractor

    from sst.models.architectures import MBART50_MMT, XLSR_300M, config_source, random_teacher
    from sst.models.pretrained import load_mbart, load_speech_encoder
    from sst.testing.tiny_models import build_mbart50_tokenizer, wordpiece_vocab

    dirs = {role: models_dir / role for role in ("encoder", "teacher", "decoder")}
    if not (dirs["encoder"] / "config.json").exists():
        load_speech_encoder(XLSR_300M, pretrained=False).save_pretrained(dirs["encoder"])
        Wav2Vec2FeatureExtractor.from_pretrained(config_source(XLSR_300M)).save_pretrained(dirs["encoder"])
        gc.collect()
    if not (dirs["teacher"] / "modules.json").exists():
        vocab_dir = models_dir / "teacher_vocab"
        BertTokenizer(vocab=wordpiece_vocab(texts), do_lower_case=False, strip_accents=False).save_pretrained(vocab_dir)
        random_teacher(vocab_dir).save(str(dirs["teacher"]))
        gc.collect()
    if not (dirs["decoder"] / "tokenizer_config.json").exists():
        load_mbart(MBART50_MMT, pretrained=False).save_pretrained(dirs["decoder"])
        gc.collect()
        build_mbart50_tokenizer(dirs["decoder"], texts, vocab_size=400)
    return {role: str(path) for role, path in dirs.items()}


def recipe_tree(work_dir: Path) -> Path:
    """``work_dir/egs/covost2`` linking to the real recipe files (its ../../tools is the repo's)."""
    recipe = work_dir / "egs" / "covost2"
    recipe.mkdir(parents=True, exist_ok=True)
    for name in RECIPE_FILES:
        if not (recipe / name).exists():
            (recipe / name).symlink_to(REPO / "egs" / "covost2" / name)
    if not (work_dir / "tools").exists():
        (work_dir / "tools").symlink_to(REPO / "tools")
    return recipe


def big_files(root: Path, min_mb: float = 50.0) -> dict[str, float]:
    """Files of at least ``min_mb`` under ``root``, relative name -> MB."""
    return {str(p.relative_to(root)): round(p.stat().st_size / 1e6, 1) for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.stat().st_size >= min_mb * 1e6}


def run_stage(recipe: Path, stage: int, options: list[str], log: Path) -> dict[str, float]:
    """One stage through run.sh under /usr/bin/time: wall seconds and peak RSS (MB) of its largest process."""
    usage = log.with_suffix(".time")
    cmd = ["/usr/bin/time", "-f", "%M %e", "-o", str(usage), "./run.sh", "--stage", str(stage),
           "--stop_stage", str(stage), *options]
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, cwd=recipe, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    max_kb, wall = usage.read_text().split()[-2:]
    if proc.returncode != 0:
        raise RuntimeError(f"stage {stage} failed ({proc.returncode}); see {log}:\n"
                           + "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:]))
    return {"seconds": float(wall), "peak_rss_mb": round(int(max_kb) / 1024, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_fullsize_options(parser, "/tmp/sst_fullsize")
    args = parser.parse_args(argv)
    if args.render:
        args.report.write_text(render(json.loads(args.render.read_text(encoding="utf-8"))), encoding="utf-8")
        return
    from sst.testing.corpora import COVOST_DE_EN, COVOST_FR_EN, make_covost2_corpus

    work = args.work_dir.resolve()
    if (work / "egs").exists():
        shutil.rmtree(work / "egs")  # stages rerun from scratch; the model dirs are kept
    corpus = make_covost2_corpus(work / "corpus")
    texts = [text for rows in (COVOST_FR_EN, COVOST_DE_EN) for row in rows for text in row[2:4] if text]
    start = time.perf_counter()
    models = build_models(work / "models", texts)
    build_s = time.perf_counter() - start
    recipe = recipe_tree(work)
    options = ["--covost2", str(corpus.covost_dir), "--commonvoice", str(corpus.commonvoice_dir),
               "--src_langs", "fr de", "--nj", "1", "--inference_nj", "1", "--ngpu", "0",
               "--encoder_model", models["encoder"], "--teacher_model", models["teacher"],
               "--decoder_model", models["decoder"], "--samu_args", TRAINER_ARGS, "--st_args", TRAINER_ARGS,
               "--inference_args", "--max_length 60"]
    (recipe / "logs").mkdir(exist_ok=True)
    outputs = {1: ["data"], 2: ["dump"], 3: ["exp/samu_train_samu"], 4: ["exp/st_train_st_samu_adapter"],
               5: ["exp/st_train_st_samu_adapter/decode_st"], 6: ["exp/st_train_st_samu_adapter/RESULTS.md"]}
    stages = {}
    for stage in STAGES:
        before = {p: disk_mb([recipe / p]) if (recipe / p).exists() else 0.0 for p in outputs[stage]}
        result = run_stage(recipe, stage, options, recipe / "logs" / f"stage{stage}.log")
        result["written_mb"] = round(sum(disk_mb([recipe / p]) - before[p] for p in outputs[stage]), 1)
        print(f"stage {stage}: {result}", file=sys.stderr)
        stages[stage] = result
    exp = {name: big_files(recipe / "exp" / name) for name in ("samu_train_samu", "st_train_st_samu_adapter")}
    result = {
        "item": "fullsize", "command": command_line(__file__, sys.argv[1:] if argv is None else argv),
        "revision": git_revision(), "machine": machine_info(), "model_build_s": round(build_s, 1),
        "model_dirs_mb": {role: disk_mb([Path(path)]) for role, path in models.items()},
        "stages": stages, "large_files_mb": exp,
        "results_md": (recipe / outputs[6][0]).read_text(encoding="utf-8"),
    }
    args.report.write_text(render(result), encoding="utf-8")
    emit(result, args.json)


def render(result: dict) -> str:
    """The Markdown report of one run."""
    lines = ["# Full-size smoke run (stages 1-6 of egs/covost2, random weights)", "",
             f"`{result['command']}` at {result['revision']}, {result['machine']['date']}, "
             f"{result['machine']['cpu']} ({result['machine']['cpu_count']} cores, "
             f"{result['machine']['memory_gb']} GB, shared), torch {result['machine']['torch']}.", "",
             f"Model dirs (save_pretrained, built in {result['model_build_s']:.0f} s): "
             + ", ".join(f"{role} {mb / 1e3:.2f} GB" for role, mb in result["model_dirs_mb"].items()) + ".", "",
             "| stage | does | wall time | peak RSS | written to disk |", "| --- | --- | ---: | ---: | ---: |"]
    for stage, row in result["stages"].items():
        lines.append(f"| {stage} | {STAGES[int(stage)]} | {row['seconds']:.0f} s | {row['peak_rss_mb'] / 1024:.2f} GiB "
                     f"| {size_text(row['written_mb'])} |")
    lines += ["", "Files of 50 MB or more the training stages left:", ""]
    for exp, files in result["large_files_mb"].items():
        lines.append(f"- `exp/{exp}`: " + ", ".join(f"`{name}` {mb / 1e3:.2f} GB" for name, mb in files.items()))
    lines += ["", "What full size costs, and what was done about it:", "", *costs(result["large_files_mb"])]
    if result.get("notes"):
        lines += ["", "Notes on this run:", "", *(f"- {note}" for note in result["notes"])]
    return "\n".join(lines) + "\n"


def size_text(mb: float) -> str:
    """MB below a GB, else GB."""
    return f"{mb:.2f} MB" if mb < 1e3 else f"{mb / 1e3:.2f} GB"


def costs(large_files: dict[str, dict[str, float]]) -> list[str]:
    """The full-size costs the run shows, scaled to the shipped configs (keep_nbest_models 5 / 10)."""
    st_epoch = large_files["st_train_st_samu_adapter"].get("1epoch.pth", 0.0) / 1e3
    samu_epoch = large_files["samu_train_samu"].get("1epoch.pth", 0.0) / 1e3
    st_ave = large_files["st_train_st_samu_adapter"].get("valid.loss.ave_2best.pth", 0.0) / 1e3
    vocab, tokens = 250_054, 1_400  # a 200 s batch holds about 1,400 target tokens
    logits_gb = vocab * tokens * 4 / 1e9
    return [
        f"- **Checkpoints.** ESPnet saves the whole model each epoch, frozen weights included: {st_epoch:.2f} GB "
        f"per ST epoch (849.7M fp32 parameters), {samu_epoch:.2f} GB per SAMU epoch. With the shipped "
        f"`keep_nbest_models` (10 for ST, 5 for SAMU) that is up to {10 * st_epoch:.0f} GB and "
        f"{5 * samu_epoch:.1f} GB kept per experiment, plus `checkpoint.pth` (model + optimizer state). "
        "Named, not changed: ESPnet's resume and averaging need whole state dicts.",
        f"- **n-best averaging.** ESPnet's `average_nbest_models` reads every kept file ({10 * st_epoch:.0f} GB "
        f"for ST) and holds the running sum plus one loaded file ({2 * st_epoch:.1f} GB) next to the trained "
        f"model, once per `best_model_criterion` (the ST configs have two: valid.acc and valid.loss). Its sums "
        f"untie mBART's tied embedding / LM head (250,054 x 1024, 1.02 GB), which is then stored three times: an "
        f"averaged file is {st_ave:.2f} GB against {st_epoch:.2f} GB per epoch. Named, not changed (ESPnet's code); "
        "packing reads only the trained (adapter) weights from it. The frozen weights are taken from one epoch file "
        "(`sst.models.checkpoints.trained_state`), now loaded with `mmap=True`, so packing maps the 3.4 GB files "
        "instead of holding two more copies in anonymous memory.",
        f"- **250k-way logits.** fp32 logits cost {vocab * 4 / 1e6:.1f} MB per target token, and the "
        f"label-smoothed cross-entropy keeps the logits, their log-softmax and the gradient: about "
        f"{3 * logits_gb:.1f} GB for a {tokens:,}-token batch (200 s of audio). Fixed in part: the LM head now runs "
        "on the real target tokens only (`SpeechTranslationModel.forward`), so padding costs nothing there; "
        "the rest is the price of the full vocabulary (trimming it is a separate change).",
        "- **Packing and decoding.** A full package's `packed/model.pth` is the whole model again (one more copy of "
        "the epoch-file size); decoding and `sst.bin.translate` read only it, now memory-mapped (`load_packed`); "
        "packing builds its model without random initialisation (`pack`). Stage 4 now writes an adapter-only "
        "package by default (`--pack adapters`, `--pack full` for the above): see the package sizes section, "
        "measured by `tools/bench/bench_packages.py`.",
    ]


if __name__ == "__main__":
    main()
