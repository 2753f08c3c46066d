"""Stage 2: embed every transcript of a dump dir with the sentence-embedding teacher (LaBSE), once.

Writes ``teacher_embed.ark``/``.scp`` (one float32 vector per utterance) in each dump dir for the SAMU
task to read. Several dump dirs share one teacher load. A rerun embeds only the texts that are new or
changed since the embeddings were made (all of them with another teacher), see sst.data.provenance.

    python -m sst.bin.embed_teacher --dump_dirs dump/train_fr_en dump/dev_fr_en --teacher_model sentence-transformers/LaBSE
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import kaldiio
import numpy as np
from espnet2.fileio.read_text import read_2columns_text

from sst.io import read_kv, write_kv
from sst.data.provenance import Provenance, file_digest, model_fingerprint, text_digest

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


def texts_to_embed(dump_dir: Path, field: str, teacher_id: dict) -> tuple[dict[str, str], set[str]] | None:
    """The texts of ``dump_dir/field`` and those still to embed (new or changed since the recorded run,
    all of them with another teacher), or None when the embeddings are up to date."""
    texts = read_2columns_text(dump_dir / field)
    record = Provenance(dump_dir, "embed_teacher")
    if not texts:
        raise ValueError(f"{dump_dir / field}: no utterances to embed (see {dump_dir / 'dump_report.txt'})")
    scp = dump_dir / "teacher_embed.scp"
    if record.is_current(made_from(dump_dir, field, teacher_id), scp) and scp.is_file():
        return None
    empty = [utt for utt, text in texts.items() if not text.strip()]
    if empty:
        raise ValueError(f"{dump_dir / field}: empty text for utterance {empty[0]} "
                         f"({len(empty)} in all); stage 1 should have skipped it")
    recorded = record.recorded() or {}
    if recorded.get("teacher") != teacher_id or not scp.is_file():
        record.utts_file.unlink(missing_ok=True)
    return texts, record.changed_utterances({utt: text_digest(text) for utt, text in texts.items()}, scp)


def made_from(dump_dir: Path, field: str, teacher_id: dict) -> dict:
    """The fingerprint of a dump dir's teacher embeddings."""
    return {"texts": file_digest(dump_dir / field), "field": field, "teacher": teacher_id}


def write_embeddings(dump_dir: Path, field: str, texts: dict[str, str], redo: set[str], teacher_id: dict,
                     teacher: SentenceTransformer, batch_size: int) -> None:
    """Embed the ``redo`` texts and write ``teacher_embed.ark``/``.scp`` into ``dump_dir``, the vectors of
    the other utterances copied from the previous ark; then record what they were made from."""
    record = Provenance(dump_dir, "embed_teacher")
    record.clear()
    changed = sorted(redo)
    logging.info("embedding %d texts of %s", len(changed), dump_dir)
    new = dict(zip(changed, embed_texts(teacher, [texts[u] for u in changed], batch_size))) if changed else {}
    # Absolute ark paths in the scp, so it reads the same from any working directory.
    ark, scp = dump_dir.resolve() / "teacher_embed.ark", dump_dir / "teacher_embed.scp"
    tmp_ark = ark.with_name(f"teacher_embed.{os.getpid()}.tmp.ark")
    tmp_scp = scp.with_name(f"teacher_embed.new_scp.{os.getpid()}.tmp")
    old = kaldiio.load_scp(str(scp)) if len(new) < len(texts) else {}
    with kaldiio.WriteHelper(f"ark,scp:{tmp_ark},{tmp_scp}") as writer:
        for utt in sorted(texts):
            writer(utt, new[utt] if utt in new else old[utt])
    record.utts_file.unlink(missing_ok=True)  # the old scp no longer matches the ark
    os.replace(tmp_ark, ark)
    write_kv(scp, {utt: value.replace(str(tmp_ark), str(ark)) for utt, value in read_kv(tmp_scp).items()})
    tmp_scp.unlink()
    record.save_utterances({utt: text_digest(text) for utt, text in texts.items()})
    record.save(made_from(dump_dir, field, teacher_id))
    logging.info("wrote %s (%d utterances, %d embedded now)", scp, len(texts), len(new))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump_dirs", "--dump_dir", type=Path, nargs="+", required=True)
    parser.add_argument("--teacher_model", default="sentence-transformers/LaBSE",
                        help="sentence-transformers hub id or local directory")
    parser.add_argument("--field", default="transcript", help="which text file of the dump dir to embed")
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    teacher_id = model_fingerprint(args.teacher_model)
    todo = {dump_dir: texts_to_embed(dump_dir, args.field, teacher_id) for dump_dir in args.dump_dirs}
    todo = {dump_dir: work for dump_dir, work in todo.items() if work is not None}
    if not todo:
        return
    logging.info("loading teacher %s", args.teacher_model)
    teacher = load_teacher(args.teacher_model)
    for dump_dir, (texts, redo) in todo.items():
        write_embeddings(dump_dir, args.field, texts, redo, teacher_id, teacher, args.batch_size)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
