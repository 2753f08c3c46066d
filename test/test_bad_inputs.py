"""Bad input stops early, in one line, or is skipped and counted: the fault corpus of faults.py, the
console of a failing entry point (with and without tools/dispatch.sh), empty sets, torn checkpoints,
atomic checkpoint writes, missing models, and training with the network blocked."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sst.io import DataDirError
from sst.testing.corpora import REPO
from sst.testing.faults import FAULTS, Fault, FaultBench, handled


@pytest.fixture(scope="module")
def fault_bench(tmp_path_factory: pytest.TempPathFactory) -> FaultBench:
    return FaultBench(tmp_path_factory.mktemp("fault_bench"))


def test_the_fault_corpus_covers_every_group() -> None:
    assert len(FAULTS) >= 20
    assert {fault.group for fault in FAULTS} == {"audio", "rows", "encoding", "options", "config", "model", "disk"}


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_bad_input_is_skipped_and_counted_or_one_clear_line(fault: Fault, fault_bench: FaultBench,
                                                           tmp_path: Path) -> None:
    outcome = fault.run(fault_bench, tmp_path)
    assert handled(fault, outcome), (fault.expect, outcome)


# ---------------------------------------------------------------- the console of a user error

def broken_covost(root: Path) -> tuple[Path, list[str]]:
    """A CoVoST-2 TSV with a Latin-1 byte on line 2, and the stage-1 arguments that read it."""
    covost, commonvoice = root / "covost", root / "commonvoice"
    (commonvoice / "fr" / "clips").mkdir(parents=True)
    (commonvoice / "fr" / "validated.tsv").write_text("client_id\tpath\tsentence\n", encoding="utf-8")
    covost.mkdir()
    (covost / "covost_v2.fr_en.tsv").write_bytes(b"path\tsentence\ttranslation\tclient_id\tsplit\n"
                                                 b"a.mp3\t\xe0 tous\tto all\tc\ttrain\n")
    return covost / "covost_v2.fr_en.tsv", ["-m", "sst.bin.prepare_covost2", "--covost_dir", str(covost),
                                            "--commonvoice_dir", str(commonvoice), "--src_lang", "fr",
                                            "--tgt_lang", "en", "--output_dir", str(root / "data")]


def entry_point_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SST_LOG"}
    return {**env, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}


def test_user_error_is_one_line_and_the_traceback_is_kept(tmp_path: Path) -> None:
    tsv, args = broken_covost(tmp_path)
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=entry_point_env(tmp_path),
                            timeout=120)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith(f"ERROR: {tsv}:2: not valid UTF-8 (traceback: {tmp_path}/sst_prepare_covost2_")
    kept = Path(lines[-1].split("(traceback: ")[1].rstrip(")"))
    assert "Traceback (most recent call last)" in kept.read_text() and "UnicodeEncodeError" not in lines[-1]


def test_dispatch_shows_the_error_line_and_keeps_the_traceback_in_the_log(tmp_path: Path) -> None:
    tsv, args = broken_covost(tmp_path)
    log = tmp_path / "logs" / "prepare.log"
    result = subprocess.run([str(REPO / "tools" / "dispatch.sh"), str(log), sys.executable, *args], capture_output=True,
                            text=True, env=entry_point_env(tmp_path), timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"ERROR: {tsv}:2: not valid UTF-8"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and f"ERROR: {tsv}:2: not valid UTF-8\n" in text
    assert not list(tmp_path.glob("sst_*.traceback"))


def test_a_bug_keeps_its_traceback(tmp_path: Path) -> None:
    """Only user errors are shortened: anything else is a bug and shows where it happened."""
    code = "from sst.errors import run_main\ndef main():\n    raise KeyError('bug')\nrun_main(main)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=entry_point_env(tmp_path),
                            timeout=60)
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr


# ---------------------------------------------------------------- empty sets stop stages 1 and 2

def test_a_set_with_no_usable_clip_stops_stage2_naming_the_set_and_skips(fault_bench: FaultBench,
                                                                          tmp_path: Path) -> None:
    from sst.bin import dump_audio

    data = tmp_path / "dev_fr_en"
    shutil.copytree(fault_bench.covost_data / "dev_fr_en", data)
    for name in ("wav.scp", "utt2spk", "utt2lang", "utt2tgt_lang", "text.fr", "text.en"):  # keep the garbage clip only
        lines = [line for line in (data / name).read_text().splitlines(keepends=True) if "100008" in line]
        (data / name).write_text("".join(lines))
    with pytest.raises(DataDirError, match=r"dump/dev_fr_en: no utterances left \(skipped 1 \(undecodable audio: 1\), "
                                           r"see .*dump/dev_fr_en/dump_report\.txt\)"):
        dump_audio.main(["--data_dir", str(data), "--output_dir", str(tmp_path / "dump" / "dev_fr_en")])
    assert not (tmp_path / "dump" / "dev_fr_en" / ".provenance" / "dump_audio.json").exists()  # not taken as done


def test_embed_teacher_names_an_empty_set(tmp_path: Path) -> None:
    from sst.bin.embed_teacher import texts_to_embed

    (tmp_path / "transcript").write_text("")
    with pytest.raises(DataDirError, match=r"transcript: no utterances to embed"):
        texts_to_embed(tmp_path, "transcript", {"model": "any"})


# ---------------------------------------------------------------- checkpoints

def test_checkpoints_are_written_atomically(tmp_path: Path) -> None:
    from sst.tasks.trainer import atomic_torch_save, check_checkpoint

    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    with atomic_torch_save(), pytest.raises(RuntimeError, match="killed mid-write"):
        torch.save({"epoch": 2, "state": [torch.zeros(10), Unpicklable()]}, path)
    assert torch.load(path, weights_only=False) == {"epoch": 1}  # the previous checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pth"]
    with atomic_torch_save():
        torch.save({"epoch": 2}, path)
    check_checkpoint(path)
    assert torch.load(path, weights_only=False) == {"epoch": 2}


def test_resuming_from_a_torn_checkpoint_names_it_and_what_to_delete(tmp_path: Path) -> None:
    from sst.tasks.trainer import ResumableTrainer, TornCheckpointError

    torch.save({"w": torch.zeros(3)}, tmp_path / "1epoch.pth")
    (tmp_path / "checkpoint.pth").write_bytes(b"PK\x03\x04 torn")
    model = torch.nn.Linear(2, 2)
    with pytest.raises(TornCheckpointError) as error:
        ResumableTrainer.resume(checkpoint=tmp_path / "checkpoint.pth", model=model, reporter=None, optimizers=[],
                                schedulers=[], scaler=None)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'checkpoint.pth'}: unreadable (")
    assert f"{tmp_path / '1epoch.pth'} holds the last epoch's weights only" in message
    assert message.endswith(f"rm {tmp_path / 'checkpoint.pth'}")


# ---------------------------------------------------------------- models and the network

def test_a_cached_hub_id_loads_from_the_cache_without_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    from sst.models.hub import locate_model

    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--tiny" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: pytest.fail(f"connected to {address}"))
    assert Path(locate_model("org/tiny")) == snapshot
    assert locate_model(str(snapshot)) == str(snapshot)


def test_pad_collate_pads_like_espnet() -> None:
    from sst.tasks.base import PadCollate

    batch = [("a", {"speech": np.ones(3, dtype=np.float32), "text": np.array([5, 6], dtype=np.int64),
                    "teacher": np.ones(2, dtype=np.float32)}),
             ("b", {"speech": np.ones(1, dtype=np.float32), "text": np.array([7, 8, 9], dtype=np.int64),
                    "teacher": np.zeros(2, dtype=np.float32)})]
    uttids, out = PadCollate(not_sequence=["teacher"])(batch)
    assert uttids == ["a", "b"]
    assert out["speech"].tolist() == [[1, 1, 1], [1, 0, 0]] and out["speech_lengths"].tolist() == [3, 1]
    assert out["text"].tolist() == [[5, 6, -1], [7, 8, 9]] and out["text_lengths"].tolist() == [2, 3]
    assert out["teacher"].tolist() == [[1, 1], [0, 0]] and "teacher_lengths" not in out


@pytest.fixture(scope="module")
def offline_samu_exp(tiny_wav2vec2: Path, st_dumps: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> tuple[Path, list[str], list[object], set[str]]:
    """One epoch of SAMU training from local model dirs with every connection refused and recorded:
    (exp dir, its command line, the connections tried, the modules imported meanwhile)."""
    from test_entry_points import SAMU_YAML, one_thread, samu_argv, write_yaml

    from sst.bin import samu_train

    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network blocked by the test")

    root = tmp_path_factory.mktemp("offline_samu")
    config = write_yaml(root / "train_samu.yaml", SAMU_YAML, max_epoch=1, lr=0.005, batch_bins=24000)
    argv = samu_argv(config, st_dumps, root / "exp" / "samu", tiny_wav2vec2)
    with pytest.MonkeyPatch.context() as patch, one_thread():
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        patch.delitem(sys.modules, "g2p_en", raising=False)
        before = set(sys.modules)
        samu_train.main(argv)
        imported = set(sys.modules) - before
    return root / "exp" / "samu", argv, attempts, imported


def test_training_tries_no_network_connection(offline_samu_exp: tuple[Path, list[str], list[object], set[str]]) -> None:
    """Nothing tried to connect, and g2p_en (whose import downloads NLTK data) was not imported."""
    exp, _, attempts, imported = offline_samu_exp
    assert (exp / "encoder_hf" / "sst_export.txt").is_file()
    assert attempts == []
    assert "g2p_en" not in imported and "nltk" not in imported


def test_training_stops_at_a_torn_checkpoint_naming_it(offline_samu_exp: tuple[Path, list[str], list[object], set[str]],
                                                       tmp_path: Path) -> None:
    from sst.bin import samu_train
    from sst.tasks.trainer import TornCheckpointError

    exp, argv, _, _ = offline_samu_exp
    copy = tmp_path / "samu"
    shutil.copytree(exp, copy, symlinks=True, ignore=shutil.ignore_patterns("encoder_hf"))
    data = (copy / "checkpoint.pth").read_bytes()
    (copy / "checkpoint.pth").write_bytes(data[: len(data) // 2])  # a write cut short
    argv = [str(copy) if arg == str(exp) else arg for arg in argv]
    with pytest.raises(TornCheckpointError, match=rf"^{copy / 'checkpoint.pth'}: unreadable .*"
                                                   rf"rm {copy / 'checkpoint.pth'}$"):
        samu_train.main(argv)
    assert (copy / "checkpoint.pth").read_bytes() == data[: len(data) // 2]  # left as it was


def test_ngpu_beyond_the_machine_stops_st_sh_before_stage_2(tmp_path: Path) -> None:
    recipe = tmp_path / "egs" / "r"
    recipe.mkdir(parents=True)
    for name in ("path.sh", "cmd.sh"):
        shutil.copy(REPO / "egs" / "mini_st" / name, recipe / name)
    (tmp_path / "tools").symlink_to(REPO / "tools")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "torch.py").write_text("class cuda:\n    device_count = staticmethod(lambda: 0)\n")
    result = subprocess.run([str(tmp_path / "tools" / "st.sh"), "--stage", "2", "--stop_stage", "6",
                             "--src_langs", "fr", "--tgt_langs", "en"],
                            cwd=recipe, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(tmp_path / "fake")})
    assert result.returncode == 1 and "Stage 2" not in result.stdout
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.rstrip().endswith("ERROR: --ngpu 1, but this machine has fewer CUDA GPUs "
                                           "(torch.cuda.device_count()); run with --ngpu 0 to train on the CPU")
