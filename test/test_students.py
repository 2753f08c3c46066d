"""Students of every supported class: loading by model_type, the filterbank front end of w2v-BERT 2.0,
and one tiny checkpoint of each class through SAMU, adapter ST, packing, decoding and translation."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (Data2VecAudioModel, HubertModel, SeamlessM4TFeatureExtractor, Wav2Vec2BertModel,
                          Wav2Vec2Model, WavLMModel)

from sst.errors import UserError, one_line
from sst.models.pretrained import IncompleteCheckpointError, load_feature_extractor, load_speech_encoder
from sst.models.speech_encoder import (ENCODER_CLASSES, SpeechEncoder, StackedFilterbank,
                                       UnsupportedEncoderError)
from sst.testing.tiny_models import TINY_ENCODER_TYPES, build_tiny_speech_encoder

EXPECTED_CLASSES = {"wav2vec2": Wav2Vec2Model, "hubert": HubertModel, "wavlm": WavLMModel,
                    "data2vec-audio": Data2VecAudioModel, "wav2vec2-bert": Wav2Vec2BertModel}


@pytest.fixture(scope="module")
def students(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny saved checkpoint per supported class (read-only)."""
    root = tmp_path_factory.mktemp("students")
    for model_type in TINY_ENCODER_TYPES:
        build_tiny_speech_encoder(model_type, root / model_type)
    return {model_type: root / model_type for model_type in TINY_ENCODER_TYPES}


def test_every_supported_class_has_a_tiny_student() -> None:
    assert set(TINY_ENCODER_TYPES) == set(ENCODER_CLASSES) == set(EXPECTED_CLASSES)


@pytest.mark.parametrize("model_type", sorted(EXPECTED_CLASSES))
def test_a_checkpoint_loads_as_its_own_class_with_all_its_weights(model_type: str, students: dict[str, Path]) -> None:
    saved = EXPECTED_CLASSES[model_type].from_pretrained(students[model_type]).state_dict()
    loaded = load_speech_encoder(str(students[model_type]), mask_time_prob=0.1)
    assert type(loaded) is EXPECTED_CLASSES[model_type]
    assert loaded.config.mask_time_prob == 0.1
    assert saved.keys() == loaded.state_dict().keys()
    assert all(torch.equal(saved[key], value) for key, value in loaded.state_dict().items())
    random = load_speech_encoder(str(students[model_type]), pretrained=False)
    assert type(random) is EXPECTED_CLASSES[model_type]
    extractor = load_feature_extractor(str(students[model_type]))
    wanted = "SeamlessM4TFeatureExtractor" if model_type == "wav2vec2-bert" else "Wav2Vec2FeatureExtractor"
    assert type(extractor).__name__ == wanted


def test_a_wavlm_directory_is_not_read_as_wav2vec2(students: dict[str, Path]) -> None:
    """WavLM's gated relative-position weights are loaded, not dropped by a Wav2Vec2Model."""
    model = load_speech_encoder(str(students["wavlm"]))
    assert isinstance(model, WavLMModel) and not isinstance(model, Wav2Vec2Model)
    saved = WavLMModel.from_pretrained(students["wavlm"]).state_dict()
    gated = [key for key in saved if "gru_rel_pos" in key]
    assert gated and all(torch.equal(model.state_dict()[key], saved[key]) for key in gated)


def test_an_unsupported_model_type_is_one_line_naming_the_supported_ones(tmp_path: Path) -> None:
    from transformers import WhisperConfig

    WhisperConfig(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                  decoder_attention_heads=2).save_pretrained(tmp_path)
    for pretrained in (True, False):
        with pytest.raises(UnsupportedEncoderError) as error:
            load_speech_encoder(str(tmp_path), pretrained=pretrained)
        message = one_line(error.value)
        assert message == (f"{tmp_path}: unsupported speech encoder model_type 'whisper'; "
                           "supported: wav2vec2, hubert, wavlm, data2vec-audio, wav2vec2-bert")
        assert isinstance(error.value, UserError)  # one line under sst.errors.run_main


def test_a_checkpoint_missing_weights_is_an_error(students: dict[str, Path], tmp_path: Path) -> None:
    model = HubertModel.from_pretrained(students["hubert"])
    state = {key: value for key, value in model.state_dict().items() if not key.startswith("encoder.layers.1.")}
    model.save_pretrained(tmp_path, state_dict=state)
    with pytest.raises(IncompleteCheckpointError) as error:
        load_speech_encoder(str(tmp_path))
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{tmp_path}: ")
    missing = sum(key.startswith("encoder.layers.1.") for key in model.state_dict())
    assert f"{missing} weight(s) of HubertModel missing" in message and "encoder.layers.1." in message


