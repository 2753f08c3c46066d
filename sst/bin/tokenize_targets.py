"""Stage 2: turn each translation into decoder target ids ``<lang_code> tokens </s>``.

The target language of every utterance comes from ``utt2tgt_lang``, so one training set can mix
directions. Writes ``text_int`` and ``text_shape`` into each dump dir for ESPnet's iterators; several
dump dirs share one tokenizer load. A dir is tokenised again when its translations, target languages or
the tokenizer changed since (sst.data.provenance); otherwise it is skipped.

    python -m sst.bin.tokenize_targets --dump_dirs dump/train_fr_en dump/dev_fr_en \
        --decoder_model facebook/mbart-large-50-many-to-many-mmt
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from sst.data.langs import mbart_code
from sst.data.provenance import Provenance, file_digest, model_fingerprint
from sst.errors import ConfigError
from sst.io import DataDirError, read_kv, write_kv
from sst.models.architectures import MBART50_MMT
from sst.models.pretrained import language_token_id, load_tokenizer


def target_ids(tokenizer: PreTrainedTokenizerBase, text: str, lang: str) -> list[int]:
    """``[lang token] + sentencepiece ids + [</s>]`` for one translation."""
    pieces = tokenizer(text, add_special_tokens=False).input_ids
    return [language_token_id(tokenizer, mbart_code(lang)), *pieces, tokenizer.eos_token_id]


def made_from(dump_dir: Path, tokenizer: dict) -> dict:
    """The fingerprint of a dump dir's targets: its translations, their target languages, the tokenizer."""
    return {name: file_digest(dump_dir / name) for name in ("translation", "utt2tgt_lang")} | {"tokenizer": tokenizer}


def tokenize_dump_dir(dump_dir: Path, tokenizer: PreTrainedTokenizerBase) -> None:
    """Write ``text_int``/``text_shape`` of one dump dir."""
    translations = read_kv(dump_dir / "translation")
    tgt_langs = read_kv(dump_dir / "utt2tgt_lang")
    text_int, shape = dump_dir / "text_int", dump_dir / "text_shape"
    missing = sorted(set(translations) - set(tgt_langs))
    if missing:
        raise DataDirError(f"{dump_dir / 'utt2tgt_lang'}: no target language for utterance {missing[0]} "
                           f"({len(missing)} in all)")
    lines, shapes = {}, {}
    for utt in sorted(translations):
        try:
            ids = target_ids(tokenizer, translations[utt], tgt_langs[utt])
        except ConfigError as error:
            raise DataDirError(f"{dump_dir}: utterance {utt}: {error}") from error
        lines[utt], shapes[utt] = " ".join(map(str, ids)), str(len(ids))
    write_kv(text_int, lines)
    write_kv(shape, shapes)
    logging.info("wrote %s: %d utterances, %d target tokens", text_int, len(lines), sum(map(int, shapes.values())))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump_dirs", "--dump_dir", type=Path, nargs="+", required=True)
    parser.add_argument("--decoder_model", default=MBART50_MMT,
                        help="hub id or local directory holding the mBART-50 tokenizer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    tokenizer_id = model_fingerprint(args.decoder_model)
    pending = [dump_dir for dump_dir in args.dump_dirs
               if not Provenance(dump_dir, "tokenize_targets").is_current(made_from(dump_dir, tokenizer_id),
                                                                          dump_dir / "text_int")]
    if not pending:
        return
    tokenizer = load_tokenizer(args.decoder_model)
    for dump_dir in pending:
        record = Provenance(dump_dir, "tokenize_targets")
        record.clear()
        tokenize_dump_dir(dump_dir, tokenizer)
        record.save(made_from(dump_dir, tokenizer_id))


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
