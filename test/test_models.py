"""Model code: adapters, pooling, length adaptor, freezing, SAMU and adapter-ST models (tiny and full size)."""
from __future__ import annotations

import logging
import re
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoTokenizer, PreTrainedTokenizerBase, Wav2Vec2FeatureExtractor, Wav2Vec2Model
from transformers.modeling_outputs import BaseModelOutput

from sst.errors import ConfigError
from sst.models.adapters import BottleneckAdapter, attach_adapters
from sst.models.architectures import MBART50_MMT, XLSR_300M, bundled_config_dir
from sst.models.freezing import freeze, parameter_report, trainable_share
from sst.models.length_adaptor import LengthAdaptor
from sst.models.pooling import AttentionPooling
from sst.models.hub import ModelNotFoundError
from sst.models.pretrained import language_token_id, load_feature_extractor, load_speech_encoder
from sst.models.samu import SamuModel
from sst.models.speech_translation import IGNORE_ID, SpeechTranslationModel, scored_positions, translation_loss
from sst.tasks.samu import SamuTask
from sst.tasks.st import STTask
from sst.testing.tiny_models import padded_noise, small_st_model

TRAINED_GROUPS = ("encoder_adapters", "decoder_adapters", "length_adaptor")
TUNING = Path(__file__).resolve().parents[1] / "egs" / "covost2" / "conf" / "tuning"
# LNA config -> (encoder side trains, decoder side trains): LNA-E,D, LNA-E, LNA-D of arXiv 2010.12829
LNA_CONFIGS = {"train_st_xlsr_lna.yaml": (True, True), "train_st_xlsr_lna_e.yaml": (True, False),
               "train_st_xlsr_lna_d.yaml": (False, True)}


@pytest.fixture(autouse=True)
def two_threads() -> None:
    torch.set_num_threads(2)


def clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def trainable_names(model: torch.nn.Module) -> set[str]:
    return {name for name, param in model.named_parameters() if param.requires_grad}


# ---------------------------------------------------------------- building blocks

def test_fresh_adapter_is_identity_and_hooks_change_layer_outputs() -> None:
    torch.manual_seed(0)
    hidden = torch.randn(2, 5, 8)
    adapter = BottleneckAdapter(8, 4)
    assert torch.equal(adapter(hidden), hidden)
    layers = torch.nn.ModuleList(torch.nn.Linear(8, 8) for _ in range(3))
    plain = [layer(hidden) for layer in layers]
    adapters = attach_adapters(layers, 8, 4, dropout=0.0)
    assert len(adapters) == 3
    for layer, expected in zip(layers, plain):
        assert torch.equal(layer(hidden), expected)
    torch.nn.init.normal_(adapters[1].up.weight)
    assert torch.equal(layers[0](hidden), plain[0])
    assert torch.allclose(layers[1](hidden), adapters[1](plain[1]))
    assert not torch.allclose(layers[1](hidden), plain[1])


