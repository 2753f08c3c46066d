"""Stages 3-5 through their entry points (``main([...])`` in-process, CPU): SAMU training, export, resume
and retrieval check; adapter-ST training and packing; decoding over jobs; scoring; translating files."""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile
import torch
import yaml
from espnet2.train.trainer import Trainer
from sacrebleu.metrics import BLEU
from transformers import AutoTokenizer, MBartForConditionalGeneration, Wav2Vec2Model

from sst.testing.corpora import REPO, Covost2Corpus
from sst.bin import combine_data, samu_eval, samu_train, score, st_inference, st_train, tokenize_targets, translate
from sst.errors import ConfigError
from sst.inference.options import DECODE_DEFAULTS
from sst.io import read_kv, write_kv
from sst.models.packing import PACKED, load_packed, pack, package_kind
from sst.models.pretrained import load_tokenizer
from sst.models.speech_translation import SpeechTranslationModel
from sst.models.checkpoints import best_checkpoint
from sst.tasks.samu import SamuTask

# ESPnet trainer settings shared by both tiny trainings (cf. egs/mini_st/conf/tuning/*.yaml). Three
# n-best checkpoints are averaged; ESPnet's sum / 3 moves ~15% of the unchanged frozen values by one
# rounding step, which export and packing undo (sst.models.checkpoints.trained_state): the tests below
# check frozen weights bit for bit.
TRAINER_YAML = """\
batch_type: numel
batch_bins: {batch_bins}
accum_grad: 1
max_epoch: {max_epoch}
patience: none
num_workers: 0
num_att_plot: 0
log_interval: 1
use_tensorboard: false
use_matplotlib: false
grad_clip: 5.0
seed: 0
keep_nbest_models: 3
optim: adam
optim_conf:
  lr: {lr}
"""
SAMU_YAML = TRAINER_YAML + """\
best_model_criterion:
- [valid, loss, min]
model_conf:
  pooling_dim: 32
  freeze: []
  mask_time_prob: 0.0
  layerdrop: 0.0
"""
ST_YAML = TRAINER_YAML + """\
best_model_criterion:
- [valid, acc, max]
- [valid, loss, min]
model_conf:
  freeze: [encoder, decoder]
  encoder_adapter_dim: 16
  decoder_adapter_dim: 16
  adapter_dropout: 0.0
  length_adaptor_layers: 2
  label_smoothing: 0.1
"""
DECODE_YAML = "beam_size: 3\nlength_penalty: 1.0\nmax_length: 16\nmax_len_ratio: 0.0\nbatch_size: 2\n"
SAMU_EPOCHS = 3
ST_EPOCHS = 3
TRAINED_GROUPS = {"encoder_adapters", "decoder_adapters", "length_adaptor"}


def write_yaml(path: Path, template: str, max_epoch: int, lr: float, batch_bins: int) -> Path:
    """A training config from one of the templates above."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template.format(max_epoch=max_epoch, lr=lr, batch_bins=batch_bins), encoding="utf-8")
    return path


def samu_argv(config: Path, dumps: Path, exp: Path, encoder: Path) -> list[str]:
    """Stage 3's command line: train on fr+de, validate on dev fr."""
    return ["--config", str(config), "--train_dump", str(dumps / "train_multi"), "--valid_dump",
            str(dumps / "dev_fr_en"), "--output_dir", str(exp), "--encoder_model", str(encoder)]


def reporter_stats(exp: Path) -> tuple[int, dict]:
    """The last finished epoch and the per-epoch stats ESPnet keeps in ``checkpoint.pth``."""
    reporter = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)["reporter"]
    return reporter["epoch"], reporter["stats"]


def mtimes(paths: list[Path]) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in paths}


@contextmanager
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from more threads, and lose a lot on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def single_threaded() -> Iterator[None]:
    with one_thread():
        yield


# ---------------------------------------------------------------- stage 3: SAMU

