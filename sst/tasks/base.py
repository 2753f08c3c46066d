"""What the SAMU and speech-translation tasks share on top of ESPnet's ``AbsTask``."""
from __future__ import annotations

import argparse
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch
from espnet2.tasks.abs_task import AbsTask, optim_classes
from espnet2.train.abs_espnet_model import AbsESPnetModel
from espnet2.train.trainer import Trainer
from espnet2.utils.get_default_kwargs import get_default_kwargs
from espnet2.utils.nested_dict_action import NestedDictAction


class ModelConfTask(AbsTask):
    """A task whose model is one class configured by ``model_conf`` (no class choices).

    Subclasses set ``model_class`` and the data names; ESPnet's trainer does the rest.
    """

    num_optimizers: int = 1
    class_choices_list = []
    trainer = Trainer
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
        # Imported here: espnet2.train.collate_fn pulls in g2p_en, which tries to download NLTK data.
        from espnet2.train.collate_fn import CommonCollateFn

        return CommonCollateFn(float_pad_value=0.0, int_pad_value=-1, not_sequence=list(cls.not_sequence))

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Optional[Callable]:
        return None

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> AbsESPnetModel:
        return cls.model_class(**args.model_conf)

    @classmethod
    def build_optimizers(cls, args: argparse.Namespace, model: torch.nn.Module) -> List[torch.optim.Optimizer]:
        """Like ESPnet's, but the optimizer only holds trainable parameters (frozen ones cost nothing)."""
        optim_class = optim_classes.get(args.optim)
        if optim_class is None:
            raise ValueError(f"--optim must be one of {list(optim_classes)}, not {args.optim}")
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError("the model has no trainable parameters: check freeze / adapter settings")
        return [optim_class(trainable, **args.optim_conf)]
