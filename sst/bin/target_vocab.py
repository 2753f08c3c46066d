"""Stage 2: the trimmed target vocabulary of a training run, and the targets in its ids.

    python -m sst.bin.target_vocab --train_dump_dirs dump/train_fr_en dump/train_de_en \
        --dump_dirs dump/train_fr_en dump/train_de_en dump/dev_fr_en --output dump/target_vocab_fr.de.txt \
        --decoder_model facebook/mbart-large-50-many-to-many-mmt [--extra_text more_english.txt]

Collects, per target language, the ids of the training translations (their ``text_int``, written by
sst.bin.tokenize_targets) and writes their union, plus the special tokens, all mBART-50 language codes and
the pieces of the ``--extra_text`` files, to ``--output`` (one id per line; see sst.models.vocabulary).
Then writes ``text_int_trimmed`` (the same targets in trimmed ids, out-of-subset ids as ``<unk>``) beside
``text_int`` in each ``--dump_dirs`` dir, so trimmed and untrimmed experiments share one dump. Each output
is redone only when what it was made from changed (sst.data.provenance).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from sst.data.provenance import Provenance, file_digest, model_fingerprint
from sst.io import DataDirError, atomic_open, read_kv
from sst.models.architectures import MBART50_MMT
from sst.models.pretrained import load_tokenizer
from sst.models.vocabulary import TRIMMED, ids_of_texts, read_vocabulary, required_ids, trim_line, write_vocabulary


def collect(train_dump_dirs: list[Path]) -> dict[str, set[int]]:
    """Target language -> ids of its training translations, from the dump dirs' text_int (streamed)."""
    per_lang: dict[str, set[int]] = {}
    for dump_dir in train_dump_dirs:
        langs = read_kv(dump_dir / "utt2tgt_lang")
        with open(dump_dir / "text_int", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                utt, *ids = line.split()
                if utt not in langs:
                    raise DataDirError(f"{dump_dir / 'text_int'}:{number}: utterance {utt} has no target language "
                                       f"in {dump_dir / 'utt2tgt_lang'}")
                per_lang.setdefault(langs[utt], set()).update(map(int, ids))
    return per_lang


def vocabulary_inputs(args: argparse.Namespace) -> dict:
    """What the vocabulary is made from: the training targets, the extra texts, the tokenizer."""
    return {"train": {str(d.resolve()): {name: file_digest(d / name) for name in ("text_int", "utt2tgt_lang")}
                      for d in args.train_dump_dirs},
            "extra_text": {str(p.resolve()): file_digest(p) for p in args.extra_text},
            "tokenizer": model_fingerprint(args.decoder_model)}


def build_vocabulary(args: argparse.Namespace) -> None:
    """Write ``args.output`` from the training targets (and the extra texts)."""
    tokenizer = load_tokenizer(args.decoder_model)
    per_lang = collect(args.train_dump_dirs)
    for lang, ids in sorted(per_lang.items()):
        logging.info("target language %s: %d distinct ids in the training translations", lang, len(ids))
    ids = required_ids(tokenizer).union(*per_lang.values())
    if args.extra_text:
        extra = ids_of_texts(tokenizer, args.extra_text)
        logging.info("extra texts: %d distinct ids, %d of them new", len(extra), len(extra - ids))
        ids |= extra
    write_vocabulary(args.output, ids)
    logging.info("wrote %s: %d of %d mBART ids kept", args.output, len(ids), len(tokenizer))


def trim_dump_dir(dump_dir: Path, vocabulary: torch.Tensor) -> None:
    """Write ``text_int_trimmed`` of one dump dir (streamed, atomically)."""
    out = dump_dir / TRIMMED
    with open(dump_dir / "text_int", encoding="utf-8") as f, atomic_open(out) as g:
        for line in f:
            g.write(trim_line(line, vocabulary) + "\n")
    logging.info("wrote %s", out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train_dump_dirs", type=Path, nargs="+", required=True,
                        help="dump dirs whose translations the vocabulary covers")
    parser.add_argument("--dump_dirs", type=Path, nargs="*", default=[],
                        help="dump dirs to write text_int_trimmed into (train and valid sets)")
    parser.add_argument("--output", type=Path, required=True, help="vocabulary file, e.g. dump/target_vocab_<tag>.txt")
    parser.add_argument("--extra_text", type=Path, nargs="*", default=[],
                        help="plain-text files (one sentence a line) whose pieces are kept too")
    parser.add_argument("--decoder_model", default=MBART50_MMT,
                        help="hub id or local directory holding the mBART-50 tokenizer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for path in [d / name for d in args.train_dump_dirs for name in ("text_int", "utt2tgt_lang")] + args.extra_text:
        if not path.is_file():
            raise DataDirError(f"{path} is missing (text_int: run sst.bin.tokenize_targets first)")

    record = Provenance(args.output.parent, args.output.name)
    made_from = vocabulary_inputs(args)
    if not (record.is_current(made_from, args.output) and args.output.is_file()):
        record.clear()
        build_vocabulary(args)
        record.save(made_from)
    vocabulary = torch.tensor(read_vocabulary(args.output), dtype=torch.long)
    for dump_dir in args.dump_dirs:
        trimmed = {"text_int": file_digest(dump_dir / "text_int"), "vocabulary": file_digest(args.output)}
        record = Provenance(dump_dir, "target_vocab")
        if record.is_current(trimmed, dump_dir / TRIMMED) and (dump_dir / TRIMMED).is_file():
            continue
        record.clear()
        trim_dump_dir(dump_dir, vocabulary)
        record.save(trimmed)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