class TupleLayer(torch.nn.Module):
    """A layer returning ``(hidden_states, attentions)``, as transformers layers do in some versions."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = torch.nn.Linear(dim, dim)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.linear(hidden), hidden.sum(-1)


@pytest.mark.parametrize("returns_tuple", [False, True])
def test_adapters_on_tensor_and_tuple_layer_outputs(returns_tuple: bool) -> None:
    torch.manual_seed(0)
    hidden = torch.randn(2, 5, 8)
    layer = TupleLayer(8) if returns_tuple else torch.nn.Linear(8, 8)
    plain = layer(hidden)
    adapter = attach_adapters([layer], 8, 4, dropout=0.0)[0]
    torch.nn.init.normal_(adapter.up.weight)
    adapted = layer(hidden)
    if returns_tuple:
        assert isinstance(adapted, tuple) and len(adapted) == 2
        torch.testing.assert_close(adapted[0], adapter(plain[0]))
        assert torch.equal(adapted[1], plain[1])  # the attentions pass through
    else:
        assert isinstance(adapted, torch.Tensor)
        torch.testing.assert_close(adapted, adapter(plain))


def test_attention_pooling_ignores_padded_frames() -> None:
    torch.manual_seed(0)
    pooling = AttentionPooling(6, 4)
    frames = torch.randn(2, 7, 6)
    lengths = torch.tensor([4, 7])
    pooled = pooling(frames, lengths)
    garbage = frames.clone()
    garbage[0, 4:] = 1e4
    assert torch.allclose(pooling(garbage, lengths), pooled)
    assert torch.allclose(pooled[0], pooling(frames[:1, :4], torch.tensor([4]))[0], atol=1e-6)
    # a weighted mean: pooling a constant sequence returns that constant
    constant = torch.ones(1, 5, 6) * 3
    assert torch.allclose(pooling(constant, torch.tensor([5])), torch.full((1, 6), 3.0))


@pytest.mark.parametrize("num_layers, kernel", [(3, 3), (2, 5), (1, 3)])
def test_length_adaptor_lengths_and_padding(num_layers: int, kernel: int) -> None:
    torch.manual_seed(0)
    adaptor = LengthAdaptor(6, 10, num_layers, kernel).eval()
    lengths = torch.tensor([50, 17, 1])
    frames = torch.randn(3, 50, 6)
    out, out_lengths = adaptor(frames, lengths)
    expected = lengths.clone()
    for _ in range(num_layers):
        expected = torch.div(expected - 1, 2, rounding_mode="floor") + 1  # ceil(n / 2) for an odd kernel
    assert out_lengths.tolist() == expected.tolist()
    assert out.shape == (3, int(expected[0]), 10)
    for row, length in enumerate(lengths.tolist()):
        alone, alone_length = adaptor(frames[row:row + 1, :length], lengths[row:row + 1])
        assert int(alone_length) == int(out_lengths[row])
        torch.testing.assert_close(out[row, : int(alone_length)], alone[0, : int(alone_length)])


def test_freeze_groups_and_report() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    groups = {"body": model}
    freeze(groups, ["body"], keep_trainable=[r"^1\."])
    assert trainable_names(model) == {"1.weight", "1.bias"}
    report = parameter_report(model)
    assert report["0"] == {"trainable": 0, "frozen": 20}
    assert report["1"] == {"trainable": 8, "frozen": 0}
    assert report["total"] == {"trainable": 8, "frozen": 20}
    with pytest.raises(ConfigError, match=r"unknown freeze group\(s\) \['head'\]; known: \['body'\]"):
        freeze(groups, ["head"])


def test_load_speech_encoder_pretrained_or_random(tiny_wav2vec2: Path) -> None:
    saved = Wav2Vec2Model.from_pretrained(tiny_wav2vec2).state_dict()
    loaded = load_speech_encoder(str(tiny_wav2vec2), mask_time_prob=0.05).state_dict()
    assert all(torch.equal(loaded[key], saved[key]) for key in saved)
    random = load_speech_encoder(str(tiny_wav2vec2), pretrained=False, layerdrop=0.3)
    assert random.config.layerdrop == 0.3
    assert not torch.equal(random.state_dict()["feature_projection.projection.weight"],
                           saved["feature_projection.projection.weight"])



def test_feature_extractor_is_the_encoders_own(tmp_path: Path) -> None:
    Wav2Vec2FeatureExtractor(sampling_rate=8000, do_normalize=False).save_pretrained(tmp_path / "encoder")
    extractor = load_feature_extractor(str(tmp_path / "encoder"))
    assert (extractor.sampling_rate, extractor.do_normalize) == (8000, False)
    bundled = load_feature_extractor(XLSR_300M)  # the packaged copy: no hub, no cache
    assert bundled.to_dict() == Wav2Vec2FeatureExtractor.from_pretrained(bundled_config_dir(XLSR_300M)).to_dict()


def test_feature_extractor_of_a_directory_without_one_is_xlsrs(tiny_wav2vec2: Path, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    encoder = tmp_path / "encoder"
    Wav2Vec2Model.from_pretrained(tiny_wav2vec2).save_pretrained(encoder)  # weights and config only
    extractor = load_feature_extractor(str(encoder))
    assert extractor.to_dict() == load_feature_extractor(XLSR_300M).to_dict()
    assert f"{encoder} has no preprocessor_config.json: using {XLSR_300M}'s feature-extractor settings" in caplog.text


@pytest.mark.parametrize("encoder", ["/no/such/encoder", "nobody/no-such-encoder"])
def test_feature_extractor_of_a_missing_encoder_is_the_missing_model_error(encoder: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A mistyped or unreachable encoder is not given XLS-R's settings (they would go into packages)."""
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as missing:
        load_feature_extractor(encoder)
    message = str(missing.value)
    assert message.startswith(f"--encoder_model {encoder}: ") and "\n" not in message


