"""The sentence-embedding teacher of SAMU distillation: loading it, embedding texts and describing it.

Any sentence-transformers model serves (LaBSE, BGE-M3, multilingual-e5, paraphrase-multilingual-mpnet ...):
its own modules pool (CLS, mean ...) and normalise (or not), and its output size is the SAMU projection's.
Normalisation does not matter to SAMU, whose loss is the cosine.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# The key of a SAMU export's config.json (sst.bin.samu_train) that records its teacher (describe_teacher).
EXPORT_KEY = "sst_teacher"


def embed_texts(model: SentenceTransformer, texts: list[str], batch_size: int, prefix: str = "") -> np.ndarray:
    """Embed texts in batches, each preceded by ``prefix`` (e5's ``"query: "``; sentence-transformers'
    own prompt); returns float32 (len(texts), dim)."""
    embeddings = model.encode(texts, prompt=prefix or None, batch_size=batch_size, convert_to_numpy=True,
                              show_progress_bar=len(texts) > batch_size)
    return embeddings.astype(np.float32)


def load_teacher(name_or_dir: str) -> SentenceTransformer:
    """The teacher from a hub id or a local directory, on GPU when one is available."""
    import torch  # imported here, with sentence-transformers, so that a run with nothing to do starts fast
    from sentence_transformers import SentenceTransformer

    from sst.models.hub import locate_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(locate_model(name_or_dir, "--teacher_model"), device=device)


def describe_teacher(model: SentenceTransformer, name_or_dir: str, prefix: str = "") -> dict[str, object]:
    """What the teacher's embeddings are: its id (as given), output size, pooling, whether they are
    normalised and the text prefix, as recorded beside the embeddings and in the SAMU export."""
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    poolings = [module.pooling_mode for module in model if isinstance(module, Pooling)]
    pooling = poolings[-1] if poolings else None
    return {"model": str(name_or_dir), "dim": model.get_embedding_dimension(),
            "pooling": "+".join(pooling) if isinstance(pooling, tuple) else pooling,
            "normalized": any(isinstance(module, Normalize) for module in model), "prefix": prefix}


def exported_teacher(encoder_dir: Path) -> dict[str, object]:
    """The teacher a SAMU export (``encoder_hf``) was distilled toward, as its config records it
    (``{}`` for an export without that record: a CTC control, or one made before it existed)."""
    config = json.loads((Path(encoder_dir) / "config.json").read_text(encoding="utf-8"))
    return config.get(EXPORT_KEY, {})
