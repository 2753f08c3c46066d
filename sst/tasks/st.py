"""Speech-translation task: speech + target ids (``<lang> tokens </s>``) -> SpeechTranslationModel."""
from __future__ import annotations

from typing import Tuple

from sst.models.speech_translation import SpeechTranslationModel
from sst.tasks.base import ModelConfTask


class STTask(ModelConfTask):
    """Data: ``speech`` (sound) and ``text`` (text_int ids written by stage 2's tokenize_targets)."""

    model_class = SpeechTranslationModel

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("speech",) if inference else ("speech", "text")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ()
