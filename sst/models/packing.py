"""A trained speech-translation model as a directory for decoding and ``sst.bin.translate`` (``exp/<st_exp>/packed``).

Two kinds, told apart by ``package.json`` (a package without one is a full package):

- ``full``: self-contained. The encoder and decoder configs, the tokenizer, the ESPnet config pointing at
  them and every weight: needs neither the hub nor the original checkpoints (offline clusters).
- ``adapters``: only the trained tensors (every parameter that has ``requires_grad`` in the trained model:
  adapters, length adaptor, ``keep_trainable`` tensors) plus, for each frozen part (encoder base, decoder
  base), the hub id or path it came from (relative to the package inside its recipe folder, so a copied
  recipe folder keeps working) and a digest of its frozen tensors. Loading builds the
  model from those bases through the normal ``from_pretrained`` path (``sst.models.pretrained``), refuses
  a base whose digest differs, and loads the trained tensors over it. About a tenth of a full package for
  the paper's system (tools/bench/REPORT_fullsize.md).

The digest of a part (:func:`tensors_digest`) is sha256 over its frozen state-dict tensors (parameters
without ``requires_grad`` and persistent buffers) as the model holds them after loading the base, in
name order: for each tensor its name, dtype, shape and raw bytes; a tied tensor (mBART's embedding /
LM head) is hashed once, under its first name. It does not depend on how the base is stored on disk.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Mapping

import torch
import yaml
from transformers import PreTrainedTokenizerBase

from sst.errors import ConfigError, UserError
from sst.io import existing_dir, replace_dir, temp_path
from sst.models.checkpoints import trained_state
from sst.models.freezing import parameter_report
from sst.models.hub import ModelNotFoundError
from sst.models.model_card import MANIFEST, PACKED, recipe_dir, write_model_card
from sst.models.pretrained import load_feature_extractor, load_tokenizer, quiet_loading
from sst.models.speech_translation import SpeechTranslationModel

KINDS = ("adapters", "full")
# Adapter-only by default: in a recipe the bases stay where training read them (the SAMU export in exp/,
# mBART-50 in the hub cache), so each experiment costs ~0.3 GB instead of 3.4 GB at full size, and a base
# that moved or changed is refused in one line that names --pack full.
DEFAULT_KIND = "adapters"
# The frozen parts an adapter-only package takes from a base: the model_conf option naming the base and
# the prefix of the part's names in the model's state dict.
BASE_PARTS = {"encoder": ("encoder_model", "encoder.backbone."), "decoder": ("decoder_model", "mbart.")}


class PackageError(UserError):
    """A package, or the experiment packed, does not fit its bases; the message names it and what to do."""


def trainable_names(model: torch.nn.Module) -> set[str]:
    """Every state-dict name of a parameter that trains (all names of a tied one)."""
    return {name for name, param in model.named_parameters(remove_duplicate=False) if param.requires_grad}


def frozen_tensors(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """The state-dict entries under ``prefix`` that do not train (frozen parameters and buffers)."""
    trainable = trainable_names(model)
    return {name: tensor for name, tensor in model.state_dict(keep_vars=True).items()
            if name.startswith(prefix) and name not in trainable}


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over name, dtype, shape and bytes of each tensor, in name order; a tensor object seen under
    an earlier name (a tied weight) is left out."""
    digest, seen = hashlib.sha256(), set()
    for name in sorted(tensors):
        tensor = tensors[name]
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\0{data.dtype}\0{tuple(data.shape)}\0".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def frozen_names(model: torch.nn.Module) -> set[str]:
    """The state-dict names of every base part's frozen tensors: what an adapter-only package leaves out."""
    return {name for _, prefix in BASE_PARTS.values() for name in frozen_tensors(model, prefix)}


def base_digests(model: torch.nn.Module) -> dict[str, str]:
    """Part name -> digest of the part's frozen tensors."""
    return {part: tensors_digest(frozen_tensors(model, prefix)) for part, (_, prefix) in BASE_PARTS.items()}


def base_source(name_or_dir: str, package: Path, tree: Path | None) -> str:
    """How a package names a base: a hub id as it is; a local dir inside ``tree`` (the recipe folder of the
    package) by its path relative to ``package`` (``../../samu_x/encoder_hf``), so the folder can be copied
    or moved; any other local dir by its absolute path."""
    if not Path(name_or_dir).is_dir():
        return str(name_or_dir)
    base = Path(name_or_dir).resolve()
    return os.path.relpath(base, package.resolve()) if tree and base.is_relative_to(tree.resolve()) else str(base)


