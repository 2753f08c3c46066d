"""IWSLT-style long-form scoring: the hypotheses of a whole recording re-cut to its reference segments.

A long-form system segments the audio itself (here: the VAD), so its segments do not match the
references'. As in the IWSLT evaluations, the concatenated hypotheses of a recording are re-segmented
by minimum-WER alignment with the reference segments (mwerSegmenter, the ``mweralign`` package), after
which BLEU, chrF++ and TER are computed per segment pair as for a gold segmentation.
"""
from __future__ import annotations

from collections.abc import Sequence


def resegment(hypotheses: Sequence[str], references: Sequence[str]) -> list[str]:
    """``hypotheses`` of one recording (in time order) re-cut into one segment per reference."""
    if not references:
        return []
    text = " ".join(" ".join(hypothesis.split()) for hypothesis in hypotheses).strip()
    if not text:
        return [""] * len(references)
    from mweralign import align_texts  # imported late: on import it configures the root logger (basicConfig)

    aligned = align_texts("\n".join(" ".join(reference.split()) for reference in references), text)
    segments = [segment.strip() for segment in aligned.split("\n")][: len(references)]
    return segments + [""] * (len(references) - len(segments))
