"""Stage 2: decode a data dir's audio to 16 kHz mono 16-bit FLAC, cut segments, filter by duration.

    python -m sst.bin.dump_audio --data_dir data/train_fr_en --output_dir dump/train_fr_en \\
        --config conf/dump.yaml --nj 4 [--sample_rate 16000] [--min_duration 0.3] [--max_duration 30]
    python -m sst.bin.dump_audio --data_dir data/dev_fr_en data/test_fr_en --output_dir dump/dev_fr_en dump/test_fr_en

Several data dirs (with as many output dirs, in the same order) are dumped one after the other by one
process, which saves the start-up of one process per set.

Writes ``<output_dir>/audio/<utt>.flac`` (with ``audio_format: flac.ark`` in the config: Kaldi archives
``audio/audio.<n>.ark`` of 1000 recordings' FLACs each, which ESPnet's ``kaldi_ark`` loader reads) and, for the kept utterances, wav.scp, utt2num_samples,
speech_shape, transcript, translation, utt2lang, utt2tgt_lang, utt2spk, plus dump_report.txt (kept
and skipped counts by reason). Each recording is decoded once, in one of ``--nj`` processes. A run
with the same data dir and settings as a finished one does nothing (sst.data.provenance); an
interrupted or changed one reuses the FLAC files whose audio, segment and settings are unchanged.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import multiprocessing
import os
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from sst.data.audio import AUDIO_FORMATS, DumpConfig, RecordingTask, append_flac_archive, cut_recording, dump_recording
from sst.data.datadir import DUMP_FILES, DataDir, SkipReport, empty_set_error, validate_data_dir, validate_dump_dir
from sst.data.provenance import Provenance, file_digest, text_digest
from sst.errors import ConfigError
from sst.io import naming_os_errors, read_yaml, write_kv, write_text

FORMAT_VERSION = 1
# Recordings per Kaldi archive with audio_format flac.ark (CoVoST-2's 650k clips: 650 archives).
RECORDINGS_PER_ARCHIVE = 1000


def load_config(path: Path | None, overrides: dict[str, float | int | None]) -> DumpConfig:
    """DumpConfig from a YAML file (keys sample_rate, min_duration, max_duration), then CLI overrides."""
    values = {}
    if path is not None:
        values = read_yaml(path) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of dump settings, not {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(DumpConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = DumpConfig(**values)
    try:
        config = DumpConfig(int(config.sample_rate), float(config.min_duration), float(config.max_duration),
                            str(config.audio_format))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"bad dump settings {config}: {error}") from None
    if config.sample_rate <= 0 or config.min_duration < 0 or config.max_duration <= config.min_duration:
        raise ConfigError(f"bad dump settings {config} (need sample_rate > 0, 0 <= min_duration < max_duration)")
    if config.audio_format not in AUDIO_FORMATS:
        raise ConfigError(f"{path}: audio_format must be one of {', '.join(AUDIO_FORMATS)}, "
                          f"not '{config.audio_format}'")
    return config


def recording_tasks(data: DataDir, audio_dir: Path, config: DumpConfig) -> list[RecordingTask]:
    """One task per recording of the data dir, sorted by recording id."""
    grouped: dict[str, list[tuple[str, float | None, float | None]]] = {}
    if data.segments is None:
        for utt in data.utts:
            grouped[utt] = [(utt, None, None)]
    else:
        for utt in data.utts:
            seg = data.segments[utt]
            grouped.setdefault(seg.recording, []).append((utt, seg.start, seg.end))
    return [RecordingTask(rec, data.wav_scp[rec], utts, str(audio_dir), config)
            for rec, utts in sorted(grouped.items())]


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def map_tasks(tasks: list[RecordingTask], nj: int, work: Callable[[RecordingTask], list] = dump_recording
              ) -> Iterator[list]:
    """``work`` of every task in nj processes, each task's output as soon as it is done."""
    with tqdm(total=len(tasks), desc="dump_audio", unit="rec") as bar:
        if nj <= 1 or len(tasks) <= 1:
            outputs = map(work, tasks)
            pool = None
        else:
            # forkserver: workers fork from a clean process that imported the audio stack once
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["sst.data.audio"])
            pool = context.Pool(nj, initializer=_init_worker)
            chunksize = max(1, min(32, len(tasks) // (nj * 16)))
            outputs = pool.imap_unordered(work, tasks, chunksize=chunksize)
        try:
            for output in outputs:
                yield output
                bar.update()
        finally:
            if pool is not None:
                pool.close()
                pool.join()


def run_tasks(tasks: list[RecordingTask], nj: int) -> dict[str, tuple[int, str | None]]:
    """Run dump_recording over the tasks in nj processes; utt -> (num samples, skip reason or None)."""
    return {utt: (n, reason) for output in map_tasks(tasks, nj) for utt, n, reason in output}


def run_archive_tasks(tasks: list[RecordingTask], audio_dir: Path, config: DumpConfig, nj: int
                      ) -> tuple[dict[str, tuple[int, str | None]], dict[str, str]]:
    """Dump the tasks into Kaldi archives of RECORDINGS_PER_ARCHIVE recordings each, written as the
    recordings are cut; returns utt -> (num samples, skip reason or None) and utt -> wav.scp entry.

    ``audio.<n>.tsv`` (utt, samples, reason, entry) is written last, atomically: an archive without it
    is written again by the next run, one with it is reused.
    """
    results, entries = {}, {}
    for number, start in enumerate(range(0, len(tasks), RECORDINGS_PER_ARCHIVE)):
        ark = audio_dir / f"audio.{number:05d}.ark"
        index = ark.with_suffix(".tsv")
        if not index.is_file():
            rows = []
            with naming_os_errors(ark), ark.open("wb") as f:
                for output in map_tasks(tasks[start:start + RECORDINGS_PER_ARCHIVE], nj, cut_recording):
                    kept = [(utt, samples) for utt, _, _, samples in output if samples is not None]
                    written = append_flac_archive(f, kept, config.sample_rate)
                    rows += [(utt, n, reason or "", written.get(utt, "")) for utt, n, reason, _ in output]
                os.fsync(f.fileno())
            write_text(index, "".join("\t".join(map(str, row)) + "\n" for row in rows))
        for line in index.read_text(encoding="utf-8").splitlines():
            utt, n, reason, entry = line.split("\t")
            results[utt] = (int(n), reason or None)
            if entry:
                entries[utt] = entry
    return results, entries


def utterance_sources(data: DataDir, config: DumpConfig) -> dict[str, str]:
    """utt -> digest of what its FLAC is made from: the audio entry (with the file's size and mtime),
    the segment times and the dump settings."""
    stats: dict[str, tuple[int, int] | None] = {}
    for rec, entry in data.wav_scp.items():
        path = Path(entry)
        stats[rec] = (path.stat().st_size, path.stat().st_mtime_ns) if path.is_file() else None
    sources = {}
    for utt in data.utts:
        seg = data.segments[utt] if data.segments is not None else None
        rec = seg.recording if seg is not None else utt
        times = (seg.start, seg.end) if seg is not None else None
        sources[utt] = text_digest(data.wav_scp[rec], stats[rec], times, dataclasses.asdict(config), FORMAT_VERSION)
    return sources


def dump_set(data_dir: Path, out: Path, config: DumpConfig, nj: int) -> None:
    """Dump one data dir into ``out``, redoing only the utterances whose audio, segment or settings changed."""
    data = validate_data_dir(data_dir)
    inputs = sorted(p for p in data_dir.iterdir() if p.is_file() and not p.name.startswith(".")
                    and p.name != "skip_report.txt")
    sources = utterance_sources(data, config)
    made_from = {"data_dir": {p.name: file_digest(p) for p in inputs}, "settings": dataclasses.asdict(config),
                 "audio": text_digest(sorted(sources.items())), "version": FORMAT_VERSION}
    record = Provenance(out, "dump_audio")
    if record.is_current(made_from, out) and (out / "wav.scp").is_file():
        return
    record.clear()
    audio_dir = (out / "audio").resolve()
    audio_dir.mkdir(parents=True, exist_ok=True)
    changed = record.changed_utterances(sources, out)
    for utt in changed:
        (audio_dir / f"{utt}.flac").unlink(missing_ok=True)
    if changed and config.audio_format == "flac.ark":  # an archive is reused whole: rewrite them all
        for index in audio_dir.glob("audio.*.tsv"):
            index.unlink()
    record.save_utterances(sources)
    tasks = recording_tasks(data, audio_dir, config)
    logging.info("dumping %d utterances of %d recordings from %s with %s, nj=%d",
                 len(data.utts), len(tasks), data_dir, config, nj)
    if config.audio_format == "flac.ark":
        results, entries = run_archive_tasks(tasks, audio_dir, config, nj)
    else:
        results = run_tasks(tasks, nj)
        entries = {utt: str(audio_dir / f"{utt}.flac") for utt in results}

    report = SkipReport(f"{out.name} (stage 2, dump_audio)")
    kept = []
    for utt in data.utts:
        n, reason = results[utt]
        if reason is None:
            kept.append(utt)
            report.keep()
        else:
            report.skip(reason, utt)
    num_samples = {utt: str(results[utt][0]) for utt in kept}
    write_kv(out / "wav.scp", {utt: entries[utt] for utt in kept})
    write_kv(out / "utt2num_samples", num_samples)
    write_kv(out / "speech_shape", num_samples)
    write_kv(out / "transcript", {utt: data.transcript(utt) for utt in kept})
    write_kv(out / "translation", {utt: data.translation(utt) for utt in kept})
    write_kv(out / "utt2lang", {utt: data.utt2lang[utt] for utt in kept})
    write_kv(out / "utt2tgt_lang", {utt: data.utt2tgt_lang[utt] for utt in kept})
    write_kv(out / "utt2spk", {utt: data.utt2spk[utt] for utt in kept})
    report.write(out / "dump_report.txt")
    report.log()
    if not kept:
        raise empty_set_error(out, out / "dump_report.txt")
    validate_dump_dir(out, DUMP_FILES)
    record.save(made_from)
    logging.info("wrote %s (%d utterances)", out, len(kept))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, nargs="+", required=True, help="stage-1 data dir(s)")
    parser.add_argument("--output_dir", type=Path, nargs="+", required=True,
                        help="dump dir(s) to write, one per --data_dir")
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML: sample_rate, min_duration, max_duration, audio_format (flac or flac.ark)")
    parser.add_argument("--nj", type=int, default=1, help="number of worker processes")
    parser.add_argument("--sample_rate", type=int, default=None, help="overrides the config")
    parser.add_argument("--min_duration", type=float, default=None, help="seconds; overrides the config")
    parser.add_argument("--max_duration", type=float, default=None, help="seconds; overrides the config")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if len(args.data_dir) != len(args.output_dir):
        parser.error(f"{len(args.data_dir)} --data_dir but {len(args.output_dir)} --output_dir; give one output per input")

    config = load_config(args.config, {"sample_rate": args.sample_rate, "min_duration": args.min_duration,
                                       "max_duration": args.max_duration})
    for data_dir, out in zip(args.data_dir, args.output_dir):
        dump_set(data_dir, out, config, args.nj)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)