# ---------------------------------------------------------------- SAMU

def samu_model(encoder: Path, **overrides) -> SamuModel:
    torch.manual_seed(0)
    options = dict(encoder_model=str(encoder), teacher_dim=16, pooling_dim=16, mask_time_prob=0.0, layerdrop=0.0)
    return SamuModel(**{**options, **overrides})


def test_samu_loss_falls_and_cnn_stays_frozen(tiny_wav2vec2: Path) -> None:
    model = samu_model(tiny_wav2vec2)
    cnn = model.encoder.backbone.feature_extractor
    assert all(not p.requires_grad for p in cnn.parameters())
    assert trainable_names(model) == {n for n, _ in model.named_parameters()
                                      if not n.startswith("encoder.backbone.feature_extractor.")}
    before = clone_state(model)
    speech, lengths = padded_noise([12000, 8000, 5000, 9600])
    teacher = torch.nn.functional.normalize(torch.randn(4, 16, generator=torch.Generator().manual_seed(1)), dim=-1)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    model.train()
    losses = []
    for _ in range(20):
        loss, stats, weight = model(speech, lengths, teacher)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        assert stats["cosine"].item() == pytest.approx(1 - loss.item(), abs=1e-5)
        assert int(weight) == 4
    assert losses[-1] < 0.5 * losses[0], losses
    after = model.state_dict()
    for key in before:
        if key.startswith("encoder.backbone.feature_extractor."):
            assert torch.equal(after[key], before[key]), key
    for key in ("projection.weight", "pooling.score.0.weight", "encoder.backbone.encoder.layers.0.attention.k_proj.weight"):
        assert not torch.equal(after[key], before[key]), key


def test_samu_embedding_ignores_padding(tiny_wav2vec2: Path) -> None:
    model = samu_model(tiny_wav2vec2, mask_time_prob=0.05).eval()
    speech, lengths = padded_noise([8000, 12000, 5000])
    with torch.no_grad():
        batch = model.embed(speech, lengths)
        assert batch.shape == (3, 16) and float(batch.abs().max()) <= 1.0
        for row, length in enumerate(lengths.tolist()):
            alone = model.embed(speech[row:row + 1, :length], lengths[row:row + 1])
            torch.testing.assert_close(batch[row], alone[0], atol=2e-5, rtol=1e-4)
        # longer padding, and other values in it
        noisy = torch.cat([speech, torch.randn(3, 3200)], dim=1)
        noisy[0, 8000:] = torch.randn(noisy.size(1) - 8000)
        noisy[2, 5000:] = 5.0
        torch.testing.assert_close(model.embed(noisy, lengths), batch, atol=2e-5, rtol=1e-4)


def test_samu_freeze_groups(tiny_wav2vec2: Path) -> None:
    model = samu_model(tiny_wav2vec2, freeze=["feature_projection", "encoder"], keep_trainable=[r"layers\.1\."])
    trainable = trainable_names(model)
    assert {n for n in trainable if n.startswith("encoder.")} == {
        n for n, _ in model.named_parameters() if n.startswith("encoder.backbone.encoder.layers.1.")}
    assert {"pooling.score.0.weight", "projection.weight", "projection.bias"} <= trainable
    model = samu_model(tiny_wav2vec2, freeze=["layers.0"])
    assert not any(n.startswith("encoder.backbone.encoder.layers.0.") for n in trainable_names(model))
    assert "encoder.backbone.encoder.layers.1.attention.k_proj.weight" in trainable_names(model)
    with pytest.raises(ConfigError, match="unknown freeze group"):
        samu_model(tiny_wav2vec2, freeze=["layers.7"])


# ---------------------------------------------------------------- adapter ST (tiny)

@dataclass
class TrainedST:
    model: SpeechTranslationModel
    tokenizer: PreTrainedTokenizerBase
    before: dict[str, torch.Tensor]
    losses: list[float]
    speech: torch.Tensor
    lengths: torch.Tensor
    text: torch.Tensor
    text_lengths: torch.Tensor
    languages: torch.Tensor