@pytest.fixture(scope="module")
def samu_exp(tiny_wav2vec2: Path, st_dumps: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``exp/samu_train_samu`` after SAMU_EPOCHS epochs of sst.bin.samu_train on train_multi (read-only)."""
    root = tmp_path_factory.mktemp("samu")
    config = write_yaml(root / "conf" / "train_samu.yaml", SAMU_YAML, SAMU_EPOCHS, lr=0.005, batch_bins=24000)
    exp = root / "exp" / "samu_train_samu"
    with one_thread():
        samu_train.main(samu_argv(config, st_dumps, exp, tiny_wav2vec2))
    return exp


def test_samu_train_exports_the_trained_encoder(samu_exp: Path, tiny_wav2vec2: Path) -> None:
    for name in ("checkpoint.pth", "latest.pth", f"{SAMU_EPOCHS}epoch.pth", "valid.loss.best.pth", "config.yaml"):
        assert (samu_exp / name).is_file(), name
    checkpoint = best_checkpoint(samu_exp)
    assert checkpoint == samu_exp / "valid.loss.ave.pth"
    assert (samu_exp / "encoder_hf" / "sst_export.txt").read_text() == f"exported from {checkpoint}\n"
    assert (samu_exp / "encoder_hf" / "preprocessor_config.json").is_file()
    trained = torch.load(checkpoint, map_location="cpu", weights_only=True)
    exported = Wav2Vec2Model.from_pretrained(samu_exp / "encoder_hf").state_dict()
    prefix = "encoder.backbone."
    assert set(exported) == {key[len(prefix):] for key in trained if key.startswith(prefix)}
    initial = Wav2Vec2Model.from_pretrained(tiny_wav2vec2).state_dict()
    for key, value in exported.items():
        # the trained weights are the n-best average; the frozen CNN is the original, bit for bit
        expected = initial[key] if key.startswith("feature_extractor.") else trained[prefix + key]
        assert torch.equal(value, expected), key
    assert not torch.equal(exported["encoder.layers.0.attention.k_proj.weight"],
                           initial["encoder.layers.0.attention.k_proj.weight"])
    cnn = [key for key in initial if key.startswith("feature_extractor.")]
    assert cnn and all(torch.equal(exported[key], initial[key]) for key in cnn)  # always frozen


def test_samu_train_loss_falls_over_epochs(samu_exp: Path) -> None:
    epoch, stats = reporter_stats(samu_exp)
    assert epoch == SAMU_EPOCHS and sorted(stats) == list(range(1, SAMU_EPOCHS + 1))
    losses = [stats[e]["train"]["loss"] for e in sorted(stats)]
    assert all(0.0 <= loss <= 2.0 for loss in losses), losses
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.5 * losses[0], losses
    for e in stats:
        assert stats[e]["train"]["cosine"] == pytest.approx(1.0 - stats[e]["train"]["loss"], abs=1e-4)


def test_samu_train_rerun_does_nothing(samu_exp: Path, tiny_wav2vec2: Path, st_dumps: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    files = [samu_exp / "checkpoint.pth", samu_exp / "encoder_hf" / "sst_export.txt"]
    before = mtimes(files)
    samu_train.main(samu_argv(samu_exp.parents[1] / "conf" / "train_samu.yaml", st_dumps, samu_exp, tiny_wav2vec2))
    assert mtimes(files) == before
    assert f"{samu_exp / 'encoder_hf'} already exported; delete it to train again" in caplog.messages


class Killed(Exception):
    """Stands for the job being killed."""


class KilledInEpoch2(Trainer):
    """ESPnet's trainer, killed as soon as epoch 2 starts training (epoch 1's checkpoint is written)."""

    @classmethod
    def train_one_epoch(cls, *args, reporter, **kwargs):
        if reporter.get_epoch() == 2:
            raise Killed("killed in epoch 2")
        return super().train_one_epoch(*args, reporter=reporter, **kwargs)


def test_samu_train_resumes_a_killed_run(tiny_wav2vec2: Path, st_dumps: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    config = write_yaml(tmp_path / "train_samu.yaml", SAMU_YAML, max_epoch=2, lr=0.005, batch_bins=24000)
    exp = tmp_path / "exp" / "samu"
    argv = samu_argv(config, st_dumps, exp, tiny_wav2vec2)
    monkeypatch.setattr(SamuTask, "trainer", KilledInEpoch2)
    with pytest.raises(Killed):
        samu_train.main(argv)
    assert reporter_stats(exp)[0] == 1
    assert not (exp / "encoder_hf").exists()
    first_epoch = mtimes([exp / "1epoch.pth"])

    monkeypatch.undo()
    caplog.set_level(logging.INFO)
    samu_train.main(argv)  # the same command again
    assert f"The training was resumed using {exp / 'checkpoint.pth'}" in caplog.messages
    assert "2/2epoch started" in caplog.messages
    assert not any(message.startswith("1/2epoch started") for message in caplog.messages)
    epoch, stats = reporter_stats(exp)
    assert epoch == 2 and sorted(stats) == [1, 2]
    assert mtimes([exp / "1epoch.pth"]) == first_epoch  # epoch 1 was not trained again
    assert (exp / "encoder_hf" / "sst_export.txt").is_file()


def test_samu_eval_writes_retrieval_results_once(samu_exp: Path, tiny_teacher: Path, st_dumps: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    argv = ["--model_dir", str(samu_exp), "--teacher_model", str(tiny_teacher), "--dump_dirs",
            str(st_dumps / "dev_fr_en"), str(st_dumps / "train_de_en"), "--batch_size", "2"]
    samu_eval.main(argv)
    markdown = (samu_exp / "RESULTS.md").read_text(encoding="utf-8")
    assert markdown.count("## SAMU retrieval") == 1
    assert "## SAMU retrieval" in capsys.readouterr().out
    report = json.loads((samu_exp / "retrieval.json").read_text(encoding="utf-8"))
    assert report["checkpoint"] == str(best_checkpoint(samu_exp))
    sizes = {"dev_fr_en speech↔transcript": 1, "dev_fr_en speech↔translation": 1,
             "train_de_en speech↔transcript": 2, "train_de_en speech↔translation": 2,
             "all sets, pooled transcripts": 3}
    assert set(report["results"]) == set(sizes)
    for name, result in report["results"].items():
        assert result["n_speech"] == result["n_text"] == sizes[name], name
        for side in ("speech_to_text", "text_to_speech"):
            recalls = result[side]
            assert set(recalls) == {"R@1", "R@5"}, name
            assert all(0.0 <= value <= 1.0 for value in recalls.values()), (name, recalls)
            assert recalls["R@1"] <= recalls["R@5"] == 1.0, (name, recalls)  # at most 3 candidates
            if sizes[name] == 1:
                assert recalls["R@1"] == 1.0, name  # one candidate: always found
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {name} "))
        assert row.split("|")[2].strip() == str(sizes[name]), row

    files = [samu_exp / "RESULTS.md", samu_exp / "retrieval.json"]
    before = mtimes(files)
    samu_eval.main(argv)
    assert mtimes(files) == before


@pytest.mark.slow
def test_ctc_control_trains_exports_and_serves_as_the_st_encoder(tiny_wav2vec2: Path, tiny_mbart: Path,
                                                                 st_dumps: Path, tmp_path: Path) -> None:
    """Stage 3 with --objective ctc on the SAMU data, stage 4 on its export, stage 5 with that model."""
    config = write_yaml(tmp_path / "conf" / "train_samu.yaml", SAMU_YAML, SAMU_EPOCHS, lr=0.005, batch_bins=24000)
    exp = tmp_path / "exp" / "samu_train_samu_ctc"
    argv = samu_argv(config, st_dumps, exp, tiny_wav2vec2)
    samu_train.main([*argv, "--objective", "ctc"])
    tokens = (exp / "tokens.txt").read_text(encoding="utf-8").splitlines()
    assert tokens[:3] == ["<blank>", "<unk>", "|"] and "ö" in tokens and "B" not in tokens
    assert json.loads((exp / ".provenance" / "train.json").read_text(encoding="utf-8"))["objective"] == "ctc"
    epoch, stats = reporter_stats(exp)
    losses = [stats[e]["train"]["loss"] for e in sorted(stats)]
    assert epoch == SAMU_EPOCHS and losses[-1] < losses[0], losses

    initial = Wav2Vec2Model.from_pretrained(tiny_wav2vec2).state_dict()
    exported = Wav2Vec2Model.from_pretrained(exp / "encoder_hf").state_dict()
    assert set(exported) == set(initial) - {"masked_spec_embed"}  # no CTC head; no masking, so no mask vector
    assert not torch.equal(exported["encoder.layers.0.attention.k_proj.weight"],
                           initial["encoder.layers.0.attention.k_proj.weight"])
    assert all(torch.equal(exported[key], initial[key]) for key in initial if key.startswith("feature_extractor."))
    with pytest.raises(SystemExit, match="changed: objective"):  # the semantic objective has an exp of its own
        samu_train.main(argv)

    st_exp = tmp_path / "exp" / "st_ctc_adapter"
    st_config = write_yaml(tmp_path / "conf" / "train_st.yaml", ST_YAML, 1, lr=0.003, batch_bins=32000)
    st_train.main(["--config", str(st_config), "--train_dump", str(st_dumps / "train_multi"), "--valid_dump",
                   str(st_dumps / "dev_fr_en"), "--output_dir", str(st_exp), "--encoder_model", str(exp / "encoder_hf"),
                   "--decoder_model", str(tiny_mbart)])
    model = load_packed(st_exp)[0]
    (backbone,) = [module for module in model.encoder.modules() if isinstance(module, Wav2Vec2Model)]
    assert all(torch.equal(value, exported[key]) for key, value in backbone.state_dict().items())
    decode_config = tmp_path / "conf" / "decode_st.yaml"
    decode_config.write_text(DECODE_YAML, encoding="utf-8")
    decode_dir = st_exp / "decode_st" / "train_multi"
    st_inference.main(decode_argv(st_exp, st_dumps / "train_multi", decode_dir, decode_config))
    assert sorted(read_kv(decode_dir / "hyp")) == sorted(read_kv(st_dumps / "train_multi" / "wav.scp"))


# ---------------------------------------------------------------- stages 4-5: adapter ST, decoding, scoring

@dataclass
class Decoded:
    """Stage 5 of text_exp on train_multi: one decode dir per number of jobs, and the decoding config."""

    config: Path
    nj1: Path
    nj2: Path


@pytest.fixture(scope="module")
def st_exp(samu_exp: Path, tiny_mbart: Path, st_dumps: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``exp/st_train_st_samu_adapter``: sst.bin.st_train on the SAMU export + tiny mBART (read-only)."""
    root = tmp_path_factory.mktemp("st")
    config = write_yaml(root / "conf" / "train_st.yaml", ST_YAML, ST_EPOCHS, lr=0.003, batch_bins=32000)
    exp = root / "exp" / "st_train_st_samu_adapter"
    with one_thread():
        st_train.main(["--config", str(config), "--train_dump", str(st_dumps / "train_multi"),
                       "--valid_dump", str(st_dumps / "dev_fr_en"), "--output_dir", str(exp),
                       "--encoder_model", str(samu_exp / "encoder_hf"), "--decoder_model", str(tiny_mbart)])
    return exp


