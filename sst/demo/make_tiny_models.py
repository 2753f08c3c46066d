"""Demo: write tiny stand-ins for XLS-R, LaBSE and mBART-50 so every stage runs the real loading code.

    python -m sst.demo.make_tiny_models --corpus_dir egs/mini_st/corpus --output_dir models [--seed 0]

writes ``models/wav2vec2`` (Wav2Vec2Model + feature extractor; its CNN fitted to log-mel filterbanks
of the corpus's train audio, the rest random), ``models/teacher`` (tiny
sentence-transformers model trained so that a transcript and its translation embed close together)
and ``models/mbart`` (tiny MBartForConditionalGeneration + MBart50Tokenizer trained as an X->En text
translator on the ``--mt_langs`` train splits). A model whose directory already holds
``sst_tiny.json`` is kept if it was built with the same ``--seed`` and refused otherwise; delete the
directory to rebuild it.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

from sst.data.audio import load_resampled
from sst.testing.corpora import read_covost_clips, read_covost_pairs
from sst.testing.tiny_models import (NOTE_NAME, build_tiny_mbart, build_tiny_teacher, build_tiny_wav2vec2, is_built,
                                     mbart_accuracy, teacher_cosines, teacher_retrieval_recall, update_note)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    """Values rounded to 4 decimals for the notes."""
    return {key: round(value, 4) for key, value in values.items()}


def _show(values: dict[str, float]) -> str:
    """``lang=value`` pairs for a log line."""
    return " ".join(f"{key}={value:.3f}" for key, value in values.items())


def kept(out_dir: Path, seed: int) -> bool:
    """True when ``out_dir`` holds a finished tiny model built with ``seed`` (it is kept); False when it
    holds none; SystemExit naming the directory when it was built with another seed."""
    if not is_built(out_dir):
        return False
    built_with = json.loads((out_dir / NOTE_NAME).read_text(encoding="utf-8")).get("seed")
    if built_with != seed:
        raise SystemExit(f"ERROR: {out_dir} was built with --seed {built_with}, not {seed}: delete it to rebuild")
    logging.info("%s exists, kept", out_dir)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus_dir", type=Path, required=True,
                        help="CoVoST-2 style corpus holding covost/covost_v2.<src>_en.tsv")
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mt_langs", nargs="+", default=["fr", "de", "es", "it"],
                        help="source languages whose train split teaches the tiny mBART to translate")
    parser.add_argument("--fbank_steps", type=int, default=600,
                        help="steps fitting the wav2vec2 CNN to log-mel filterbanks of the train audio")
    parser.add_argument("--teacher_steps", type=int, default=300)
    parser.add_argument("--mbart_steps", type=int, default=1000)
    parser.add_argument("--num_threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(args.num_threads)

    start = time.time()
    command = " ".join(["python -m sst.demo.make_tiny_models", *(argv if argv is not None else sys.argv[1:])])
    train = read_covost_pairs(args.corpus_dir, ("train",))
    dev = read_covost_pairs(args.corpus_dir, ("dev",))
    logging.info("%s: %d train and %d dev pairs in %s", args.corpus_dir, len(train), len(dev),
                 " ".join(sorted({p.lang for p in train})))

    wav2vec2_dir = args.output_dir / "wav2vec2"
    if not kept(wav2vec2_dir, args.seed):
        clips = read_covost_clips(args.corpus_dir, ("train",))
        logging.info("decoding %d train clips for the wav2vec2 filterbank fit", len(clips))
        waveforms = [load_resampled(clip, 16000) for clip in clips]
        build_tiny_wav2vec2(wav2vec2_dir, seed=args.seed, waveforms=waveforms, fbank_steps=args.fbank_steps)
        update_note(wav2vec2_dir, "built_by", command)
        logging.info("wrote %s", wav2vec2_dir)

    teacher_dir = args.output_dir / "teacher"
    if not kept(teacher_dir, args.seed):
        teacher = build_tiny_teacher(teacher_dir, train, seed=args.seed, train_steps=args.teacher_steps)
        recall = teacher_retrieval_recall(teacher, dev)
        cosines = teacher_cosines(teacher, dev)
        update_note(teacher_dir, "built_by", command)
        update_note(teacher_dir, "dev_retrieval_recall_at_1", _rounded(recall))
        update_note(teacher_dir, "dev_mean_cosine", _rounded(cosines))
        logging.info("wrote %s; dev transcript->translation R@1: %s; mean cosine: %s", teacher_dir,
                     _show(recall), _show(cosines))

    mbart_dir = args.output_dir / "mbart"
    if not kept(mbart_dir, args.seed):
        vocab_texts = [text for pair in train for text in (pair.source, pair.target)]
        mt_train = [pair for pair in train if pair.lang in args.mt_langs]
        if not mt_train:
            raise SystemExit(f"{args.corpus_dir}: no train pairs for --mt_langs {' '.join(args.mt_langs)}")
        model, tokenizer = build_tiny_mbart(mbart_dir, mt_train, vocab_texts, seed=args.seed,
                                            train_steps=args.mbart_steps)
        accuracy = mbart_accuracy(model, tokenizer, dev)
        update_note(mbart_dir, "built_by", command)
        update_note(mbart_dir, "dev_greedy_exact_match", _rounded(accuracy))
        logging.info("wrote %s; dev greedy exact match (trained on %s): %s", mbart_dir, " ".join(args.mt_langs),
                     _show(accuracy))
    logging.info("done in %.1f s", time.time() - start)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
