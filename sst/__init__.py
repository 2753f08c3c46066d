"""sst: self-supervised speech translation (SAMU-XLSR encoder + adapters + mBART-50 decoder).

``from sst import Translator`` (sst.inference.translator) is imported on first use, so ``import sst``
stays light (no torch).
"""
from __future__ import annotations

__all__ = ["Translator"]


def __getattr__(name: str) -> object:
    if name == "Translator":
        from sst.inference.translator import Translator

        return Translator
    raise AttributeError(f"module 'sst' has no attribute {name!r}")
