"""Other sentence-embedding teachers than LaBSE: a BGE-M3-shaped one (XLM-R, CLS pooling, normalised,
1024 dims) distils end to end, and e5's text prefix changes the embeddings and re-embeds."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml
from transformers import AutoConfig, Wav2Vec2Model

from sst.bin import embed_teacher, samu_train
from sst.data.provenance import Provenance
from sst.models.teacher import exported_teacher
from sst.tasks.samu import SamuTask
from sst.testing.corpora import read_covost_pairs, MINI_ST_CORPUS
from sst.testing.kill_rerun import SAMU_MODEL, TRAINING
from sst.testing.tiny_models import build_tiny_bge_m3


def embeddings(dump: Path) -> dict[str, np.ndarray]:
    """The teacher embeddings of a dump dir, by utterance."""
    return dict(kaldiio.load_scp(str(dump / "teacher_embed.scp")))


@pytest.mark.slow
def test_a_bge_m3_shaped_teacher_distils_end_to_end_and_its_prefix_re_embeds(
        st_dumps: Path, tiny_wav2vec2: Path, tmp_path: Path) -> None:
    teacher = tmp_path / "bge_m3"
    build_tiny_bge_m3(teacher, read_covost_pairs(MINI_ST_CORPUS, ("train",)), seed=0)
    dumps = {name: tmp_path / "dump" / name for name in ("train_fr_en", "dev_fr_en")}
    for name, dump in dumps.items():  # the fixture's dumps, embedded by another teacher (LaBSE-like, 64 dims)
        shutil.copytree(st_dumps / name, dump)
    argv = ["--dump_dirs", *map(str, dumps.values()), "--teacher_model", str(teacher)]

    embed_teacher.main(argv)
    train = embeddings(dumps["train_fr_en"])
    vectors = np.stack(list(train.values()))
    assert vectors.shape == (len(train), 1024)  # all re-embedded by the new teacher
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    described = {"model": str(teacher), "dim": 1024, "pooling": "cls", "normalized": True, "prefix": ""}
    assert json.loads((dumps["train_fr_en"] / "teacher_embed.json").read_text()) == described

    embed_teacher.main([*argv, "--teacher_prefix", "query: "])
    prefixed = embeddings(dumps["train_fr_en"])
    assert prefixed.keys() == train.keys()
    assert all(not np.allclose(prefixed[utt], train[utt]) for utt in train)  # every text embedded again
    assert Provenance(dumps["train_fr_en"], "embed_teacher").recorded()["teacher"]["prefix"] == "query: "
    scp_time = (dumps["train_fr_en"] / "teacher_embed.scp").stat().st_mtime_ns
    embed_teacher.main([*argv, "--teacher_prefix", "query: "])
    assert (dumps["train_fr_en"] / "teacher_embed.scp").stat().st_mtime_ns == scp_time  # up to date

    config = tmp_path / "conf" / "samu.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump({**TRAINING, "max_epoch": 1, "batch_bins": 24000, "keep_nbest_models": 1,
                                      "model_conf": SAMU_MODEL}), encoding="utf-8")
    exp = tmp_path / "exp" / "samu"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        samu_train.main(["--config", str(config), "--train_dump", str(dumps["train_fr_en"]), "--valid_dump",
                         str(dumps["dev_fr_en"]), "--output_dir", str(exp), "--encoder_model", str(tiny_wav2vec2),
                         "--ngpu", "0"])
    finally:
        torch.set_num_threads(threads)

    model, _ = SamuTask.build_model_from_file(exp / "config.yaml", None, "cpu")
    assert model.projection.out_features == 1024
    assert exported_teacher(exp / "encoder_hf") == {**described, "prefix": "query: "}
    assert AutoConfig.from_pretrained(exp / "encoder_hf").sst_teacher["dim"] == 1024
    assert isinstance(Wav2Vec2Model.from_pretrained(exp / "encoder_hf"), Wav2Vec2Model)