def test_a_checkpoint_without_the_mask_embedding_loads(students: dict[str, Path], tmp_path: Path) -> None:
    model = Wav2Vec2Model.from_pretrained(students["wav2vec2"])
    state = {key: value for key, value in model.state_dict().items() if key != "masked_spec_embed"}
    model.save_pretrained(tmp_path, state_dict=state)
    assert isinstance(load_speech_encoder(str(tmp_path)), Wav2Vec2Model)


def test_stacked_filterbank_equals_the_seamless_m4t_extractor() -> None:
    """One padded batch of several lengths (odd and even frame counts) gives the extractor's features
    and attention mask, utterance by utterance."""
    rng = np.random.default_rng(0)
    lengths = [16000, 12345, 8001, 4321, 1000]
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]
    expected = SeamlessM4TFeatureExtractor()(waves, sampling_rate=16000, return_tensors="np")
    batch = torch.zeros(len(lengths), max(lengths) + 777)  # more padding than the longest needs
    for row, wave in zip(batch, waves):
        row[: len(wave)] = torch.from_numpy(wave)
    features, counts = StackedFilterbank()(batch, torch.tensor(lengths))
    mask = expected["attention_mask"].astype(bool)
    assert features.shape == expected["input_features"].shape == (5, 49, 160)
    assert counts.tolist() == mask.sum(axis=1).tolist() == [49, 37, 24, 12, 2]
    # padded frames included: both are zero there (the extractor's default padding value)
    assert np.allclose(features.numpy(), expected["input_features"], atol=1e-4, rtol=0)


def test_w2v_bert_encoder_ignores_padding_and_waveform_normalisation(students: dict[str, Path]) -> None:
    encoder = SpeechEncoder(load_speech_encoder(str(students["wav2vec2-bert"]), mask_time_prob=0.0)).eval()
    assert not encoder.normalize_waveform
    speech = 0.1 * torch.randn(1, 8000)
    padded = torch.cat([torch.cat([speech, torch.randn(1, 4000)], dim=1), 0.1 * torch.randn(1, 12000)])
    with torch.no_grad():
        alone, alone_lengths = encoder(speech, torch.tensor([8000]))
        batched, lengths = encoder(padded, torch.tensor([8000, 12000]))
    assert alone_lengths.tolist() == [24] and lengths.tolist() == [24, 36]
    assert torch.allclose(alone[0, :24], batched[0, :24], atol=1e-5)
    assert not any(p.requires_grad is False for p in encoder.parameters())  # no CNN to freeze


# ---------------------------------------------------------------- every class through stages 3-5

STUDENT_TRAINER_YAML = """\
batch_type: numel
batch_bins: 32000
max_epoch: 1
patience: none
num_workers: 0
num_att_plot: 0
use_tensorboard: false
use_matplotlib: false
seed: 0
keep_nbest_models: 1
optim: adam
optim_conf:
  lr: 0.003
"""
STUDENT_SAMU_YAML = STUDENT_TRAINER_YAML + """\
best_model_criterion:
- [valid, loss, min]
model_conf:
  pooling_dim: 32
  freeze: [feature_projection]
  keep_trainable: ['layer_norm']
  mask_time_prob: 0.0
  layerdrop: 0.0
"""
STUDENT_ST_YAML = STUDENT_TRAINER_YAML + """\
best_model_criterion:
- [valid, loss, min]
model_conf:
  freeze: [encoder, decoder]
  encoder_adapter_dim: 8
  decoder_adapter_dim: 8
  adapter_dropout: 0.0
  length_adaptor_layers: 2
"""


