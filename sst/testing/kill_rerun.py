"""Kill-and-rerun: each long stage killed with SIGKILL mid-run and run again must end with the outputs of
an uninterrupted run (used by test/test_faults.py and tools/bench/bench_faults.py).

The work dir holds a stage-1 data dir of the first clips of the mini_st corpus and small training
configs; the stages run as ``python -m sst.bin.<step>`` processes (of this checkout: ``PYTHONPATH`` is
set to it) on the outputs of the stages before, first uninterrupted (its wall time T and outputs are the
reference), then on a copy of the state before it, killed (with its whole process group) at
T x k / (points + 1) and run again with the same command. A kill counts as tried when the process was
still running; survived when the rerun succeeds and its outputs equal the reference (float tensors to
1e-5). Training resumes from ESPnet's checkpoints, which replay each epoch's seeded shuffling.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from sst.testing.corpora import MINI_ST_CORPUS, REPO, read_covost_pairs, write_mini_st_data_dir
from sst.testing.tiny_models import build_tiny_mbart, build_tiny_teacher, build_tiny_wav2vec2

STAGES = ("dump", "teacher", "tokenize", "samu", "st", "decode", "score")
NEEDS = {"teacher": ("dump",), "tokenize": ("dump",), "samu": ("teacher",), "st": ("tokenize", "samu"),
         "decode": ("st",), "score": ("decode",)}
TRAINING = {"batch_type": "numel", "batch_bins": 60000, "accum_grad": 1, "max_epoch": 3, "patience": None,
            "num_workers": 0, "num_att_plot": 0, "log_interval": 1, "use_tensorboard": False, "seed": 0,
            "keep_nbest_models": 2, "optim": "adam", "best_model_criterion": [["valid", "loss", "min"]]}
SAMU_MODEL = {"pooling_dim": 32, "freeze": [], "mask_time_prob": 0.0, "layerdrop": 0.0}
ST_MODEL = {"freeze": ["encoder", "decoder"], "encoder_adapter_dim": 16, "decoder_adapter_dim": 16,
            "adapter_dropout": 0.0, "length_adaptor_layers": 2, "label_smoothing": 0.1}

MODELS = ("wav2vec2", "teacher", "mbart")


def commands(models: dict[str, Path]) -> dict[str, list[str]]:
    """The command of each stage, run from the work dir (relative paths inside it)."""
    dump = ["--dump_dir", "dump/train"]
    return {
        "dump": ["dump_audio", "--data_dir", "data/train", "--output_dir", "dump/train", "--nj", "2"],
        "teacher": ["embed_teacher", *dump, "--teacher_model", str(models["teacher"]), "--batch_size", "2"],
        "tokenize": ["tokenize_targets", *dump, "--decoder_model", str(models["mbart"])],
        "samu": ["samu_train", "--config", "conf/samu.yaml", "--train_dump", "dump/train", "--valid_dump",
                 "dump/train", "--output_dir", "exp/samu", "--encoder_model", str(models["wav2vec2"]), "--ngpu", "0"],
        "st": ["st_train", "--config", "conf/st.yaml", "--train_dump", "dump/train", "--valid_dump", "dump/train",
               "--output_dir", "exp/st", "--encoder_model", "exp/samu/encoder_hf", "--decoder_model",
               str(models["mbart"]), "--ngpu", "0"],
        "decode": ["st_inference", "--model_dir", "exp/st", *dump, "--output_dir", "exp/st/decode/train",
                   "--beam_size", "2", "--max_length", "12", "--batch_size", "4"],
        "score": ["score", "--exp_dir", "exp/st", "--decode_dirs", "exp/st/decode/train"],
    }


def tensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors or torch file, as numpy arrays."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))
    return {key: value.numpy() for key, value in torch.load(path, map_location="cpu", weights_only=True).items()}


def texts(work: Path, paths: list[str]) -> dict[str, str]:
    """Text files of the work dir, with the work dir's own path taken out."""
    return {p: (work / p).read_text(encoding="utf-8").replace(str(work.resolve()), "<work>") for p in paths}


