"""Dynamic int8 quantization of a loaded speech-translation model for CPU decoding (``--quantize int8``).

Every ``nn.Linear`` (the encoder's attention and feed-forward layers, the adapters, the decoder's, and the
LM head over the vocabulary) gets int8 weights, its activations quantized on the fly per batch; the
CNN feature encoder, the convolutional position embedding, the length adaptor's convolutions and the token
embeddings stay fp32 (the LM head packs its own int8 copy of the tied embedding matrix). The tool is
``torch.ao.quantization.quantize_dynamic``: deprecated in favour of ``torchao``, which our pinned stack
does not include. Dynamic quantization runs on the CPU only.
"""
from __future__ import annotations

import argparse
import warnings

import torch
from torch import nn

from sst.errors import ConfigError

QUANTIZE_CHOICES = ("none", "int8")


def add_quantize_option(parser: argparse.ArgumentParser) -> None:
    """``--quantize {none,int8}``."""
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES, default="none",
                        help="int8: dynamic int8 quantization of the linear layers; decodes on the CPU [none]")


def decoding_device(quantize: str) -> str:
    """Where a command decodes: the GPU when there is one, unless int8 asks for the CPU."""
    return "cuda" if torch.cuda.is_available() and quantize == "none" else "cpu"


def check_quantize(quantize: str, device: str | torch.device, option: str = "quantize") -> None:
    """ConfigError naming ``option`` when ``quantize`` is unknown or asks for int8 on a device other than the CPU."""
    if quantize not in QUANTIZE_CHOICES:
        raise ConfigError(f"{option}: unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZE_CHOICES)}")
    if quantize != "none" and torch.device(device).type != "cpu":
        raise ConfigError(f"{option} {quantize}: dynamic int8 quantization runs on the CPU only, not on {device}; "
                         "decode on the CPU or without quantization")


def quantize_model(model: nn.Module, quantize: str, device: str | torch.device, option: str = "quantize") -> nn.Module:
    """``model`` (in place) with its linear layers quantized as ``quantize`` says (``none``: unchanged);
    see :func:`check_quantize` for the errors."""
    check_quantize(quantize, device, option)
    if quantize == "none":
        return model
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*deprecated", category=DeprecationWarning)
        return torch.ao.quantization.quantize_dynamic(model.eval(), {nn.Linear}, dtype=torch.qint8, inplace=True)


def recorded_settings(options: dict, quantize: str) -> dict:
    """The decoding settings a decode dir's provenance records: ``options``, plus ``quantize`` unless it is
    ``none`` (so decode dirs made before the option existed stay current, and int8 never reuses fp32 ones)."""
    return {**options, "quantize": quantize} if quantize != "none" else options
