"""A trained speech-translation model as one self-contained directory (``exp/<st_exp>/packed``).

Holds the encoder and decoder configs, the tokenizer, the ESPnet config pointing at them and the
weights, so decoding and ``sst.bin.translate`` need neither the hub nor the original checkpoints.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
import yaml
from transformers import PreTrainedTokenizerBase

from sst.models.pretrained import load_feature_extractor, load_tokenizer
from sst.models.speech_translation import SpeechTranslationModel
from sst.tasks.launch import trained_state

PACKED = "packed"


def pack(exp_dir: Path, checkpoint: Path) -> Path:
    """Write ``exp_dir/packed`` from the experiment's config and ``checkpoint``; returns its path."""
    config = yaml.safe_load((exp_dir / "config.yaml").read_text(encoding="utf-8"))
    model_conf = config["model_conf"]
    out = exp_dir / PACKED
    tmp = exp_dir / f"{PACKED}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    # Built without the random initialisation the checkpoint overwrites anyway (850M parameters at full size).
    with torch.device("meta"):
        model = SpeechTranslationModel(**{**model_conf, "pretrained": False})
    model.to_empty(device="cpu")
    model.load_state_dict(trained_state(exp_dir, checkpoint, model), strict=True)
    model.encoder.wav2vec2.config.save_pretrained(tmp / "encoder")
    load_feature_extractor(model_conf["encoder_model"]).save_pretrained(tmp / "encoder")
    model.mbart.config.save_pretrained(tmp / "decoder")
    model.mbart.generation_config.save_pretrained(tmp / "decoder")
    load_tokenizer(model_conf["decoder_model"]).save_pretrained(tmp / "decoder")
    config["model_conf"] = {**model_conf, "encoder_model": "encoder", "decoder_model": "decoder",
                            "pretrained": False}
    if model_conf.get("target_vocabulary"):  # a trimmed model's vocabulary travels with it
        shutil.copy(model_conf["target_vocabulary"], tmp / "target_vocabulary.txt")
        config["model_conf"]["target_vocabulary"] = "target_vocabulary.txt"
    (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    torch.save(model.state_dict(), tmp / "model.pth")
    (tmp / "source.txt").write_text(f"{checkpoint}\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def load_packed(model_dir: Path, device: str = "cpu") -> tuple[SpeechTranslationModel, PreTrainedTokenizerBase]:
    """Load a packed model (the ``packed`` dir itself or the experiment dir holding it), in eval mode."""
    packed = model_dir / PACKED if (model_dir / PACKED).is_dir() else model_dir
    if not (packed / "model.pth").exists():
        raise FileNotFoundError(f"{model_dir} holds no packed model (model.pth): run stage 4 to the end")
    config = yaml.safe_load((packed / "config.yaml").read_text(encoding="utf-8"))
    for key in ("encoder_model", "decoder_model", "target_vocabulary"):
        if config["model_conf"].get(key):
            config["model_conf"][key] = str(packed / config["model_conf"][key])
    model = SpeechTranslationModel(**config["model_conf"])
    # mmap: the weights are paged in from the file as they are copied, not held twice (3.4 GB at full size).
    state = torch.load(packed / "model.pth", map_location="cpu", weights_only=True, mmap=True)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), load_tokenizer(str(packed / "decoder"))