def target_batch(tokenizer: PreTrainedTokenizerBase, texts: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``<lang> pieces </s>`` rows padded with -1, as ESPnet's collate makes them from text_int."""
    rows = [[language_token_id(tokenizer, code), *tokenizer(text, add_special_tokens=False).input_ids,
             tokenizer.eos_token_id] for code, text in texts]
    text = torch.full((len(rows), max(map(len, rows))), IGNORE_ID)
    for index, row in enumerate(rows):
        text[index, : len(row)] = torch.tensor(row)
    return text, torch.tensor([len(row) for row in rows])


@pytest.fixture(scope="module")
def trained_st(tiny_wav2vec2: Path, tiny_mbart: Path) -> TrainedST:
    """A tiny adapter-ST model after 40 Adam steps on one fixed batch of three utterances."""
    torch.set_num_threads(2)
    model = small_st_model(tiny_wav2vec2, tiny_mbart)
    tokenizer = AutoTokenizer.from_pretrained(tiny_mbart)
    speech, lengths = padded_noise([16000, 9000, 12000], seed=3)
    text, text_lengths = target_batch(tokenizer, [("en_XX", "Thank you very much"), ("en_XX", "Hello"),
                                                  ("de_DE", "Good evening")])
    before = clone_state(model)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    model.train()
    losses = []
    for _ in range(40):
        loss, _, _ = model(speech, lengths, text, text_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return TrainedST(model, tokenizer, before, losses, speech, lengths, text, text_lengths, text[:, 0].clone())


def test_st_loss_falls_on_a_fixed_batch(trained_st: TrainedST) -> None:
    losses = trained_st.losses
    assert losses[-1] < losses[0] - 1.0, losses
    assert losses[-1] < min(losses[:5])


def test_st_training_changes_only_adapters_and_length_adaptor(trained_st: TrainedST) -> None:
    model, before = trained_st.model, trained_st.before
    after = model.state_dict()
    assert set(after) == set(before)
    assert {name.split(".")[0] for name in trainable_names(model)} == set(TRAINED_GROUPS)
    for key, value in after.items():
        if key.split(".")[0] in TRAINED_GROUPS:
            continue
        assert torch.equal(value, before[key]), f"{key} changed"
    adapters = [*model.encoder_adapters, *model.decoder_adapters]
    assert len(model.encoder_adapters) == 2 and len(model.decoder_adapters) == 2
    prefixes = [f"encoder_adapters.{i}." for i in range(2)] + [f"decoder_adapters.{i}." for i in range(2)] + \
        [f"length_adaptor.convs.{i}." for i in range(2)]
    for prefix in prefixes:
        assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith(prefix)), prefix
    assert all(adapter.up.weight.abs().sum() > 0 for adapter in adapters)
    assert model.mbart.model.encoder is None  # mBART's text encoder is dropped


def greedy_reference(model: SpeechTranslationModel, speech: torch.Tensor, lengths: torch.Tensor,
                     languages: torch.Tensor, max_length: int) -> list[list[int]]:
    """Greedy decoding by hand: encode once, then argmax one token at a time behind ``</s> <lang>``,
    until ``</s>``; the decoder's generation config forces ``</s>`` as the ``max_length``-th token."""
    config = model.config
    forced_eos = model.mbart.generation_config.forced_eos_token_id
    memory, mask = model.encode(speech, lengths)
    hypotheses = []
    for row in range(speech.size(0)):
        ids = [config.decoder_start_token_id, int(languages[row])]
        while len(ids) < max_length and ids[-1] != config.eos_token_id or len(ids) == 2:
            logits = model.mbart(encoder_outputs=BaseModelOutput(last_hidden_state=memory[row:row + 1]),
                                 attention_mask=mask[row:row + 1], decoder_input_ids=torch.tensor([ids])).logits
            last = len(ids) == max_length - 1 and forced_eos is not None
            ids.append(config.eos_token_id if last else int(logits[0, -1].argmax()))
        hypotheses.append(ids[2:-1] if ids[-1] == config.eos_token_id else ids[2:])
    return hypotheses


@pytest.mark.parametrize("max_length", [6, 40])
def test_st_greedy_translate_equals_a_hand_written_loop(trained_st: TrainedST, max_length: int) -> None:
    model = trained_st.model
    with torch.no_grad():
        expected = greedy_reference(model, trained_st.speech, trained_st.lengths, trained_st.languages, max_length)
        got = model.translate(trained_st.speech, trained_st.lengths, trained_st.languages, beam_size=1,
                              max_length=max_length)
    assert got == expected
    assert all(len(ids) <= max_length - 3 for ids in got)


def test_st_beam_search_returns_one_hypothesis_per_utterance(trained_st: TrainedST) -> None:
    model, tokenizer = trained_st.model, trained_st.tokenizer
    got = model.translate(trained_st.speech, trained_st.lengths, trained_st.languages, beam_size=3, max_length=30)
    assert isinstance(got, list) and len(got) == 3
    special = {tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.bos_token_id}
    for ids in got:
        assert isinstance(ids, list) and all(isinstance(i, int) for i in ids)
        assert not special & set(ids), ids
        assert len(ids) <= 30 - 2
    # max_len_ratio caps the hypothesis length by the longest input's duration (1 s -> 2 tokens)
    capped = model.translate(trained_st.speech, trained_st.lengths, trained_st.languages, beam_size=3,
                             max_length=30, max_len_ratio=2.0)
    assert all(len(ids) <= 2 for ids in capped)


def test_st_decoder_inputs_and_ignored_labels(trained_st: TrainedST) -> None:
    model = trained_st.model
    text = torch.tensor([[10, 11, 12, 2], [20, 2, IGNORE_ID, IGNORE_ID]])
    pad, start = model.config.pad_token_id, model.config.decoder_start_token_id
    assert model.decoder_inputs(text).tolist() == [[start, 10, 11, 12], [start, 20, 2, pad]]

    speech, lengths, labels, label_lengths = (trained_st.speech, trained_st.lengths, trained_st.text,
                                              trained_st.text_lengths)
    with torch.no_grad():
        loss, stats, _ = model(speech, lengths, labels, label_lengths)
        # more -1 padding (ESPnet pads to the longest target of a bigger batch) changes nothing
        wider = torch.cat([labels, torch.full((3, 4), IGNORE_ID)], dim=1)
        assert torch.equal(model(speech, lengths, wider, label_lengths)[0], loss)
        # the loss is label-smoothed cross-entropy over the non-ignored positions after the language token
        memory, mask = model.encode(speech, lengths)
        logits = model.mbart(encoder_outputs=BaseModelOutput(last_hidden_state=memory), attention_mask=mask,
                             decoder_input_ids=model.decoder_inputs(labels)).logits
        valid = labels != IGNORE_ID
        valid[:, 0] = False
        expected = torch.nn.functional.cross_entropy(logits[valid], labels[valid], label_smoothing=0.1)
        # ESPnet's force_gatherable makes the scalar loss a 1-element tensor for DataParallel
        torch.testing.assert_close(loss.reshape(()), expected)
        accuracy = (logits.argmax(-1)[valid] == labels[valid]).float().mean()
        torch.testing.assert_close(stats["acc"].reshape(()), accuracy)


def test_loss_and_accuracy_ignore_the_forced_language_token() -> None:
    # two rows "<lang> a b </s>" and "<lang> c </s> -1"; vocabulary of 6, language tokens 4 and 5
    text = torch.tensor([[4, 1, 2, 3], [5, 0, 3, IGNORE_ID]])
    logits = torch.full((2, 4, 6), -5.0)
    predicted = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 2]])  # language position always wrong; (1, 2) wrong
    logits.scatter_(2, predicted[..., None], 5.0)
    loss, accuracy = translation_loss(logits[scored_positions(text)], text, label_smoothing=0.0)
    assert accuracy.item() == pytest.approx(4 / 5)  # 5 predicted positions, 4 right
    log_probs = torch.log_softmax(logits, dim=-1)
    right, wrong = -log_probs[0, 1, 1], -log_probs[1, 2, 3]
    torch.testing.assert_close(loss, (4 * right + wrong) / 5)
    # whatever the model says at the language position changes nothing
    logits[:, 0] = torch.randn(2, 6)
    assert translation_loss(logits[scored_positions(text)], text, 0.0)[1].item() == pytest.approx(4 / 5)
    torch.testing.assert_close(translation_loss(logits[scored_positions(text)], text, 0.0)[0], loss)
    assert text[:, 0].tolist() == [4, 5]  # the caller's batch is left as it was


