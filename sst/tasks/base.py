"""What the SAMU and speech-translation tasks share on top of ESPnet's ``AbsTask``."""
from __future__ import annotations

import argparse
import inspect
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch
from espnet2.tasks.abs_task import AbsTask, optim_classes
from espnet2.train.abs_espnet_model import AbsESPnetModel
from espnet2.utils.get_default_kwargs import get_default_kwargs
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet.nets.pytorch_backend.nets_utils import pad_list

from sst.errors import ConfigError
from sst.models.freezing import log_parameter_report
from sst.tasks.trainer import ResumableTrainer


class PadCollate:
    """ESPnet's ``common_collate_fn`` (pad to the longest, add ``<key>_lengths``; floats padded with 0,
    integers with -1). Written here because importing espnet2.train.collate_fn pulls in g2p_en, which
    tries to download NLTK data from the network at every training start."""

    def __init__(self, not_sequence: Collection[str] = ()):
        self.not_sequence = set(not_sequence)

    def __call__(self, batch: Collection[Tuple[str, Dict[str, np.ndarray]]]
                 ) -> Tuple[List[str], Dict[str, torch.Tensor]]:
        uttids = [utt for utt, _ in batch]
        items = [item for _, item in batch]
        output = {}
        for key in items[0]:
            pad_value = -1 if items[0][key].dtype.kind == "i" else 0.0
            output[key] = pad_list([torch.from_numpy(item[key]) for item in items], pad_value)
            if key not in self.not_sequence:
                output[f"{key}_lengths"] = torch.tensor([item[key].shape[0] for item in items], dtype=torch.long)
        return uttids, output


def _kind_of(default: object) -> tuple[str, Callable[[object], bool]] | None:
    """What a value must be to replace ``default``: (name, test); None when any value goes."""
    if isinstance(default, bool):
        return "true or false", lambda v: isinstance(v, bool)
    if isinstance(default, int):
        return "a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)
    if isinstance(default, float):
        return "a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if isinstance(default, str):
        return "a string", lambda v: isinstance(v, str)
    if isinstance(default, (list, tuple)):
        return "a list", lambda v: isinstance(v, (list, tuple))
    return None


def check_model_conf(model_class: type, conf: dict[str, object]) -> None:
    """ConfigError naming the first ``model_conf`` key that the model does not take or whose value has
    another type than the key's default (a config typo would otherwise fail deep inside the model)."""
    parameters = inspect.signature(model_class.__init__).parameters
    known = [name for name, p in parameters.items() if name != "self" and p.kind is not p.VAR_KEYWORD]
    open_ended = len(known) < len(parameters) - 1
    for key, value in conf.items():
        if key not in known and not open_ended:
            raise ConfigError(f"model_conf: unknown key {key!r} for {model_class.__name__} (known: {', '.join(known)})")
        kind = _kind_of(parameters[key].default) if key in known else None
        if kind is not None and not kind[1](value):
            raise ConfigError(f"model_conf: {key} must be {kind[0]} (its default is "
                              f"{parameters[key].default!r}), not {value!r}")


class ModelConfTask(AbsTask):
    """A task whose model is one class configured by ``model_conf`` (no class choices).

    Subclasses set ``model_class`` and the data names; ESPnet's trainer does the rest.
    """

    num_optimizers: int = 1
    class_choices_list = []
    trainer = ResumableTrainer
    model_class: type[AbsESPnetModel]
    not_sequence: Tuple[str, ...] = ()

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="Task related")
        group.add_argument("--model_conf", action=NestedDictAction,
                           default=get_default_kwargs(cls.model_class),
                           help=f"Keyword arguments of {cls.model_class.__name__}")

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable[
        [Collection[Tuple[str, Dict[str, np.ndarray]]]], Tuple[List[str], Dict[str, torch.Tensor]]
    ]:
        return PadCollate(not_sequence=cls.not_sequence)

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Optional[Callable]:
        return None

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> AbsESPnetModel:
        """The model of ``--model_conf``; its trainable / frozen parameter table goes to the training log
        (built here, not in the model, so loading a model to translate keeps the console short)."""
        check_model_conf(cls.model_class, args.model_conf)
        model = cls.model_class(**args.model_conf)
        log_parameter_report(model)
        return model

    @classmethod
    def build_optimizers(cls, args: argparse.Namespace, model: torch.nn.Module) -> List[torch.optim.Optimizer]:
        """Like ESPnet's, but the optimizer only holds trainable parameters (frozen ones cost nothing)."""
        optim_class = optim_classes.get(args.optim)
        if optim_class is None:
            raise ConfigError(f"--optim must be one of {list(optim_classes)}, not {args.optim}")
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            raise ConfigError("the model has no trainable parameters: check freeze / adapter settings")
        return [optim_class(trainable, **args.optim_conf)]
