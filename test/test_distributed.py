"""Two-process training through ESPnet's distributed path (external launcher, gloo, no GPU)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "ddp_worker.py"


def _torchrun(tmp_path: Path, record: Path, args: list[str], signal_at_step: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SST_RECORD_DIR": str(record),
           "OMP_NUM_THREADS": "1", "SST_SIGNAL_AT_STEP": str(signal_at_step)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
           str(WORKER), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert (proc.returncode != 0) == bool(signal_at_step), proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def _ranks(record: Path) -> tuple[list[dict], list[dict[str, torch.Tensor]]]:
    logs = [json.loads((record / f"rank{r}.json").read_text()) for r in (0, 1)]
    params = [torch.load(record / f"rank{r}.params.pth", weights_only=True) for r in (0, 1)]
    return logs, params


@pytest.mark.slow
def test_two_process_training_syncs_ranks_single_writer_and_resumes(
        tmp_path: Path, st_dumps: Path, tiny_wav2vec2: Path, tiny_mbart: Path) -> None:
    config = yaml.safe_load((REPO / "egs/mini_st/conf/tuning/train_st_samu_adapter.yaml").read_text())
    config.update(batch_type="sorted", batch_size=2, max_epoch=2, keep_nbest_models=2, num_workers=0)
    config["model_conf"].update(encoder_adapter_dim=8, decoder_adapter_dim=8, length_adaptor_layers=1)
    (tmp_path / "train_st.yaml").write_text(yaml.safe_dump(config))
    exp = tmp_path / "exp"
    args = ["--config", "train_st.yaml", "--train_dump", str(st_dumps / "train_multi"),
            "--valid_dump", str(st_dumps / "train_fr_en"), "--output_dir", str(exp),
            "--encoder_model", str(tiny_wav2vec2), "--decoder_model", str(tiny_mbart),
            "--ngpu", "0", "--dist_backend", "gloo"]
    _torchrun(tmp_path, tmp_path / "run1", args)
    logs, params = _ranks(tmp_path / "run1")

    # Each training step split its batch between the ranks: disjoint utterances, together the whole set.
    train_utts = {line.split()[0] for line in (st_dumps / "train_multi" / "wav.scp").read_text().splitlines()}
    assert len(logs[0]["steps"]) == len(logs[1]["steps"]) >= 2
    seen = [{utt for step in log["steps"] for utt in step} for log in logs]
    assert not seen[0] & seen[1] and seen[0] | seen[1] == train_utts
    # Gradients were all-reduced: both ranks end with the same trainable weights, which training changed.
    assert params[0].keys() == params[1].keys() and params[0]
    assert all(torch.equal(params[0][name], params[1][name]) for name in params[0])
    # Only rank 0 wrote checkpoints and the packed model.
    assert logs[1]["saved"] == []
    # (checkpoints go through a temporary "<name>.<pid>.tmp" renamed into place, sst.io.temp_path)
    written = {re.sub(r"\.\d+\.tmp$", "", Path(path).name) for path in logs[0]["saved"]}
    assert {"checkpoint.pth", "1epoch.pth", "model.pth"} <= written
    assert (exp / "packed" / "model.pth").exists()

    # Resume: the experiment as a run killed after epoch 1 leaves it (epoch-1 checkpoint, nothing later);
    # the same command trains epoch 2 only, to the same weights as the uninterrupted run.
    first_epoch = (exp / "1epoch.pth").stat().st_mtime_ns
    for path in exp.glob("*.pth"):
        if path.name != "1epoch.pth":
            path.unlink()
    shutil.rmtree(exp / "packed")
    shutil.copy(tmp_path / "run1" / "first_checkpoint.pth", exp / "checkpoint.pth")
    _torchrun(tmp_path, tmp_path / "run2", args)
    logs2, params2 = _ranks(tmp_path / "run2")
    assert (exp / "1epoch.pth").stat().st_mtime_ns == first_epoch and (exp / "2epoch.pth").exists()
    assert 2 * len(logs2[0]["steps"]) == len(logs[0]["steps"]) and logs2[1]["saved"] == []
    assert all(torch.equal(params2[0][name], params2[1][name]) for name in params2[0])
    assert all(torch.equal(params2[0][name], params[0][name]) for name in params[0])
    assert (exp / "packed" / "model.pth").exists()


@pytest.mark.slow
def test_two_process_training_preempted_on_one_rank_resumes_to_the_same_weights(
        tmp_path: Path, st_dumps: Path, tiny_wav2vec2: Path, tiny_mbart: Path) -> None:
    """SIGTERM reaching rank 1 only: both ranks stop after the same step, rank 0 writes the checkpoint,
    and the same command resumes there to the uninterrupted run's weights."""
    config = yaml.safe_load((REPO / "egs/mini_st/conf/tuning/train_st_samu_adapter.yaml").read_text())
    config.update(batch_type="unsorted", batch_size=2, max_epoch=1, keep_nbest_models=1, num_workers=0)
    config["model_conf"].update(encoder_adapter_dim=8, decoder_adapter_dim=8, length_adaptor_layers=1)
    (tmp_path / "train_st.yaml").write_text(yaml.safe_dump(config))

    def args(exp: str) -> list[str]:
        return ["--config", "train_st.yaml", "--train_dump", str(st_dumps / "train_multi"),
                "--valid_dump", str(st_dumps / "train_fr_en"), "--output_dir", exp,
                "--encoder_model", str(tiny_wav2vec2), "--decoder_model", str(tiny_mbart),
                "--ngpu", "0", "--dist_backend", "gloo"]
    _torchrun(tmp_path, tmp_path / "reference", args("reference"))
    _, reference = _ranks(tmp_path / "reference")
    stopped = _torchrun(tmp_path, tmp_path / "stopped", args("exp"), signal_at_step=1)
    assert "preempted at epoch 1 step 1: checkpoint exp/checkpoint.pth" in stopped.stderr
    assert torch.load(tmp_path / "exp" / "checkpoint.pth", weights_only=False)["place"]["step"] == 1
    assert not (tmp_path / "exp" / "1epoch.pth").exists()
    resumed = _torchrun(tmp_path, tmp_path / "resumed", args("exp"))
    assert "resumed at epoch 1 step 1" in resumed.stderr
    logs, params = _ranks(tmp_path / "resumed")
    assert len(logs[0]["steps"]) == len(logs[1]["steps"]) >= 1
    assert all(torch.equal(params[0][name], reference[0][name]) for name in reference[0])