def lna_model_conf(config: str) -> dict:
    """The freezing part of an LNA config's model_conf."""
    conf = yaml.safe_load((TUNING / config).read_text(encoding="utf-8"))["model_conf"]
    return {key: conf[key] for key in ("freeze", "keep_trainable", "encoder_adapter_dim", "decoder_adapter_dim")}


def in_lna_groups(name: str, encoder_side: bool, decoder_side: bool) -> bool:
    """The LNA paper's groups, by HF parameter name: encoder LayerNorms + self-attention (fairseq
    "layer_norm,self_attn"), decoder LayerNorms + self- and encoder-attention ("encoder_attn,layer_norm,
    self_attn"); the length adaptor always trains, the CNN and everything else stays frozen."""
    if name.startswith("length_adaptor."):
        return True
    inner = name.removeprefix("encoder.backbone.")
    if inner != name:
        return encoder_side and bool(re.match(r"(feature_projection\.layer_norm|encoder\.layer_norm|"
                                              r"encoder\.layers\.\d+\.(attention|layer_norm|final_layer_norm))\.", inner))
    parts = name.split(".")
    if name.startswith("mbart.model.decoder.layers."):
        return decoder_side and parts[5] in ("self_attn", "encoder_attn", "self_attn_layer_norm",
                                             "encoder_attn_layer_norm", "final_layer_norm")
    return decoder_side and name.startswith("mbart.model.decoder.layer_norm.")