def outputs(stage: str, work: Path) -> dict[str, object]:
    """What a stage leaves behind, in a form two work dirs can be compared by."""
    import kaldiio

    dump = work / "dump" / "train"
    if stage == "dump":
        import soundfile

        files = texts(work, [f"dump/train/{name}" for name in ("wav.scp", "utt2num_samples", "transcript",
                                                                "translation", "dump_report.txt")])
        return {**files, **{p.name: soundfile.read(p, dtype="int16")[0] for p in sorted((dump / "audio").glob("*.flac"))}}
    if stage == "teacher":
        return dict(kaldiio.load_scp(str(dump / "teacher_embed.scp")))
    if stage == "tokenize":
        return texts(work, ["dump/train/text_int", "dump/train/text_shape"])
    if stage == "samu":
        return tensors(work / "exp" / "samu" / "encoder_hf" / "model.safetensors")
    if stage == "st":
        return tensors(work / "exp" / "st" / "packed" / "model.pth")
    if stage == "decode":
        return texts(work, ["exp/st/decode/train/hyp"])
    import json

    return json.loads((work / "exp" / "st" / "results.json").read_text(encoding="utf-8"))["tags"]


def same(a: object, b: object) -> bool:
    """Equal outputs: the same keys, texts equal, arrays equal to 1e-5."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-5))
    return a == b


def run_stage(argv: list[str], work: Path, kill_after: float | None = None) -> tuple[int, bool]:
    """Run one stage in ``work``; with ``kill_after``, SIGKILL its process group then. Returns (rc, killed)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    with open(work / "stage.log", "a") as log:
        process = subprocess.Popen([sys.executable, "-m", f"sst.bin.{argv[0]}", *argv[1:]], cwd=work, env=env,
                                   stdout=log, stderr=log, start_new_session=True)
        try:
            process.wait(timeout=kill_after)
            return process.returncode, False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return process.returncode, True


def build_model(name: str, out: Path, corpus: Path) -> Path:
    """A quickly built tiny stand-in (random encoder; teacher and mBART barely trained): the outputs only
    have to be reproducible, not good."""
    pairs = read_covost_pairs(corpus, ("train", "dev", "test"))
    if name == "wav2vec2":
        build_tiny_wav2vec2(out, seed=0)
    elif name == "teacher":
        build_tiny_teacher(out, pairs[:64], seed=0, train_steps=2, batch_size=8)
    else:
        build_tiny_mbart(out, pairs[:64], [text for p in pairs for text in (p.source, p.target)], seed=0,
                         train_steps=4, batch_size=8)
    return out


def prepare(work: Path, clips: int, corpus: Path = MINI_ST_CORPUS) -> None:
    """The stage-1 data dir and the training configs of the work dir."""
    write_mini_st_data_dir(work / "data" / "train", clips, corpus)
    (work / "conf").mkdir(parents=True)
    for name, model in (("samu", SAMU_MODEL), ("st", ST_MODEL)):
        config = {**TRAINING, "optim_conf": {"lr": 0.003}, "model_conf": model}
        (work / "conf" / f"{name}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


def sweep(stages: list[str], points: int, work_root: Path, models: dict[str, Path],
          log: Callable[[str], None]) -> list[dict]:
    """Reference run and killed runs of each stage; one row per kill."""
    reference = work_root / "reference"
    rows = []
    needed, todo = set(), list(stages)
    while todo:
        stage = todo.pop()
        needed.add(stage)
        todo += [need for need in NEEDS.get(stage, ()) if need not in needed]
    for stage in [s for s in STAGES if s in needed]:
        argv = commands(models)[stage]
        before = work_root / f"before_{stage}"
        if stage in stages:
            shutil.copytree(reference, before, symlinks=True)
        start = time.perf_counter()
        rc, _ = run_stage(argv, reference)
        elapsed = time.perf_counter() - start
        if rc != 0:
            raise RuntimeError(f"stage {stage} failed uninterrupted; see {reference / 'stage.log'}")
        if stage not in stages:
            continue
        expected = outputs(stage, reference)
        for point in range(1, points + 1):
            trial = work_root / f"{stage}_{point}"
            shutil.copytree(before, trial, symlinks=True)
            at = elapsed * point / (points + 1)
            _, killed = run_stage(argv, trial, kill_after=at)
            rc, _ = run_stage(argv, trial)
            survived = rc == 0 and same(outputs(stage, trial), expected)
            rows.append({"stage": stage, "kill_at_s": round(at, 2), "run_s": round(elapsed, 2), "killed": killed,
                         "survived": survived})
            log(f"{stage}: killed at {at:.1f} of {elapsed:.1f} s: {'survived' if survived else 'NOT survived'}"
                + ("" if killed else " (had ended before the kill)"))
            if survived:
                shutil.rmtree(trial)
        shutil.rmtree(before)
    return rows
