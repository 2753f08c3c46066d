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

from sst.bin import combine_data, embed_teacher, samu_train
from sst.data.provenance import Provenance
from sst.models.samu import SamuModel
from sst.models.teacher import describe_teacher, embed_texts, exported_teacher
from sst.tasks.samu import SamuTask
from sst.testing.corpora import MINI_ST_CORPUS, read_covost_pairs
from sst.testing.kill_rerun import SAMU_MODEL, TRAINING
from sst.testing.tiny_models import build_tiny_bge_m3, build_tiny_teacher


def embeddings(dump: Path) -> dict[str, np.ndarray]:
    """The teacher embeddings of a dump dir, by utterance."""
    return dict(kaldiio.load_scp(str(dump / "teacher_embed.scp")))


def test_a_mean_pooled_unnormalised_teacher_is_described_as_it_is(tmp_path: Path) -> None:
    pairs = read_covost_pairs(MINI_ST_CORPUS, ("train",))
    teacher = build_tiny_teacher(tmp_path / "mpnet", pairs, dim=None, normalize=False, train_steps=0)
    assert describe_teacher(teacher, "paraphrase-like", "passage: ") == {
        "model": "paraphrase-like", "dim": 64, "pooling": "mean", "normalized": False, "prefix": "passage: "}
    vectors = embed_texts(teacher, [pair.source for pair in pairs[:4]], batch_size=2)
    assert vectors.shape == (4, 64) and vectors.dtype == np.float32
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_the_samu_loss_is_the_same_for_a_normalised_or_scaled_teacher(tiny_wav2vec2: Path) -> None:
    torch.manual_seed(0)
    model = SamuModel(str(tiny_wav2vec2), teacher_dim=16, pooling_dim=8).eval()
    speech, lengths = torch.randn(2, 8000), torch.tensor([8000, 6000])
    teacher = torch.randn(2, 16) * 5
    with torch.no_grad():
        raw = model(speech, lengths, teacher)[0]
        normalised = model(speech, lengths, torch.nn.functional.normalize(teacher, dim=-1))[0]
    assert raw.item() == pytest.approx(normalised.item(), abs=1e-6)


def test_a_combined_dump_records_the_teacher_of_its_inputs(st_dumps: Path, tmp_path: Path) -> None:
    """Stage 3 combines embedded dumps; the combination has no teacher_embed.json of its own."""
    combine_data.main(["--output_dir", str(tmp_path / "train_multi"),
                       str(st_dumps / "train_fr_en"), str(st_dumps / "train_de_en")])
    assert not (tmp_path / "train_multi" / "teacher_embed.json").exists()
    described = json.loads((st_dumps / "train_fr_en" / "teacher_embed.json").read_text())
    assert described["dim"] == 64 and described["pooling"] == "mean" and described["normalized"]
    assert samu_train.teacher_record(tmp_path / "train_multi") == described


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