@pytest.mark.slow
@pytest.mark.parametrize("model_type", sorted(EXPECTED_CLASSES))
def test_each_student_trains_exports_packs_decodes_and_translates(
        model_type: str, students: dict[str, Path], tiny_mbart: Path, st_dumps: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    from sst.bin import samu_train, st_inference, st_train, translate
    from sst.io import read_kv
    from sst.models.packing import load_packed, package_kind

    student_class = EXPECTED_CLASSES[model_type]
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "samu.yaml").write_text(STUDENT_SAMU_YAML, encoding="utf-8")
    (conf / "st.yaml").write_text(STUDENT_ST_YAML, encoding="utf-8")
    (conf / "decode.yaml").write_text("beam_size: 2\nmax_length: 4\nbatch_size: 2\n", encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        samu = tmp_path / "exp" / "samu"
        samu_train.main(["--config", str(conf / "samu.yaml"), "--train_dump", str(st_dumps / "train_fr_en"),
                         "--valid_dump", str(st_dumps / "dev_fr_en"), "--output_dir", str(samu),
                         "--encoder_model", str(students[model_type])])
        export = samu / "encoder_hf"
        assert json.loads((export / "config.json").read_text())["model_type"] == model_type
        exported = student_class.from_pretrained(export).state_dict()
        initial = student_class.from_pretrained(students[model_type]).state_dict()
        changed = {key for key in exported if not torch.equal(exported[key], initial[key])}
        assert changed and not any(key.startswith("feature_projection.") and "layer_norm" not in key
                                   for key in changed)  # frozen group, kept-trainable layer norms train

        st = tmp_path / "exp" / "st"
        st_train.main(["--config", str(conf / "st.yaml"), "--train_dump", str(st_dumps / "train_fr_en"),
                       "--valid_dump", str(st_dumps / "dev_fr_en"), "--output_dir", str(st),
                       "--encoder_model", str(export), "--decoder_model", str(tiny_mbart)])
        assert package_kind(st / "packed") == "adapters"
        model, _ = load_packed(st)
        assert type(model.encoder.backbone) is student_class
        assert len(model.encoder_adapters) == 2
        packed = model.state_dict()
        assert all(torch.equal(packed[f"encoder.backbone.{key}"], value) for key, value in exported.items())
        assert student_class.__name__ in (st / "packed" / "README.md").read_text()

        decode = st / "decode" / "dev_fr_en"
        st_inference.main(["--model_dir", str(st), "--dump_dir", str(st_dumps / "dev_fr_en"),
                           "--output_dir", str(decode), "--config", str(conf / "decode.yaml")])
        wavs = read_kv(st_dumps / "dev_fr_en" / "wav.scp")
        assert set(read_kv(decode / "hyp")) == set(wavs)
        capsys.readouterr()
        wav = next(iter(wavs.values()))
        translate.main([wav, "--model_dir", str(st), "--tgt_lang", "en", "--config", str(conf / "decode.yaml")])
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{wav}\t")
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("hub_id, model_class, parameters", [
    ("facebook/wav2vec2-xls-r-300m", Wav2Vec2Model, 315_438_720),
    ("facebook/mms-300m", Wav2Vec2Model, 315_438_720),
    ("facebook/wav2vec2-xls-r-1b", Wav2Vec2Model, 962_497_408),
    ("facebook/mms-1b", Wav2Vec2Model, 962_497_408),
    ("facebook/hubert-large-ll60k", HubertModel, 315_438_720),
    ("utter-project/mHuBERT-147", HubertModel, 94_371_712),
    ("microsoft/wavlm-large", WavLMModel, 315_453_120),
    ("facebook/w2v-bert-2.0", Wav2Vec2BertModel, 580_493_120),
])
def test_packaged_students_build_at_full_size_offline(hub_id: str, model_class: type, parameters: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with torch.device("meta"):
        model = load_speech_encoder(hub_id, pretrained=False)
    assert type(model) is model_class and sum(p.numel() for p in model.parameters()) == parameters
    wanted = "SeamlessM4TFeatureExtractor" if model_class is Wav2Vec2BertModel else "Wav2Vec2FeatureExtractor"
    assert type(load_feature_extractor(hub_id)).__name__ == wanted


def test_waveform_normalisation_follows_the_feature_extractor_unless_configured(students: dict[str, Path],
                                                                               tmp_path: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    from sst.models.samu import SamuModel

    base = tmp_path / "hubert_base"  # HuBERT Base's extractor does not normalise (do_normalize false)
    HubertModel.from_pretrained(students["hubert"]).save_pretrained(base)
    Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(base)
    normalises = {name: SamuModel(str(path), teacher_dim=8, pooling_dim=8).encoder.normalize_waveform
                  for name, path in (("large", students["hubert"]), ("base", base),
                                     ("w2v-bert", students["wav2vec2-bert"]))}
    assert normalises == {"large": True, "base": False, "w2v-bert": False}
    assert SamuModel(str(base), teacher_dim=8, pooling_dim=8, normalize_waveform=True).encoder.normalize_waveform
