"""Translate audio files with a trained (packed) speech-translation model.

    python -m sst.bin.translate --model_dir exp/st_train_st_samu_adapter --tgt_lang en a.wav b.mp3 c.m4a

Any format stage 2 reads (wav, flac, mp3, m4a, anything ffmpeg decodes) at any sample rate; one
``file<TAB>translation`` line per input on stdout (or ``--output``). Decoding options default to the
stage 5 ones and can be read from a decoding config (``--config conf/decode_st.yaml``).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from sst.bin.st_inference import add_decode_options, decode_options, decode_utterances
from sst.data.audio import AudioDecodeError, load_resampled
from sst.data.langs import normalize
from sst.models.packing import load_packed

SAMPLE_RATE = 16000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", type=Path, nargs="+", help="audio files to translate")
    parser.add_argument("--model_dir", type=Path, required=True, help="experiment dir holding packed/, or packed/")
    parser.add_argument("--tgt_lang", default="en", help="target language (two-letter or mBART code)")
    parser.add_argument("--output", type=Path, default=None, help="write the translations here (default stdout)")
    add_decode_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    options = decode_options(args)
    audio = {}
    for path in args.audio:
        try:
            audio[str(path)] = load_resampled(path, SAMPLE_RATE)
        except AudioDecodeError as error:
            parser.error(str(error))
        if audio[str(path)].size == 0:
            parser.error(f"{path}: no audio samples")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tokenizer = load_packed(args.model_dir, device)
    tgt_lang = normalize(args.tgt_lang.split("_")[0])
    hypotheses = decode_utterances(model, tokenizer, audio, {key: tgt_lang for key in audio}, options,
                                   device, progress=len(audio) > int(options["batch_size"]))
    lines = "".join(f"{path}\t{hypotheses[str(path)]}\n" for path in args.audio)
    if args.output:
        args.output.write_text(lines, encoding="utf-8")
        logging.info("wrote %d translations to %s", len(audio), args.output)
    else:
        sys.stdout.write(lines)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