def located_base(source: str, package: Path) -> str:
    """Where a base a package names is: a relative path (see :func:`base_source`) from the package dir."""
    return os.path.normpath(package / source) if source.startswith(".") else source


def package_kind(packed: Path) -> str | None:
    """``adapters`` or ``full`` for a package dir, None where there is no package."""
    if not (packed / "model.pth").is_file():
        return None
    manifest = packed / MANIFEST
    return json.loads(manifest.read_text(encoding="utf-8"))["kind"] if manifest.is_file() else "full"


def packable_kind(exp_dir: Path, kind: str) -> str:
    """The kind of package ``pack(exp_dir, ..., kind)`` writes: ``kind``, except ``full`` for an experiment
    trained on random frozen weights (``pretrained: false``), which have no base to refer to."""
    if kind not in KINDS:
        raise ConfigError(f"package kind {kind!r}: choose one of {', '.join(KINDS)}")
    config = yaml.safe_load((exp_dir / "config.yaml").read_text(encoding="utf-8"))
    if kind == "adapters" and not config["model_conf"].get("pretrained", True):
        logging.warning("%s trained on random frozen weights (pretrained: false): packing it full", exp_dir)
        return "full"
    return kind


def uninitialised_model(model_conf: Mapping) -> SpeechTranslationModel:
    """The model of ``model_conf`` on the CPU without the random initialisation a checkpoint overwrites anyway
    (850M parameters at full size); tied parameters (mBART's embedding / LM head) stay tied, so they are
    stored once."""
    with torch.device("meta"):
        model = SpeechTranslationModel(**{**model_conf, "pretrained": False})
    owners: dict[int, list[tuple[torch.nn.Module, str]]] = {}
    for module in model.modules():
        for name, param in module._parameters.items():
            if param is not None:
                owners.setdefault(id(param), []).append((module, name))
    model.to_empty(device="cpu")  # one new tensor per module that holds a parameter: ties come undone
    for (first, first_name), *others in owners.values():
        for module, name in others:
            module._parameters[name] = first._parameters[first_name]
    return model


