"""The sentence-embedding teacher of SAMU distillation (LaBSE): loading it and embedding texts."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def embed_texts(model: SentenceTransformer, texts: list[str], batch_size: int) -> np.ndarray:
    """Embed texts in batches; returns float32 (len(texts), dim)."""
    embeddings = model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                              show_progress_bar=len(texts) > batch_size)
    return embeddings.astype(np.float32)


def load_teacher(name_or_dir: str) -> SentenceTransformer:
    """The teacher from a hub id or a local directory, on GPU when one is available."""
    import torch  # imported here, with sentence-transformers, so that a run with nothing to do starts fast
    from sentence_transformers import SentenceTransformer

    from sst.models.hub import locate_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(locate_model(name_or_dir, "--teacher_model"), device=device)
