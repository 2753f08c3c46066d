"""Peak memory of long-form translation (``sst.bin.translate``) on a 30-minute recording against
a 3-minute one.

    tools/venv/bin/python tools/bench/bench_longform.py [--long_minutes 30] [--short_minutes 3] [--json out.json]

The recordings are 48 kHz mono WAV files of mini_st clips (one every ~20 s) and silence, the model a
packed, untrained adapter-ST model of tiny random encoder/decoder (the tiny mini_st stand-ins): memory
that grows with the recording would come from the audio path (decoding, resampling, VAD, cutting,
pooling), not from the model. Each recording is translated to JSON Lines by ``translate.main`` in this
process, after an untimed warm-up run, with the peak-RSS mark reset before each run (PeakRss); the
figure is the ratio of the peaks (absolute VmHWM) and the extra bytes against one float32 copy of the
extra audio.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from sst.demo.make_long_recording import join_clips
from sst.testing.corpora import MINI_ST_CORPUS

from common import PeakRss, command_line, emit

RATE = 48000
GOAL_RATIO = 1.3


def write_recording(path: Path, minutes: float) -> None:
    from sst.data.audio import load_resampled

    clips = sorted(MINI_ST_CORPUS.glob("commonvoice/fr/clips/*.mp3"))
    count = max(1, round(minutes * 3))
    waveform, _ = join_clips([load_resampled(clips[i % len(clips)], 16000) for i in range(count)],
                             np.random.default_rng(0), min_pause=15.0, max_pause=25.0)
    waveform = np.pad(waveform, (0, max(0, round(minutes * 60 * 16000) - len(waveform))))
    sf.write(str(path), torchaudio.functional.resample(torch.from_numpy(waveform), 16000, RATE).numpy(), RATE,
             subtype="PCM_16")


def untrained_model(out: Path) -> Path:
    """A packed, untrained adapter-ST model over tiny bases fitted to nothing (the mini_st stand-ins' shapes)."""
    from sst.testing.corpora import read_covost_pairs
    from sst.testing.tiny_models import build_tiny_mbart, build_tiny_wav2vec2, packed_st_model

    pairs = read_covost_pairs(MINI_ST_CORPUS, ("train",))
    build_tiny_wav2vec2(out / "wav2vec2", seed=0)
    build_tiny_mbart(out / "mbart", pairs[:32], [text for p in pairs for text in (p.source, p.target)],
                     seed=0, train_steps=1, batch_size=8)
    return packed_st_model(out / "exp", out / "wav2vec2", out / "mbart")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long_minutes", type=float, default=30.0)
    parser.add_argument("--short_minutes", type=float, default=3.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from sst.bin import translate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = untrained_model(root)
        paths = {"short": root / "short.wav", "long": root / "long.wav"}
        write_recording(paths["short"], args.short_minutes)
        write_recording(paths["long"], args.long_minutes)
        options = ["--model_dir", str(model), "--format", "json", "--output", str(root / "out.json"),
                   "--beam_size", "1", "--max_length", "4", "--batch_size", "8"]
        translate.main([str(paths["short"]), *options])  # warm-up
        peak, peaks_mb, seconds = PeakRss(), {}, {}
        for name in ("long", "short"):
            peak.reset()
            start = time.perf_counter()
            translate.main([str(paths[name]), *options])
            seconds[name] = time.perf_counter() - start
            peaks_mb[name] = peak.peak_mb() + peak.base_kb / 1024
    ratio = peaks_mb["long"] / peaks_mb["short"]
    extra_copy_mb = 4 * RATE * 60 * (args.long_minutes - args.short_minutes) / 2**20
    result = {
        "title": f"Long-form translation: peak memory, {args.long_minutes:g} vs {args.short_minutes:g} min",
        "summary": f"peak RSS {peaks_mb['long']:.0f} MB vs {peaks_mb['short']:.0f} MB: {ratio:.2f}x",
        "goal_text": f"<= {GOAL_RATIO}x", "goals": {"ratio": GOAL_RATIO},
        "goals_met": {"ratio": ratio <= GOAL_RATIO},
        "command": command_line(__file__, sys.argv[1:] if argv is None else argv),
        "peak_rss_mb": peaks_mb, "seconds": seconds, "ratio": ratio,
        "notes": [f"Peak RSS {peaks_mb['long']:.0f} MB for {args.long_minutes:g} min against "
                  f"{peaks_mb['short']:.0f} MB for {args.short_minutes:g} min ({ratio:.2f}x); the extra audio as "
                  f"one float32 copy at 48 kHz would be {extra_copy_mb:.0f} MB, the long run costs "
                  f"{peaks_mb['long'] - peaks_mb['short']:.0f} MB more.",
                  f"Wall time {seconds['long']:.0f} s against {seconds['short']:.0f} s (two streamed passes: VAD, "
                  "then cutting and decoding)."],
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