@pytest.mark.parametrize("config", LNA_CONFIGS)
def test_lna_configs_train_the_papers_groups(config: str, tiny_wav2vec2: Path, tiny_mbart: Path) -> None:
    model = small_st_model(tiny_wav2vec2, tiny_mbart, **lna_model_conf(config))
    names = [name for name, _ in model.named_parameters()]
    expected = {name for name in names if in_lna_groups(name, *LNA_CONFIGS[config])}
    assert trainable_names(model) == expected
    assert "encoder.backbone.encoder.layers.1.feed_forward.output_dense.weight" not in expected
    assert ("mbart.model.decoder.layers.1.encoder_attn.k_proj.weight" in expected) == LNA_CONFIGS[config][1]
    assert ("encoder.backbone.encoder.layers.1.attention.k_proj.weight" in expected) == LNA_CONFIGS[config][0]


def test_st_lna_and_full_finetuning_freeze_the_right_parameters(tiny_wav2vec2: Path, tiny_mbart: Path) -> None:
    lna = small_st_model(tiny_wav2vec2, tiny_mbart, **lna_model_conf("train_st_xlsr_lna.yaml"))
    trainable = trainable_names(lna)
    assert not any(".feature_extractor." in n for n in trainable)  # the CNN stays frozen
    assert not any(n.startswith(("encoder_adapters", "decoder_adapters")) for n, _ in lna.named_parameters())
    assert {"encoder.backbone.encoder.layers.0.attention.k_proj.weight",
            "encoder.backbone.encoder.layers.1.layer_norm.weight",
            "encoder.backbone.feature_projection.layer_norm.weight",
            "mbart.model.decoder.layers.0.self_attn.q_proj.weight",
            "mbart.model.decoder.layers.1.encoder_attn.v_proj.bias",
            "mbart.model.decoder.layers.1.final_layer_norm.weight",
            "mbart.model.decoder.layer_norm.weight"} <= trainable
    for frozen in ("encoder.backbone.encoder.layers.0.feed_forward.intermediate_dense.weight",
                   "mbart.model.decoder.layers.0.fc1.weight", "mbart.model.shared.weight"):
        assert frozen not in trainable
    assert {n.split(".")[0] for n in trainable} == {"encoder", "mbart", "length_adaptor"}

    full = small_st_model(tiny_wav2vec2, tiny_mbart, freeze=[], encoder_adapter_dim=0, decoder_adapter_dim=0)
    frozen = {n for n, _ in full.named_parameters()} - trainable_names(full)
    assert frozen == {n for n, _ in full.named_parameters()
                      if ".feature_extractor." in n or n in ("mbart.model.shared.weight",
                                                             "mbart.model.decoder.embed_positions.weight")}
    with pytest.raises(ConfigError, match="unknown freeze group"):
        small_st_model(tiny_wav2vec2, tiny_mbart, freeze=["encoder", "adapters"])


# ---------------------------------------------------------------- full size (random weights, configs only)

