"""Join the clips of test sets into one long recording per set, with pauses, for the long-form demo.

    python -m sst.demo.make_long_recording --data_dir data/test_fr_en data/test_de_en \
        --output_dir data/longform_test_fr_en data/longform_test_de_en

Each output is a Kaldi-style data dir with one recording (``<set>.flac``, 16 kHz) and a ``segments``
file that says where every original clip lies in it, so the long-form decoding can be scored against
the original utterances. Pauses are drawn uniformly from --min_pause..--max_pause (fixed seed).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from sst.data.audio import load_resampled, write_flac
from sst.data.datadir import Segment, validate_data_dir, write_data_dir

SAMPLE_RATE = 16000


def join_clips(clips: list[np.ndarray], rng: np.random.Generator, min_pause: float = 1.0,
               max_pause: float = 3.0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """16 kHz clips joined with a random pause before each and after the last; returns the recording
    and each clip's (start, end) in seconds."""
    parts, spans, position = [], [], 0
    for clip in clips:
        pause = np.zeros(round(rng.uniform(min_pause, max_pause) * SAMPLE_RATE), dtype=np.float32)
        parts += [pause, clip]
        spans.append(((position + len(pause)) / SAMPLE_RATE, (position + len(pause) + len(clip)) / SAMPLE_RATE))
        position += len(pause) + len(clip)
    parts.append(np.zeros(round(max_pause * SAMPLE_RATE), dtype=np.float32))
    return np.concatenate(parts), spans


def make_long_recording(data_dir: Path, output_dir: Path, rng: np.random.Generator,
                        min_pause: float, max_pause: float) -> None:
    """One recording of all clips of ``data_dir`` (sorted by utterance id) as a data dir in ``output_dir``."""
    data = validate_data_dir(data_dir)
    recording = output_dir.name
    clips = [load_resampled(data.wav_scp[utt], SAMPLE_RATE) for utt in data.utts]
    waveform, spans = join_clips(clips, rng, min_pause, max_pause)
    output_dir.mkdir(parents=True, exist_ok=True)
    audio = (output_dir / f"{recording}.flac").resolve()
    write_flac(audio, waveform, SAMPLE_RATE)
    segments = {utt: Segment(recording, start, end) for utt, (start, end) in zip(data.utts, spans)}
    write_data_dir(output_dir, {recording: str(audio)}, data.texts, data.utt2spk, data.utt2lang,
                   data.utt2tgt_lang, segments)
    logging.info("%s: %d clips in %.0f s of audio", output_dir, len(clips), len(waveform) / SAMPLE_RATE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, nargs="+", required=True, help="stage-1 test data dirs")
    parser.add_argument("--output_dir", type=Path, nargs="+", required=True, help="one output dir per --data_dir")
    parser.add_argument("--min_pause", type=float, default=1.0, help="shortest pause between clips (s)")
    parser.add_argument("--max_pause", type=float, default=3.0, help="longest pause between clips (s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if len(args.data_dir) != len(args.output_dir):
        parser.error(f"{len(args.data_dir)} --data_dir but {len(args.output_dir)} --output_dir")
    rng = np.random.default_rng(args.seed)
    for data_dir, output_dir in zip(args.data_dir, args.output_dir):
        make_long_recording(data_dir, output_dir, rng, args.min_pause, args.max_pause)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