@pytest.fixture(scope="module")
def text_exp(st_exp: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """st_exp's packed model with an LM-head bias that bars ``</s>`` and every special token (read-only).

    Three epochs on five sine tones teach the tiny model little more than to stop at once, so its own
    hypotheses are empty; barred from stopping, it writes ``max_length`` word pieces of beam search
    over its trained weights: text that the decoding tests can compare (on these tones it barely
    depends on the audio).
    """
    return barred_from_stopping(st_exp, tmp_path_factory.mktemp("st_text") / "exp" / "st_text")


def barred_from_stopping(st_exp: Path, exp: Path) -> Path:
    """A full package of ``st_exp``'s best checkpoint in ``exp`` (its frozen bias is edited) whose LM-head
    bias bars every special token and the bare word boundary piece "▁" (which alone decodes to nothing)."""
    exp.mkdir(parents=True)
    pack(st_exp, best_checkpoint(st_exp), "full", out=exp / PACKED)
    weights = exp / PACKED / "model.pth"
    state = torch.load(weights, map_location="cpu", weights_only=True)
    tokenizer = load_tokenizer(str(exp / PACKED / "decoder"))
    barred = {*tokenizer.all_special_ids, tokenizer.convert_tokens_to_ids("▁")}
    state["mbart.final_logits_bias"][:, sorted(barred)] = -1e4
    torch.save(state, weights)
    return exp


def decode_argv(exp: Path, dump: Path, output_dir: Path, config: Path, *more: str) -> list[str]:
    return ["--model_dir", str(exp), "--dump_dir", str(dump), "--output_dir", str(output_dir),
            "--config", str(config), *more]


@pytest.fixture(scope="module")
def decoded(text_exp: Path, st_dumps: Path) -> Decoded:
    """sst.bin.st_inference of text_exp on train_multi with --nj 1 and --nj 2 (read-only)."""
    config = text_exp.parents[1] / "conf" / "decode_st.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(DECODE_YAML, encoding="utf-8")
    dirs = {}
    for nj in (1, 2):
        dirs[nj] = text_exp / f"decode_st_nj{nj}" / "train_multi"
        with one_thread():  # --nj 1 decodes in this process and sets its thread count
            st_inference.main(decode_argv(text_exp, st_dumps / "train_multi", dirs[nj], config, "--nj", str(nj)))
    return Decoded(config, dirs[1], dirs[2])


def test_st_train_packs_a_model_with_untouched_frozen_weights(st_exp: Path, samu_exp: Path,
                                                              tiny_mbart: Path) -> None:
    epoch, stats = reporter_stats(st_exp)
    assert epoch == ST_EPOCHS and all(0.0 <= stats[e]["valid"]["acc"] <= 1.0 for e in stats)
    packed = st_exp / "packed"
    assert (packed / "source.txt").read_text() == f"{best_checkpoint(st_exp)}\n"
    assert package_kind(packed) == "adapters"  # the default
    model, tokenizer = load_packed(st_exp)
    assert tokenizer.convert_tokens_to_ids("en_XX") != tokenizer.unk_token_id
    state = model.state_dict()
    encoder = Wav2Vec2Model.from_pretrained(samu_exp / "encoder_hf").state_dict()
    for key, value in encoder.items():
        assert torch.equal(state[f"encoder.backbone.{key}"], value), key
    mbart = MBartForConditionalGeneration.from_pretrained(tiny_mbart).state_dict()
    decoder_keys = [key for key in mbart if not key.startswith("model.encoder.")]
    assert "model.decoder.layers.1.fc2.weight" in decoder_keys and "lm_head.weight" in decoder_keys
    for key in decoder_keys:
        assert torch.equal(state[f"mbart.{key}"], mbart[key]), key
    trainable = {name.split(".")[0] for name, param in model.named_parameters() if param.requires_grad}
    assert trainable == TRAINED_GROUPS
    adapters = [*model.encoder_adapters, *model.decoder_adapters]
    assert len(adapters) == 4 and all(adapter.up.weight.abs().sum() > 0 for adapter in adapters)  # start at 0


def test_st_train_with_another_pack_repacks_without_training(st_exp: Path, samu_exp: Path, tiny_mbart: Path,
                                                             st_dumps: Path, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    exp = tmp_path / "exp" / st_exp.name
    shutil.copytree(st_exp, exp)
    checkpoints = mtimes(sorted(exp.glob("*.pth")))
    argv = ["--config", str(st_exp.parents[1] / "conf" / "train_st.yaml"), "--train_dump",
            str(st_dumps / "train_multi"), "--valid_dump", str(st_dumps / "dev_fr_en"), "--output_dir", str(exp),
            "--encoder_model", str(samu_exp / "encoder_hf"), "--decoder_model", str(tiny_mbart)]
    caplog.set_level(logging.INFO)
    st_train.main(argv + ["--pack", "full"])
    assert f"{exp / PACKED}: adapters package, repacking it as full" in caplog.messages
    assert package_kind(exp / PACKED) == "full"
    assert mtimes(sorted(exp.glob("*.pth"))) == checkpoints  # nothing trained
    adapters, full = load_packed(st_exp)[0].state_dict(), load_packed(exp)[0].state_dict()
    assert all(torch.equal(adapters[name], full[name]) for name in full)


def test_st_inference_nj1_equals_nj2_and_covers_every_utterance(decoded: Decoded, st_dumps: Path,
                                                                text_exp: Path) -> None:
    dump = st_dumps / "train_multi"
    hyp1, hyp2 = read_kv(decoded.nj1 / "hyp"), read_kv(decoded.nj2 / "hyp")
    assert sorted(hyp1) == sorted(read_kv(dump / "wav.scp")) and len(hyp1) == 5
    assert all(len(hyp) >= 8 for hyp in hyp1.values()), hyp1  # real text, not empty strings
    assert hyp1 == hyp2
    assert not (decoded.nj1 / "partial").exists() and not (decoded.nj2 / "partial").exists()
    assert (decoded.nj1 / "hyp").read_text(encoding="utf-8") == (decoded.nj2 / "hyp").read_text(encoding="utf-8")
    for name, source in (("ref", "translation"), ("utt2lang", "utt2lang"), ("utt2tgt_lang", "utt2tgt_lang")):
        assert read_kv(decoded.nj1 / name) == read_kv(dump / source), name

    before = mtimes([decoded.nj1 / "hyp"])
    st_inference.main(decode_argv(text_exp, dump, decoded.nj1, decoded.config))
    assert mtimes([decoded.nj1 / "hyp"]) == before


def test_st_inference_decodes_again_with_other_options(decoded: Decoded, st_dumps: Path, text_exp: Path,
                                                       tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "decode_st" / "train_multi"
    shutil.copytree(decoded.nj1, out)
    argv = ["--model_dir", str(text_exp), "--dump_dir", str(st_dumps / "train_multi"), "--output_dir", str(out),
            "--config", str(decoded.config)]
    caplog.set_level(logging.INFO)
    before = mtimes([out / "hyp"])
    st_inference.main(argv + ["--beam_size", "3"])  # the config's value: the same decoding
    assert mtimes([out / "hyp"]) == before
    st_inference.main(argv + ["--beam_size", "8"])
    assert f"{out / 'hyp'}: (re)doing (changed: options.beam_size)" in caplog.messages
    assert mtimes([out / "hyp"]) != before and sorted(read_kv(out / "hyp")) == sorted(read_kv(decoded.nj1 / "hyp"))


def test_st_inference_quantize_int8_decodes_again_and_is_refused_on_gpus(
        decoded: Decoded, st_dumps: Path, text_exp: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "decode_st_int8" / "train_multi"
    shutil.copytree(decoded.nj1, out)
    argv = decode_argv(text_exp, st_dumps / "train_multi", out, decoded.config)
    caplog.set_level(logging.INFO)
    with one_thread():
        st_inference.main(argv + ["--quantize", "int8"])  # fp32 hypotheses are not reused
        assert f"{out / 'hyp'}: (re)doing (changed: options.quantize)" in caplog.messages
        assert sorted(read_kv(out / "hyp")) == sorted(read_kv(decoded.nj1 / "hyp"))
        assert all(read_kv(out / "hyp").values())
        caplog.clear()
        st_inference.main(argv)  # nor the other way round
    assert f"{out / 'hyp'}: (re)doing (changed: options.quantize)" in caplog.messages
    assert read_kv(out / "hyp") == read_kv(decoded.nj1 / "hyp")
    with pytest.raises(ConfigError, match="--quantize int8: dynamic int8 quantization runs on the CPU only, not on cuda"):
        st_inference.main(argv + ["--quantize", "int8", "--ngpu", "1"])


@pytest.mark.parametrize("stage", ["samu", "st"])
def test_training_into_an_experiment_of_other_data_stops_in_one_line(
        stage: str, samu_exp: Path, st_exp: Path, tiny_wav2vec2: Path, tiny_mbart: Path, st_dumps: Path) -> None:
    """What --train_langs "de" into the experiment of --train_langs "fr de" does: one line, nothing touched."""
    exp = samu_exp if stage == "samu" else st_exp
    files = {path: path.stat().st_mtime_ns for path in exp.rglob("*") if path.is_file()}
    if stage == "samu":
        argv = samu_argv(exp.parents[1] / "conf" / "train_samu.yaml", st_dumps, exp, tiny_wav2vec2)
    else:
        argv = ["--config", str(exp.parents[1] / "conf" / "train_st.yaml"), "--train_dump",
                str(st_dumps / "train_multi"), "--valid_dump", str(st_dumps / "dev_fr_en"), "--output_dir", str(exp),
                "--encoder_model", str(samu_exp / "encoder_hf"), "--decoder_model", str(tiny_mbart)]
    argv[argv.index("--train_dump") + 1] = str(st_dumps / "train_de_en")
    with pytest.raises(SystemExit) as stopped:
        (samu_train if stage == "samu" else st_train).main(argv)
    message = str(stopped.value)
    assert message.startswith(f"ERROR: {exp} holds an experiment made from other inputs (changed: train_dump.")
    assert f"pass another --{stage}_exp (--output_dir) or delete {exp}" in message and "\n" not in message
    assert {path: path.stat().st_mtime_ns for path in exp.rglob("*") if path.is_file()} == files


# A decoding process SIGKILLed right after the first batch's hypotheses reached the disk.
DIE_AFTER_FIRST_BATCH = """
import os, signal, sys
import torch
from sst.bin import st_inference
fsync = os.fsync
def fsync_then_die(fd):
    fsync(fd)
    if os.readlink(f"/proc/self/fd/{fd}").endswith("job0.txt"):
        os.kill(os.getpid(), signal.SIGKILL)
os.fsync = fsync_then_die
torch.set_num_threads(1)
st_inference.main(sys.argv[1:])
"""


@pytest.mark.slow
def test_st_inference_killed_midway_resumes_with_only_the_missing_utterances(
        decoded: Decoded, text_exp: Path, st_dumps: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "decode_st" / "train_multi"
    argv = decode_argv(text_exp, st_dumps / "train_multi", out, decoded.config)
    env = {**os.environ, "PYTHONPATH": str(Path(st_inference.__file__).parents[2])}
    job = subprocess.run([sys.executable, "-c", DIE_AFTER_FIRST_BATCH, *argv], env=env, capture_output=True, text=True)
    assert job.returncode == -signal.SIGKILL, job.stderr[-2000:]
    assert not (out / "hyp").exists()
    partial = (out / "partial" / "job0.txt").read_text(encoding="utf-8").splitlines()
    assert len(partial) == 2  # batch_size 2: the first batch, the two longest utterances

    rows = []
    translate_batch = SpeechTranslationModel.translate

    def counting(model, speech, *args, **kwargs):
        rows.append(speech.shape[0])
        return translate_batch(model, speech, *args, **kwargs)

    monkeypatch.setattr(SpeechTranslationModel, "translate", counting)
    caplog.set_level(logging.INFO)
    st_inference.main(argv)
    assert sum(rows) == 3  # only what the killed run had not written
    assert any(message.startswith("decoding 3 utterances (2 already decoded)") for message in caplog.messages)
    assert (out / "hyp").read_text(encoding="utf-8") == (decoded.nj1 / "hyp").read_text(encoding="utf-8")
    assert not (out / "partial").exists()


def test_score_writes_a_row_per_direction(decoded: Decoded, st_exp: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    exp = tmp_path / "st_exp"
    decode_dir = exp / "decode_st" / "train_multi"
    shutil.copytree(decoded.nj1, decode_dir)
    score.main(["--exp_dir", str(exp), "--decode_dirs", str(decode_dir)])
    markdown = (exp / "RESULTS.md").read_text(encoding="utf-8")
    assert capsys.readouterr().out == markdown
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in markdown.splitlines() if line.startswith("| ")}
    hyps, refs, langs = (read_kv(decode_dir / name) for name in ("hyp", "ref", "utt2lang"))
    results = json.loads((exp / "results.json").read_text(encoding="utf-8"))["tags"]["decode_st"]
    for src, count in (("fr", 3), ("de", 2)):
        utts = sorted(utt for utt in hyps if langs[utt] == src)
        bleu = BLEU().corpus_score([hyps[u] for u in utts], [[refs[u] for u in utts]]).score
        assert rows[f"{src}-en"][:4] == ["high", "seen", str(count), f"{bleu:.1f}"]
        assert results["directions"][f"{src}-en"]["BLEU"] == pytest.approx(bleu)


def test_the_same_seed_trains_decodes_and_scores_identically(samu_exp: Path, tiny_mbart: Path, st_dumps: Path,
                                                           st_exp: Path, decoded: Decoded, tmp_path: Path) -> None:
    """./run.sh --seed N: ESPnet's --seed makes a training, its decoding and its table repeat bit for bit;
    another seed gives other trained weights."""
    config = write_yaml(tmp_path / "conf" / "train_st.yaml", ST_YAML, ST_EPOCHS, lr=0.003, batch_bins=32000)
    tables, hyps, states = {}, {}, {}
    for run, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        exp = tmp_path / "exp" / f"st_{run}"
        with one_thread():  # decoding below sets the thread count, which changes float sums
            st_train.main(["--config", str(config), "--train_dump", str(st_dumps / "train_multi"),
                           "--valid_dump", str(st_dumps / "dev_fr_en"), "--output_dir", str(exp),
                           "--encoder_model", str(samu_exp / "encoder_hf"), "--decoder_model", str(tiny_mbart),
                           "--seed", seed])
        states[run] = load_packed(exp)[0].state_dict()
        if run == "c":
            break
        text = barred_from_stopping(exp, tmp_path / "text" / f"st_{run}")
        decode_dir = text / "decode_st" / "train_multi"
        st_inference.main(decode_argv(text, st_dumps / "train_multi", decode_dir, decoded.config))
        score.main(["--exp_dir", str(text), "--decode_dirs", str(decode_dir)])
        hyps[run] = (decode_dir / "hyp").read_text(encoding="utf-8")
        tables[run] = (text / "RESULTS.md").read_text(encoding="utf-8").split("## decode_st", 1)[1]
    assert hyps["a"] == hyps["b"] and len(hyps["a"].splitlines()) == 5
    assert tables["a"] == tables["b"] and "| fr-en" in tables["a"]
    assert not [key for key in states["a"] if not torch.equal(states["a"][key], states["b"][key])]
    # --seed 0 is the config's seed: the same weights as st_exp, trained without the option
    assert all(torch.equal(states["a"][key], value) for key, value in load_packed(st_exp)[0].state_dict().items())
    changed = {key.split(".")[0] for key in states["a"] if not torch.equal(states["a"][key], states["c"][key])}
    assert changed == TRAINED_GROUPS


def test_translate_files_match_stage5(decoded: Decoded, text_exp: Path, st_dumps: Path,
                                      covost2_corpus: Covost2Corpus, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    wavs = read_kv(st_dumps / "train_multi" / "wav.scp")
    hyps = read_kv(decoded.nj1 / "hyp")
    dumped = {utt: soundfile.read(path, dtype="float32")[0] for utt, path in wavs.items()}
    flac_utt, wav_utt, mp3_utt = ("fr-en-common_voice_fr_100001", "de-en-common_voice_de_200002",
                                  "fr-en-common_voice_fr_100003")
    flac = tmp_path / "bonjour.flac"
    shutil.copy(wavs[flac_utt], flac)
    wav = tmp_path / "guten tag.wav"  # the dump's 16-bit samples in another container
    samples, rate = soundfile.read(wavs[wav_utt], dtype="int16")
    soundfile.write(str(wav), samples, rate, subtype="PCM_16")
    mp3 = covost2_corpus.commonvoice_dir / "fr" / "clips" / "common_voice_fr_100003.mp3"  # the 48 kHz original
    calls = spy_on_decoding(monkeypatch)
    capsys.readouterr()
    translate.main([str(flac), str(wav), str(mp3), "--model_dir", str(text_exp), "--tgt_lang", "en",
                    "--config", str(decoded.config)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(flac), str(wav), str(mp3)]
    assert all(line.count("\t") == 1 for line in lines)
    assert all(line.split("\t")[1] for line in lines)  # text_exp writes text
    assert lines[0] == f"{flac}\t{hyps[flac_utt]}"
    assert lines[1] == f"{wav}\t{hyps[wav_utt]}"

    # What was decoded: stage 2's samples (the mp3 decoded and resampled as stage 2 does, before its
    # 16-bit rounding), the target language, and stage 5's decoding options.
    (audio, tgt_langs, options), = calls
    assert tgt_langs == {0: "en", 1: "en", 2: "en"}
    assert options == {"beam_size": 3, "length_penalty": 1.0, "max_length": 16, "max_len_ratio": 0.0,
                       "batch_size": 2, "batch_bins": DECODE_DEFAULTS["batch_bins"]}
    assert np.array_equal(audio[0], dumped[flac_utt])
    assert np.array_equal(audio[1], dumped[wav_utt])
    assert audio[2].shape == dumped[mp3_utt].shape == (12000,)
    np.testing.assert_allclose(audio[2], dumped[mp3_utt], rtol=0, atol=1e-4)


def spy_on_decoding(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict, dict, dict]]:
    """The (audio, target languages, options) of each call the Translator makes to decode_utterances."""
    from sst.inference import translator

    calls = []
    decode_utterances = translator.decode_utterances

    def spy(model, tokenizer, audio, tgt_langs, options, *args, **kwargs):
        calls.append((audio, tgt_langs, options))
        return decode_utterances(model, tokenizer, audio, tgt_langs, options, *args, **kwargs)

    monkeypatch.setattr(translator, "decode_utterances", spy)
    return calls


def test_translator_translates_the_dump_to_the_stage5_hypotheses(decoded: Decoded, text_exp: Path,
                                                                  st_dumps: Path) -> None:
    from sst import Translator

    wavs = read_kv(st_dumps / "train_multi" / "wav.scp")
    tgt_langs = read_kv(st_dumps / "train_multi" / "utt2tgt_lang")
    hyps = read_kv(decoded.nj1 / "hyp")
    utts = sorted(wavs)  # stage 5's order of equal lengths: the same batches
    translator = Translator.from_pretrained(text_exp / PACKED, **yaml.safe_load(decoded.config.read_text()))
    assert translator.translate([wavs[utt] for utt in utts], [tgt_langs[utt] for utt in utts]) == [
        hyps[utt] for utt in utts]
    # a call's decoding options hold for that call only
    first = wavs[utts[0]]
    shorter, = translator.translate(first, "en_XX", max_length=4)
    assert shorter and len(shorter) < len(hyps[utts[0]])
    assert translator.translate(first, "en_XX") == [hyps[utts[0]]]


def test_translator_resamples_waveforms_and_refuses_what_is_not_one(text_exp: Path, st_dumps: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from sst import Translator
    from sst.data.audio import resample

    translator = Translator.from_pretrained(text_exp, beam_size=1, max_length=4)
    utt, path = sorted(read_kv(st_dumps / "train_multi" / "wav.scp").items())[0]
    samples = soundfile.read(path, dtype="float32")[0]
    at_48k = resample(samples, 16000, 48000)
    calls = spy_on_decoding(monkeypatch)
    texts = translator.translate([samples, at_48k.astype(np.float64)], sample_rate=48000)
    assert len(texts) == 2 and all(isinstance(text, str) for text in texts)
    (audio, _, options), = calls
    assert options["beam_size"] == 1 and options["max_length"] == 4
    assert len(audio[0]) == round(len(samples) / 3)  # the 16 kHz clip taken as 48 kHz: a third as long
    np.testing.assert_array_equal(audio[1], resample(at_48k, 48000, 16000))
    assert audio[1].dtype == np.float32 and len(audio[1]) == len(samples)
    for bad, what in ((np.stack([samples, samples]), "shape (2,"), ((samples * 32767).astype(np.int16), "int16"),
                      (np.zeros(0, np.float32), "shape (0,)")):
        with pytest.raises(ValueError, match=re.escape(what)) as error:
            translator.translate([samples, bad])
        assert "input 1" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError, match=r"unknown decoding settings \['beam'\]"):
        translator.translate([samples], beam=3)
    with pytest.raises(ValueError, match="2 inputs but 1 target languages"):
        translator.translate([samples, samples], ["en"])


def test_importing_sst_leaves_torch_until_the_translator_is_used() -> None:
    script = ("import sys, sst; assert 'torch' not in sys.modules, 'torch'; from sst import Translator; "
              "assert 'torch' in sys.modules and Translator.__module__ == 'sst.inference.translator'")
    run = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]


# ---------------------------------------------------------------- CoVoST-2 En->X: one model, two targets

def retarget_dump(source: Path, output: Path, src: str, tgt: str) -> Path:
    """A copy of a dump dir as the ``src``->``tgt`` direction (renamed utterances, new languages, no text_int):
    the fixture's audio and translations stand in for English speech and its de / ja translations."""
    output.mkdir(parents=True)
    prefix = f"{src}-{tgt}-"
    for name in ("wav.scp", "utt2num_samples", "speech_shape", "transcript", "translation", "utt2spk"):
        if (source / name).is_file():
            rows = read_kv(source / name)
            write_kv(output / name, {prefix + utt.split("-", 2)[2]: value for utt, value in rows.items()})
    utts = [prefix + utt.split("-", 2)[2] for utt in read_kv(source / "wav.scp")]
    write_kv(output / "utt2lang", {utt: src for utt in utts})
    write_kv(output / "utt2tgt_lang", {utt: tgt for utt in utts})
    return output


def test_covost2_one_to_many_trains_one_model_and_scores_both_directions(
        st_dumps: Path, tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    dumps = {tgt: retarget_dump(st_dumps / "train_fr_en", tmp_path / "dump" / f"train_en_{tgt}", "en", tgt)
             for tgt in ("de", "ja")}
    tokenize_targets.main(["--dump_dirs", *map(str, dumps.values()), "--decoder_model", str(tiny_mbart)])
    combined = tmp_path / "dump" / "train_en-de.ja"
    combine_data.main(["--output_dir", str(combined), *map(str, dumps.values())])
    tokenizer = AutoTokenizer.from_pretrained(tiny_mbart)
    first_tokens = {int(ids.split()[0]) for ids in read_kv(combined / "text_int").values()}
    assert first_tokens == {tokenizer.convert_tokens_to_ids("de_DE"), tokenizer.convert_tokens_to_ids("ja_XX")}

    config = write_yaml(tmp_path / "conf" / "train_st.yaml", ST_YAML, 1, lr=0.003, batch_bins=32000)
    exp = tmp_path / "exp" / "st_en_x"
    st_train.main(["--config", str(config), "--train_dump", str(combined), "--valid_dump", str(dumps["de"]),
                   "--output_dir", str(exp), "--encoder_model", str(tiny_wav2vec2), "--decoder_model", str(tiny_mbart)])
    decode = tmp_path / "conf" / "decode_st.yaml"
    decode.write_text(DECODE_YAML, encoding="utf-8")
    outputs = [exp / "decode_st" / f"test_en_{tgt}" for tgt in dumps]
    st_inference.main(["--model_dir", str(exp), "--dump_dir", *map(str, dumps.values()),
                       "--output_dir", *map(str, outputs), "--config", str(decode)])
    score.main(["--exp_dir", str(exp), "--decode_dirs", *map(str, outputs)])
    capsys.readouterr()
    results = json.loads((exp / "results.json").read_text(encoding="utf-8"))["tags"]["decode_st"]
    assert list(results["directions"]) == ["en-de", "en-ja"]
    assert all(row["n_utts"] == 3 for row in results["directions"].values())
    assert "tok:char" in results["directions"]["en-ja"]["signatures"]["BLEU"]  # ja is scored by character
    assert read_kv(outputs[1] / "utt2tgt_lang") == read_kv(dumps["ja"] / "utt2tgt_lang")


def espnet_importers() -> list[str]:
    """The modules of sst that import ESPnet, directly or through sst.tasks; of sst.tasks only the package,
    which every one of its modules imports first."""
    importer = re.compile(r"^\s*(from|import) (espnet2?|sst\.tasks)\b", re.MULTILINE)
    modules = {".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
               for path in (REPO / "sst").rglob("*.py") if importer.search(path.read_text(encoding="utf-8"))}
    return sorted(module for module in modules if not module.startswith("sst.tasks."))


@pytest.mark.parametrize("module", espnet_importers())
def test_importing_espnet_writes_nothing_to_stdout(module: str) -> None:
    """ESPnet's attention module prints a flash_attn notice on import; a fresh process importing any module
    that reaches ESPnet (each entry point among them) keeps its stdout for what the command writes."""
    run = subprocess.run([sys.executable, "-c", f"import {module}"], env={**os.environ, "PYTHONPATH": str(REPO)},
                         capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout == b""
