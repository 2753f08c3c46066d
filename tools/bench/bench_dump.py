"""Stage-2 audio dump throughput (``sst.bin.dump_audio``) with --nj 1 against --nj 2.

    tools/venv/bin/python tools/bench/bench_dump.py [--clips 300] [--json out.json]

The data dir holds the first ``--clips`` clips (sorted by name, over all languages) of the mini_st demo
corpus shipped in ``egs/mini_st/corpus`` (48 kHz mono MP3 of 0.5-2 s, texts from its CoVoST TSVs), one
utterance per recording as stage 1 writes CoVoST. Each run is ``dump_audio.main`` in this process into
a fresh output dir: decode, resample to 16 kHz, write FLAC, write and validate the dump files; the
worker pool is created in the run. A first, untimed run of each setting over a few clips loads what
a stage-2 process loads once (the imports, and for --nj 2 the forkserver that preloads the audio
stack: its start-up is reported apart, as ``startup_s``). Timed runs go in the order 1, 2, 2, 1, ...
(``--repeats`` per setting), so a drift in machine load hits both alike; the figure is the ratio of
the fastest runs in wall time (other jobs on the machine only ever add time; medians are kept too).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sst.testing.corpora import MINI_ST_CORPUS, write_mini_st_data_dir

from common import command_line, emit

def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per --nj setting")
    parser.add_argument("--corpus_dir", type=Path, default=MINI_ST_CORPUS)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)

    from sst.bin import dump_audio

    settings = (1, 2)
    order = [nj for index in range(args.repeats) for nj in (settings if index % 2 == 0 else settings[::-1])]
    times: dict[int, list[float]] = {nj: [] for nj in settings}
    startup = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_mini_st_data_dir(tmp / "warmup", 4, args.corpus_dir)
        for nj in settings:
            start = time.perf_counter()
            dump_audio.main(["--data_dir", str(tmp / "warmup"), "--output_dir", str(tmp / f"warmup{nj}"),
                             "--nj", str(nj)])
            startup[nj] = time.perf_counter() - start
        audio_seconds = write_mini_st_data_dir(tmp / "data", args.clips, args.corpus_dir)
        for run, nj in enumerate(order):
            start = time.perf_counter()
            dump_audio.main(["--data_dir", str(tmp / "data"), "--output_dir", str(tmp / f"dump{run}"), "--nj", str(nj)])
            times[nj].append(time.perf_counter() - start)
        kept = sum(1 for _ in (tmp / "dump0" / "wav.scp").open())
    load = max(load_before, os.getloadavg()[0])
    variants = {}
    for nj, values in times.items():
        median = statistics.median(values)
        variants[f"nj{nj}"] = {"median_s": median, "min_s": min(values), "max_s": max(values), "runs": len(values),
                               "times_s": [round(t, 3) for t in values], "utterances_per_s": args.clips / min(values),
                               "audio_seconds_per_s": audio_seconds / min(values), "startup_s": startup[nj]}
    speedup = variants["nj1"]["min_s"] / variants["nj2"]["min_s"]
    per_clip_saved = 1 / variants["nj1"]["utterances_per_s"] - 1 / variants["nj2"]["utterances_per_s"]
    breakeven = (startup[2] - startup[1]) / per_clip_saved if per_clip_saved > 0 else None
    result = {
        "item": "dump", "title": "Stage 2 dump_audio: --nj 1 vs --nj 2",
        "command": command_line(__file__, argv), "variants": variants,
        "config": {"clips": args.clips, "repeats": args.repeats, "order": order, "cpu_count": os.cpu_count(),
                   "audio_seconds": audio_seconds, "kept": kept, "load_average_1min": load},
        "speedup": speedup, "goals": {}, "goals_met": {},
        "summary": (f"nj 2 / nj 1: {speedup:.2f}x ({variants['nj2']['utterances_per_s']:.0f} vs "
                    f"{variants['nj1']['utterances_per_s']:.0f} utt/s)"),
        "goal_text": "none set",
    }
    result["notes"] = [
        f"{args.clips} clips ({audio_seconds:.0f} s of 48 kHz MP3): "
        f"nj 1 {variants['nj1']['utterances_per_s']:.0f} utt/s, "
        f"nj 2 {variants['nj2']['utterances_per_s']:.0f} utt/s ({speedup:.2f}x). No goal is set; 2x is the "
        "ceiling with 2 jobs, less the single-process writing and validation of the dump files and whatever else "
        "runs on the machine.",
        f"Once per stage-2 process, --nj 2 first starts a forkserver that imports the audio stack: the first "
        f"run over 4 clips took {startup[2]:.1f} s with --nj 2 against {startup[1]:.1f} s with --nj 1; "
        + (f"at the rates above that pays for itself after about {breakeven:.0f} clips (a CoVoST-2 set has "
           "thousands to hundreds of thousands)." if per_clip_saved > 0 else
           "at the rates above --nj 2 saves nothing per clip, so it never pays for itself on this machine."),
    ]
    if load > (os.cpu_count() or 1):
        result["notes"].append(
            f"The machine was busy (1-minute load average up to {load:.1f} on {os.cpu_count()} cores): these "
            "wall-clock runs compete with other jobs for the cores, so the figures measure that contention as "
            "much as dump_audio.")
    emit(result, args.json)
    return result


if __name__ == "__main__":
    main()
