"""SAMU distillation task: speech + cached teacher embedding -> SamuModel."""
from __future__ import annotations

from typing import Tuple

from sst.models.samu import SamuModel
from sst.tasks.base import ModelConfTask


class SamuTask(ModelConfTask):
    """Data: ``speech`` (sound) and ``teacher`` (one kaldi_ark vector per utterance)."""

    model_class = SamuModel
    not_sequence = ("teacher",)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("speech",) if inference else ("speech", "teacher")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ()
