"""Stage 2: embed every transcript of a dump dir with the sentence-embedding teacher (LaBSE), once.

Writes ``teacher_embed.ark``/``.scp`` (one float32 vector per utterance) in each dump dir for the SAMU
task to read. Several dump dirs share one teacher load; dirs already complete are skipped.

    python -m sst.bin.embed_teacher --dump_dirs dump/train_fr_en dump/dev_fr_en --teacher_model sentence-transformers/LaBSE
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from typing import TYPE_CHECKING

import kaldiio
import numpy as np
from espnet2.fileio.read_text import read_2columns_text

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


def texts_to_embed(dump_dir: Path, field: str) -> dict[str, str] | None:
    """The texts of ``dump_dir/field`` still to embed, or None when its scp is already complete."""
    texts = read_2columns_text(dump_dir / field)
    if not texts:
        raise ValueError(f"{dump_dir / field}: no utterances to embed (see {dump_dir / 'dump_report.txt'})")
    scp = dump_dir / "teacher_embed.scp"
    if scp.exists() and set(read_2columns_text(scp)) == set(texts):
        logging.info("%s: teacher embeddings already complete, nothing to do", scp)
        return None
    empty = [utt for utt, text in texts.items() if not text.strip()]
    if empty:
        raise ValueError(f"{dump_dir / field}: empty text for utterance {empty[0]} "
                         f"({len(empty)} in all); stage 1 should have skipped it")
    return texts


def write_embeddings(dump_dir: Path, texts: dict[str, str], teacher: SentenceTransformer, batch_size: int) -> None:
    """Embed ``texts`` and write ``teacher_embed.ark``/``.scp`` into ``dump_dir``."""
    utts = sorted(texts)
    logging.info("embedding %d texts of %s", len(utts), dump_dir)
    embeddings = embed_texts(teacher, [texts[u] for u in utts], batch_size)
    # Absolute ark paths in the scp, so it reads the same from any working directory.
    ark, scp = dump_dir.resolve() / "teacher_embed.ark", dump_dir / "teacher_embed.scp"
    with kaldiio.WriteHelper(f"ark,scp:{ark},{scp}") as writer:
        for utt, vector in zip(utts, embeddings):
            writer(utt, vector)
    logging.info("wrote %s (%d x %d)", scp, *embeddings.shape)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump_dirs", "--dump_dir", type=Path, nargs="+", required=True)
    parser.add_argument("--teacher_model", default="sentence-transformers/LaBSE",
                        help="sentence-transformers hub id or local directory")
    parser.add_argument("--field", default="transcript", help="which text file of the dump dir to embed")
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    todo = {dump_dir: texts_to_embed(dump_dir, args.field) for dump_dir in args.dump_dirs}
    todo = {dump_dir: texts for dump_dir, texts in todo.items() if texts is not None}
    if not todo:
        return
    logging.info("loading teacher %s", args.teacher_model)
    teacher = load_teacher(args.teacher_model)
    for dump_dir, texts in todo.items():
        write_embeddings(dump_dir, texts, teacher, args.batch_size)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