def pack(exp_dir: Path, checkpoint: Path, kind: str = DEFAULT_KIND, out: Path | None = None) -> Path:
    """Write a ``kind`` package (see the module doc) of ``checkpoint`` into ``out`` (default
    ``exp_dir/packed``), with its model card; returns its path. See :func:`packable_kind`.
    """
    kind = packable_kind(exp_dir, kind)
    config = yaml.safe_load((exp_dir / "config.yaml").read_text(encoding="utf-8"))
    model_conf = config["model_conf"]
    out = exp_dir / PACKED if out is None else out
    tmp = temp_path(out)
    shutil.rmtree(tmp, ignore_errors=True)
    if kind == "full":
        model = uninitialised_model(model_conf)
        model.load_state_dict(trained_state(exp_dir, checkpoint, model), strict=True)
    else:
        model = SpeechTranslationModel(**model_conf)  # the bases, loaded as training loaded them
        loaded = base_digests(model)
        model.load_state_dict(trained_state(exp_dir, checkpoint, model), strict=True)
        bases = base_digests(model)
        for part, digest in bases.items():
            if digest != loaded[part]:
                source = model_conf[BASE_PARTS[part][0]]
                raise PackageError(f"{checkpoint}: its frozen {part} differs from {source}, the base it names "
                                   f"(changed since training?); pack it with --pack full")
    model.encoder.backbone.config.save_pretrained(tmp / "encoder")
    load_feature_extractor(model_conf["encoder_model"]).save_pretrained(tmp / "encoder")
    model.mbart.config.save_pretrained(tmp / "decoder")
    model.mbart.generation_config.save_pretrained(tmp / "decoder")
    load_tokenizer(model_conf["decoder_model"]).save_pretrained(tmp / "decoder")
    state = model.state_dict()
    manifest: dict[str, object] = {"kind": kind, "parameters": parameter_report(model)["total"]}
    if kind == "full":
        config["model_conf"] = {**model_conf, "encoder_model": "encoder", "decoder_model": "decoder",
                                "pretrained": False}
    else:
        recipe = recipe_dir(exp_dir)
        sources = {option: base_source(model_conf[option], out, recipe) for option, _ in BASE_PARTS.values()}
        config["model_conf"] = {**model_conf, **sources}
        manifest["bases"] = {part: {"from": sources[option], "option": option, "sha256": bases[part],
                                    "tensors": len(frozen_tensors(model, prefix))}
                             for part, (option, prefix) in BASE_PARTS.items()}
        frozen = frozen_names(model)
        state = {name: tensor for name, tensor in state.items() if name not in frozen}
    if model_conf.get("target_vocabulary"):  # a trimmed model's vocabulary travels with it
        shutil.copy(model_conf["target_vocabulary"], tmp / "target_vocabulary.txt")
        config["model_conf"]["target_vocabulary"] = "target_vocabulary.txt"
    (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    torch.save(state, tmp / "model.pth")
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    (tmp / "source.txt").write_text(f"{checkpoint}\n", encoding="utf-8")
    write_model_card(tmp, exp_dir, model_dir=out)
    replace_dir(tmp, out)
    return out


def package_dir(model_dir: Path) -> Path:
    """The package of an experiment dir (its ``packed``, found aside when a repacking was killed midway,
    see sst.io.replace_dir), or ``model_dir`` itself when it is not an experiment dir holding one."""
    packed = existing_dir(model_dir / PACKED)
    return packed if packed.is_dir() else model_dir


def check_bases(packed: Path, model: torch.nn.Module, bases: Mapping[str, Mapping[str, str]]) -> None:
    """PackageError (one line) when a base the model was built from is not the one the package was made on."""
    for part, digest in base_digests(model).items():
        if digest != bases[part]["sha256"]:
            source = located_base(bases[part]["from"], packed)
            raise PackageError(
                f"{packed}: the {part} base {source} is not the one this adapter-only package was "
                f"trained on (digest of its frozen weights {digest[:12]}, recorded {bases[part]['sha256'][:12]}); "
                f"put that base back at {source}, or repack the experiment with --pack full where it is")


def load_packed(model_dir: Path, device: str = "cpu") -> tuple[SpeechTranslationModel, PreTrainedTokenizerBase]:
    """Load a packed model of either kind (the ``packed`` dir itself or the experiment dir holding it), in
    eval mode."""
    packed = package_dir(model_dir)
    kind = package_kind(packed)
    if kind is None:
        raise ModelNotFoundError(f"{model_dir} holds no packed model (model.pth): run stage 4 to the end")
    config = yaml.safe_load((packed / "config.yaml").read_text(encoding="utf-8"))
    # Paths inside the package: a full one's encoder / decoder configs, either kind's target vocabulary.
    for key in ("encoder_model", "decoder_model", "target_vocabulary") if kind == "full" else ("target_vocabulary",):
        if config["model_conf"].get(key):
            config["model_conf"][key] = str(packed / config["model_conf"][key])
    if kind == "adapters":  # bases in the package's recipe folder are named relative to it
        for option, _ in BASE_PARTS.values():
            config["model_conf"][option] = located_base(config["model_conf"][option], packed)
    try:
        with quiet_loading():
            model = SpeechTranslationModel(**config["model_conf"])
    except ModelNotFoundError as missing:  # a base of an adapter-only package is not at hand
        raise ModelNotFoundError(f"{packed} (adapter-only package): {missing}; its bases are named in "
                                 f"{packed / 'config.yaml'}; or use a full package (stage 4 with --pack full)"
                                 ) from None
    # mmap: the weights are paged in from the file as they are copied, not held twice (3.4 GB at full size).
    state = torch.load(packed / "model.pth", map_location="cpu", weights_only=True, mmap=True)
    if kind == "full":
        model.load_state_dict(state, strict=True)
    else:
        check_bases(packed, model, json.loads((packed / MANIFEST).read_text(encoding="utf-8"))["bases"])
        frozen = frozen_names(model)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or set(missing) != frozen:
            lacking = sorted(set(missing) - frozen)
            raise PackageError(f"{packed / 'model.pth'}: does not fit the model over its bases (trained tensors "
                               f"missing: {lacking[:3]}, unknown: {sorted(unexpected)[:3]}); pack the experiment again")
    return model.to(device).eval(), load_tokenizer(str(packed / "decoder"))
