"""Publishing a packed model (sst.bin.publish --dry_run): the hub-ready folders of an adapter-only package
and of its local SAMU encoder, their cards (``model-index``, parsed by huggingface_hub.ModelCard), and
loading them offline with sst.Translator, the encoder found by its hub id in the Hugging Face cache."""
from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard, constants

from sst.bin import publish, score
from sst.io import write_kv
from sst.models.model_card import CARD, MANIFEST
from sst.testing.corpora import MINI_ST_CORPUS
from sst.testing.hub_cache import cache_as_hub_model
from sst.testing.tiny_models import packed_st_model

DECODER_ID, PACKAGE_ID, ENCODER_ID = "org/tiny-mbart50", "user/sst-tiny", "user/samu-tiny"
OPTIONS = {"beam_size": 2, "max_length": 6}


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache, the hub offline and any connection a failure."""
    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: pytest.fail(f"connected to {address}"))
    return cache


def scored_recipe(recipe: Path, tiny_wav2vec2: Path) -> Path:
    """``recipe/exp/st_adapter``: an adapter-only package over a SAMU export in the recipe folder and the
    decoder by hub id (cached), scored by stage 6 on fr-en and de-en; returns the experiment dir."""
    encoder = recipe / "exp" / "samu_train_samu" / "encoder_hf"
    shutil.copytree(tiny_wav2vec2, encoder)
    (encoder.parent / "config.yaml").write_text(yaml.safe_dump({"model_conf": {"encoder_model": "org/xlsr"}}),
                                                encoding="utf-8")
    exp = packed_st_model(recipe / "exp" / "st_adapter", encoder, Path(DECODER_ID), move_trained=0.05)
    decode_dirs = []
    for src, hyps, refs in (("fr", ["the cat sat", "a dog"], ["the cat sat", "the dog"]),
                            ("de", ["good day", "thanks a lot"], ["good day to you", "thanks a lot"])):
        decode = exp / "decode_test" / f"test_{src}_en"
        decode.mkdir(parents=True)
        utts = [f"{src}{i}" for i in range(len(hyps))]
        write_kv(decode / "hyp", dict(zip(utts, hyps)))
        write_kv(decode / "ref", dict(zip(utts, refs)))
        write_kv(decode / "utt2lang", {utt: src for utt in utts})
        write_kv(decode / "utt2tgt_lang", {utt: "en" for utt in utts})
        decode_dirs.append(str(decode))
    score.main(["--exp_dir", str(exp), "--decode_dirs", *decode_dirs, "--corpus", "none"])
    return exp


def test_publish_writes_hub_folders_that_load_offline(tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path: Path,
                                                      offline_cache: Path) -> None:
    from sst import Translator

    cache_as_hub_model(offline_cache, DECODER_ID, tiny_mbart)
    recipe = tmp_path / "mini_st"
    exp = scored_recipe(recipe, tiny_wav2vec2)
    clip = str(sorted(MINI_ST_CORPUS.glob("commonvoice/fr/clips/*.mp3"))[0])
    expected = Translator.from_pretrained(exp, **OPTIONS).translate(clip)
    out = tmp_path / "publish"
    publish.main(["--package", str(exp / "packed"), "--repo_id", PACKAGE_ID, "--encoder_repo_id", ENCODER_ID,
                  "--output_dir", str(out), "--dry_run"])
    package, encoder = out / PACKAGE_ID, out / ENCODER_ID

    # the package names its bases by hub id and nothing of this machine
    manifest = json.loads((package / MANIFEST).read_text(encoding="utf-8"))
    config = yaml.safe_load((package / "config.yaml").read_text(encoding="utf-8"))
    assert {part: base["from"] for part, base in manifest["bases"].items()} == {"encoder": ENCODER_ID,
                                                                               "decoder": DECODER_ID}
    assert (config["model_conf"]["encoder_model"], config["model_conf"]["decoder_model"]) == (ENCODER_ID, DECODER_ID)
    assert not (package / "source.txt").exists() and not (encoder / "sst_export.txt").exists()
    assert sorted(p.name for p in encoder.iterdir()) == sorted([*(p.name for p in tiny_wav2vec2.iterdir()), CARD])

    # the cards parse with huggingface_hub; the package's model-index holds BLEU and chrF++ per direction
    card = ModelCard.load(package / CARD)
    results = json.loads((exp / "results.json").read_text(encoding="utf-8"))["tags"]["decode_test"]["directions"]
    scores = {(r.dataset_config, r.metric_name): (r.metric_value, r.metric_type, r.task_type, r.dataset_split)
              for r in card.data.eval_results}
    assert scores == {(direction, metric): (round(row[metric], 2), metric_type, "translation", "test")
                      for direction, row in results.items()
                      for metric, metric_type in (("BLEU", "bleu"), ("chrF++", "chrf"))}
    assert set(results) == {"fr-en", "de-en"} and "model-index" in card.data.to_dict()
    assert card.data.base_model == [ENCODER_ID, DECODER_ID]
    assert f'Translator.from_pretrained("{PACKAGE_ID}")' in card.text
    encoder_card = ModelCard.load(encoder / CARD)
    assert encoder_card.data.library_name == "transformers" and encoder_card.data.base_model == "org/xlsr"
    assert PACKAGE_ID in encoder_card.text and f'from_pretrained("{ENCODER_ID}")' in encoder_card.text

    # offline, with the encoder in the cache as a download of its id leaves it (the recipe folder gone):
    # the published folder, and the package by its own id, translate as the experiment did
    shutil.rmtree(recipe)
    cache_as_hub_model(offline_cache, ENCODER_ID, encoder)
    assert Translator.from_pretrained(package, **OPTIONS).translate(clip) == expected
    cache_as_hub_model(offline_cache, PACKAGE_ID, package)
    assert Translator.from_pretrained(PACKAGE_ID, **OPTIONS).translate(clip) == expected


def test_publish_refuses_a_local_encoder_without_a_repo_id(tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path: Path,
                                                           offline_cache: Path) -> None:
    cache_as_hub_model(offline_cache, DECODER_ID, tiny_mbart)
    encoder = tmp_path / "mini_st" / "exp" / "samu" / "encoder_hf"
    shutil.copytree(tiny_wav2vec2, encoder)
    exp = packed_st_model(tmp_path / "mini_st" / "exp" / "st_adapter", encoder, Path(DECODER_ID))
    out = tmp_path / "publish"
    with pytest.raises(ValueError) as refused:
        publish.main(["--package", str(exp), "--repo_id", PACKAGE_ID, "--output_dir", str(out), "--dry_run"])
    assert str(refused.value) == (f"{exp / 'packed'}: its encoder base {encoder} is a local directory the hub "
                                  "cannot name; give --encoder_repo_id user/name to publish it as its own repo")
    assert not out.exists() or not any(out.rglob("*.pth"))
