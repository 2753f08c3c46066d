"""Stage 2: embed every transcript of a dump dir with the sentence-embedding teacher (LaBSE), once.

Writes ``teacher_embed.ark``/``.scp`` (one float32 vector per utterance) in each dump dir for the SAMU
task to read, and ``teacher_embed.json``: the teacher's id, output size, pooling, normalisation and text
prefix, which stage 3 records in its export. ``--teacher_prefix`` precedes every text (e5's ``"query: "``).
Several dump dirs share one teacher load. A rerun embeds only the texts that are new or changed since the
embeddings were made (all of them with another teacher or prefix), see sst.data.provenance.

    python -m sst.bin.embed_teacher --dump_dirs dump/train_fr_en dump/dev_fr_en --teacher_model sentence-transformers/LaBSE
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import kaldiio

from sst.data.provenance import Provenance, file_digest, model_fingerprint, text_digest
from sst.io import DataDirError, atomic_path, read_kv, write_kv, write_text
from sst.models.architectures import LABSE
from sst.models.teacher import describe_teacher, embed_texts, load_teacher

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def texts_to_embed(dump_dir: Path, field: str, teacher_id: dict) -> tuple[dict[str, str], set[str]] | None:
    """The texts of ``dump_dir/field`` and those still to embed (new or changed since the recorded run,
    all of them with another teacher), or None when the embeddings are up to date."""
    texts = read_kv(dump_dir / field)
    record = Provenance(dump_dir, "embed_teacher")
    if not texts:
        raise DataDirError(f"{dump_dir / field}: no utterances to embed (see {dump_dir / 'dump_report.txt'})")
    scp = dump_dir / "teacher_embed.scp"
    if record.is_current(made_from(dump_dir, field, teacher_id), scp) and scp.is_file():
        return None
    empty = [utt for utt, text in texts.items() if not text.strip()]
    if empty:
        raise DataDirError(f"{dump_dir / field}: empty text for utterance {empty[0]} "
                           f"({len(empty)} in all); stage 1 should have skipped it")
    recorded = record.recorded() or {}
    if recorded.get("teacher") != teacher_id or not scp.is_file():
        record.utts_file.unlink(missing_ok=True)
    return texts, record.changed_utterances({utt: text_digest(text) for utt, text in texts.items()}, scp)


def made_from(dump_dir: Path, field: str, teacher_id: dict) -> dict:
    """The fingerprint of a dump dir's teacher embeddings."""
    return {"texts": file_digest(dump_dir / field), "field": field, "teacher": teacher_id}


def write_embeddings(dump_dir: Path, field: str, texts: dict[str, str], redo: set[str], teacher_id: dict,
                     teacher: SentenceTransformer, description: dict, batch_size: int) -> None:
    """Embed the ``redo`` texts (after ``description["prefix"]``) and write ``teacher_embed.ark``/``.scp``
    and ``teacher_embed.json`` (``description``) into ``dump_dir``, the vectors of the other utterances
    copied from the previous ark; then record what they were made from."""
    record = Provenance(dump_dir, "embed_teacher")
    record.clear()
    changed = sorted(redo)
    logging.info("embedding %d texts of %s", len(changed), dump_dir)
    new = dict(zip(changed, embed_texts(teacher, [texts[u] for u in changed], batch_size,
                                                 description["prefix"]))) if changed else {}
    # Absolute ark paths in the scp, so it reads the same from any working directory.
    ark, scp = dump_dir.resolve() / "teacher_embed.ark", dump_dir / "teacher_embed.scp"
    old = kaldiio.load_scp(str(scp)) if len(new) < len(texts) else {}
    with atomic_path(scp) as tmp_scp, atomic_path(ark) as tmp_ark:  # the ark is renamed in first
        with kaldiio.WriteHelper(f"ark,scp:{tmp_ark},{tmp_scp}") as writer:
            for utt in sorted(texts):
                writer(utt, new[utt] if utt in new else old[utt])
        record.utts_file.unlink(missing_ok=True)  # the old scp no longer matches the ark
        write_kv(tmp_scp, {utt: value.replace(str(tmp_ark), str(ark)) for utt, value in read_kv(tmp_scp).items()})
    write_text(dump_dir / "teacher_embed.json", json.dumps(description, indent=1) + "\n")
    record.save_utterances({utt: text_digest(text) for utt, text in texts.items()})
    record.save(made_from(dump_dir, field, teacher_id))
    logging.info("wrote %s (%d utterances, %d embedded now)", scp, len(texts), len(new))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump_dirs", "--dump_dir", type=Path, nargs="+", required=True)
    parser.add_argument("--teacher_model", default=LABSE,
                        help="sentence-transformers hub id or local directory")
    parser.add_argument("--teacher_prefix", default="",
                        help='text put before every transcript, e.g. "query: " for multilingual-e5 [none]')
    parser.add_argument("--field", default="transcript", help="which text file of the dump dir to embed")
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    teacher_id = model_fingerprint(args.teacher_model)
    if args.teacher_prefix:  # recorded only when set, so that embeddings made before the option stay valid
        teacher_id["prefix"] = args.teacher_prefix
    todo = {dump_dir: texts_to_embed(dump_dir, args.field, teacher_id) for dump_dir in args.dump_dirs}
    todo = {dump_dir: work for dump_dir, work in todo.items() if work is not None}
    if not todo:
        return
    logging.info("loading teacher %s", args.teacher_model)
    teacher = load_teacher(args.teacher_model)
    description = describe_teacher(teacher, args.teacher_model, args.teacher_prefix)
    for dump_dir, (texts, redo) in todo.items():
        write_embeddings(dump_dir, args.field, texts, redo, teacher_id, teacher, description, args.batch_size)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
