"""Translate audio files of any length with a trained (packed) speech-translation model.

    python -m sst.bin.translate --model_dir exp/st_train_st_samu_adapter --tgt_lang en a.wav b.mp3 c.m4a
    python -m sst.bin.translate --model_dir exp/st_x --tgt_lang en --format srt --output_dir subs/ talk.mp4

Any format PyAV reads (wav, flac, mp3, m4a, the audio track of a video) at any sample rate. Short files
(up to --vad_max_segment seconds) are translated whole, as stage 5 does; longer ones are decoded and
resampled as a stream, cut into speech segments by silero-vad (two passes over the file, so memory does
not grow with its length) and the segments translated in length-sorted batches, written as they come.

Output (--format): ``text``, one ``file<TAB>translation`` line per input on stdout (or --output);
``srt`` / ``vtt`` subtitles and ``json`` (JSON Lines: audio, start, end, text per segment), one file per
input in --output_dir (``<name>.srt``...), or on stdout / --output for a single input. Decoding options
default to the stage 5 ones and can be read from a decoding config (``--config conf/decode_st.yaml``).
An unreadable or silent input gets one line on stderr and is skipped (exit status 1). The translating
is ``sst.Translator``'s (sst.inference.translator); this command reads the inputs and writes the outputs.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from sst.data.audio import AudioDecodeError, audio_duration
from sst.inference.longform import NoSpeech, load_whole
from sst.inference.options import add_decode_options, decode_options
from sst.inference.quantize import add_quantize_option, decoding_device
from sst.inference.translator import Translator, package_path
from sst.inference.vad import SAMPLE_RATE, VadConfig, add_vad_options, vad_config
from sst.inference.writers import FORMATS, SUFFIXES, TranscriptWriter


def _output_path(args: argparse.Namespace, path: Path) -> Path | None:
    """Where one input's output goes: its own file in --output_dir, or None for the shared stream."""
    if args.output_dir is None:
        return None
    args.output_dir.mkdir(parents=True, exist_ok=True)
    return args.output_dir / (path.stem + SUFFIXES[args.format])


def _translate_into(args: argparse.Namespace, path: Path, shared: TextIO, hypotheses: dict[str, str],
                    whole: dict[str, np.ndarray], translator: Translator, config: VadConfig) -> str | None:
    """Write one input's translation (its own file in --output_dir, else ``shared``); the error, if any."""
    own_path = _output_path(args, path)
    with open(own_path, "w", encoding="utf-8") if own_path else contextlib.nullcontext(shared) as stream:
        writer = TranscriptWriter(stream, args.format, str(path))
        if str(path) in hypotheses:
            writer.write(0.0, len(whole[str(path)]) / SAMPLE_RATE, hypotheses[str(path)])
        else:
            try:
                for segment in translator.stream_long(path, args.tgt_lang, config, progress=sys.stderr.isatty()):
                    writer.write(*segment)
            except (AudioDecodeError, NoSpeech) as error:
                if own_path:
                    stream.close()
                    own_path.unlink()
                return str(error)
            logging.info("%s: %d segments translated", path, writer.count)
        writer.close()
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", type=Path, nargs="+", help="audio (or video) files to translate")
    parser.add_argument("--model_dir", required=True,
                        help="experiment dir holding packed/, packed/ itself, or a hub id (sst.Translator)")
    parser.add_argument("--tgt_lang", default="en", help="target language (two-letter or mBART code)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format [text]")
    parser.add_argument("--output", type=Path, default=None, help="write the output here (default stdout)")
    parser.add_argument("--output_dir", type=Path, default=None,
                        help="one <name>.<format> file per input here (srt, vtt, json)")
    parser.add_argument("--vad", choices=("auto", "always", "never"), default="auto",
                        help="segment with the VAD: auto = inputs longer than --vad_max_segment, and every "
                             "input for srt/vtt/json; never = translate each file whole [auto]")
    add_vad_options(parser)
    add_decode_options(parser)
    add_quantize_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.format == "text" and args.output_dir is not None:
        parser.error("--output_dir goes with --format srt, vtt or json; text goes to --output or stdout")
    if args.format != "text" and args.output_dir is None and len(args.audio) > 1:
        parser.error(f"--format {args.format} writes one file per input: give --output_dir for "
                     f"{len(args.audio)} inputs")
    if args.output is not None and args.output_dir is not None:
        parser.error("give --output or --output_dir, not both")

    options = decode_options(args)
    config = vad_config(args)
    failed = []
    whole, segmented = {}, []
    for path in args.audio:
        try:
            duration = audio_duration(path)
            use_vad = args.vad == "always" or (args.vad == "auto" and (
                args.format != "text" or duration is None or duration > config.max_segment))
            if use_vad:
                segmented.append(path)
                continue
            whole[str(path)] = load_whole(path)
        except (AudioDecodeError, NoSpeech) as error:
            failed.append(str(error))
            print(f"translate: {error}", file=sys.stderr)
    if not whole and not segmented:
        sys.exit(1)

    device = decoding_device(args.quantize)
    translator = Translator.from_pretrained(package_path(args.model_dir, "--model_dir"), device,
                                            quantize=args.quantize, **options)
    hypotheses = dict(zip(whole, translator.translate(list(whole.values()), args.tgt_lang,
                                                      progress=len(whole) > int(options["batch_size"]))))
    with open(args.output, "w", encoding="utf-8") if args.output else contextlib.nullcontext(sys.stdout) as shared:
        for path in args.audio:
            if str(path) in hypotheses or path in segmented:
                error = _translate_into(args, path, shared, hypotheses, whole, translator, config)
                if error:
                    failed.append(error)
                    print(f"translate: {error}", file=sys.stderr)
    if args.output:
        logging.info("wrote %d translations to %s", len(args.audio) - len(failed), args.output)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
