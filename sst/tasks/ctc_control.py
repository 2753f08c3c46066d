"""The control without semantics: speech + transcript character ids -> CtcControlModel (stage 3, CTC)."""
from __future__ import annotations

from sst.models.ctc_control import CtcControlModel
from sst.tasks.st import STTask


class CtcControlTask(STTask):
    """The ST task's data, ``speech`` and ``text`` (text_int), where the ids are the transcript's characters
    (sst.models.ctc_control.write_targets), not the translation's pieces."""

    model_class = CtcControlModel
