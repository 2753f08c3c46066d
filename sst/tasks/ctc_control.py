"""The control without semantics: speech + transcript character ids -> CtcControlModel (stage 3, CTC)."""
from __future__ import annotations

from typing import Tuple

from sst.models.ctc_control import CtcControlModel
from sst.tasks.base import ModelConfTask


class CtcControlTask(ModelConfTask):
    """Data: ``speech`` (sound) and ``text`` (text_int character ids, sst.models.ctc_control.write_targets)."""

    model_class = CtcControlModel

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("speech",) if inference else ("speech", "text")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ()
