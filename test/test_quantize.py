"""--quantize int8: dynamic int8 linear layers for CPU decoding (sst.inference.quantize), through the
Translator, sst.bin.translate and the CUDA refusal."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from sst.bin import translate
from sst.errors import ConfigError
from sst.inference.translator import Translator
from sst.testing.corpora import MINI_ST_CORPUS
from sst.testing.tiny_models import packed_repeating_model

QUANTIZED_LINEAR = torch.ao.nn.quantized.dynamic.Linear


@pytest.fixture(scope="module")
def model_dir(tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package whose decoder says one word over and over: a translation both variants must agree on."""
    return packed_repeating_model(tmp_path_factory.mktemp("int8") / "st_exp", tiny_wav2vec2, tiny_mbart)


@pytest.fixture(scope="module")
def clips() -> list[Path]:
    return sorted(MINI_ST_CORPUS.glob("commonvoice/fr/clips/*.mp3"))[:3]


def test_int8_quantizes_every_linear_layer_and_keeps_the_embeddings(model_dir: Path) -> None:
    model = Translator.from_pretrained(model_dir, quantize="int8").model
    linear = [name for name, module in model.named_modules() if type(module) is nn.Linear]
    quantized = {name for name, module in model.named_modules() if isinstance(module, QUANTIZED_LINEAR)}
    assert linear == []
    assert {"mbart.lm_head", "mbart.model.decoder.layers.0.fc1"} <= quantized, sorted(quantized)
    assert any(name.startswith("encoder.") for name in quantized) and any("adapter" in name for name in quantized)
    embeddings = model.mbart.model.shared
    assert isinstance(embeddings, nn.Embedding) and embeddings.weight.dtype == torch.float32
    assert model.mbart.lm_head.weight().dtype == torch.qint8


def test_int8_translates_every_input_as_fp32_does(model_dir: Path, clips: list[Path]) -> None:
    options = {"beam_size": 3, "max_length": 6}
    fp32 = Translator.from_pretrained(model_dir, **options).translate(clips, tgt_lang="en")
    int8 = Translator.from_pretrained(model_dir, quantize="int8", **options).translate(clips, tgt_lang="en")
    assert len(int8) == len(clips) and all(int8)
    assert int8 == fp32  # the favoured word wins every step in both


def test_int8_is_refused_on_cuda_and_an_unknown_kind_in_one_line(model_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"quantize int8: dynamic int8 quantization runs on the CPU only, not on cuda:0"):
        Translator.from_pretrained(model_dir, device="cuda:0", quantize="int8")
    with pytest.raises(ConfigError, match=r"unknown quantization 'int4'; choose one of none, int8"):
        Translator.from_pretrained(model_dir, quantize="int4")


def test_translate_quantize_int8_decodes_on_the_cpu(model_dir: Path, clips: list[Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # int8 still decodes on the CPU
    output = tmp_path / "out.txt"
    translate.main([str(clips[0]), "--model_dir", str(model_dir), "--quantize", "int8", "--beam_size", "2",
                    "--max_length", "6", "--vad", "never", "--output", str(output)])
    path, text = output.read_text(encoding="utf-8").rstrip("\n").split("\t")
    assert path == str(clips[0])
    assert text == Translator.from_pretrained(model_dir, beam_size=2, max_length=6).translate(clips[:1])[0]