@pytest.fixture(scope="module")
def full_size_configs() -> tuple[str, str]:
    """The hub ids of XLS-R-300M and mBART-50: with ``pretrained=False`` they build from the architectures
    packaged in sst/models/configs (no weights, no download), the path users' config checks take."""
    assert bundled_config_dir(XLSR_300M) and bundled_config_dir(MBART50_MMT)
    return XLSR_300M, MBART50_MMT


def test_full_size_adapter_st_trains_about_75m_parameters(full_size_configs: tuple[str, str],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    encoder, decoder = full_size_configs
    caplog.set_level(logging.INFO)
    model = STTask.build_model(Namespace(model_conf={"encoder_model": str(encoder), "decoder_model": str(decoder),
                                                     "pretrained": False}))
    report = parameter_report(model)
    assert 70e6 < report["total"]["trainable"] < 80e6, report
    # 24 encoder adapters of 1024 -> 768 -> 1024, 12 decoder ones, 3 conv + GLU blocks 1024 -> 1024
    adapter = 2 * 1024 + 2 * 1024 * 768 + 768 + 1024
    assert report["encoder_adapters"] == {"trainable": 24 * adapter, "frozen": 0}
    assert report["decoder_adapters"] == {"trainable": 12 * adapter, "frozen": 0}
    assert report["length_adaptor"] == {"trainable": 3 * (1024 * 2048 * 3 + 2048), "frozen": 0}
    assert report["encoder"]["trainable"] == report["mbart"]["trainable"] == 0
    assert 310e6 < report["encoder"]["frozen"] < 320e6  # XLS-R 300M
    assert 450e6 < report["mbart"]["frozen"] < 470e6  # mBART-50 decoder + 250k x 1024 embeddings
    assert model.config.vocab_size == 250054 and model.mbart.model.encoder is None
    assert "parameters (trainable / frozen):" in caplog.text
    assert f"{report['total']['trainable']:,}" in caplog.text
    assert "random weights from the config of" in caplog.text


@pytest.mark.parametrize("config", LNA_CONFIGS)
def test_full_size_lna_share_is_logged_and_documented(config: str, full_size_configs: tuple[str, str],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """XLS-R-300M + mBART-50 shapes on the meta device (no memory, no weights): the share the config
    comment states is the one training logs."""
    encoder, decoder = full_size_configs
    caplog.set_level(logging.INFO)
    with torch.device("meta"):
        model = STTask.build_model(Namespace(model_conf={"encoder_model": str(encoder), "decoder_model": str(decoder),
                                                         "pretrained": False, **lna_model_conf(config)}))
    report = parameter_report(model)
    documented = re.search(r"Ours: ([\d,]+) of ([\d,]+) parameters \(([\d.]+) %",
                           (TUNING / config).read_text(encoding="utf-8").replace("\n# ", " "))
    assert documented, f"{config}: no 'Ours: N of M parameters (X %' in the comment"
    total = report["total"]["trainable"] + report["total"]["frozen"]
    assert (documented[1], documented[2]) == (f"{report['total']['trainable']:,}", f"{total:,}")
    assert documented[3] == f"{100 * trainable_share(report):.1f}"
    assert f"trainable share: {documented[3]} % of all parameters" in caplog.text
    assert 0.10 < trainable_share(report) < 0.50  # the ACL 2021 version's "10-50 %"


def test_full_size_samu_model(full_size_configs: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
    encoder, _ = full_size_configs
    caplog.set_level(logging.INFO)
    model = SamuTask.build_model(Namespace(model_conf={"encoder_model": str(encoder), "pretrained": False,
                                                       "teacher_dim": 768}))
    report = parameter_report(model)
    cnn = sum(p.numel() for p in model.encoder.backbone.feature_extractor.parameters())
    assert 4.0e6 < cnn < 4.5e6
    assert report["encoder"]["frozen"] == cnn
    assert 305e6 < report["encoder"]["trainable"] < 315e6
    assert report["pooling"]["trainable"] == 1024 * 256 + 256 + 256 + 1
    assert report["projection"]["trainable"] == 1024 * 768 + 768
    assert model.encoder.backbone.config.mask_time_prob == 0.05 and model.encoder.backbone.config.layerdrop == 0.05
    assert f"{report['total']['trainable']:,}" in caplog.text
