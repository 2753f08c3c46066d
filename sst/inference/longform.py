"""Recordings of any length: cut into speech segments by the VAD, translated in length-sorted pools of
segments, written as they come; and decode dirs of whole recordings re-segmented to their references.

Short files are translated whole (:func:`load_whole`), as stage 5 does; longer ones are decoded and
resampled as a stream, segmented by silero-vad (two passes over the file, so memory does not grow with
its length) and the segments translated in pools of about POOL_SECONDS of speech
(:func:`translate_segments`).
"""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np
from tqdm import tqdm

from sst.data.audio import AudioDecodeError, audio_duration, load_resampled, stream_resampled
from sst.data.datadir import validate_data_dir
from sst.data.provenance import Provenance, file_digest, model_fingerprint, text_digest
from sst.inference.beam_search import decode_utterances
from sst.inference.quantize import check_quantize, decoding_device, quantize_model, recorded_settings
from sst.inference.resegment import resegment
from sst.inference.vad import SAMPLE_RATE, VadConfig, cut_segments, load_vad, segment_speech, speech_probabilities
from sst.inference.writers import TranscriptWriter
from sst.io import existing_dir, write_kv, write_text
from sst.models.packing import PACKED, load_packed

POOL_SECONDS = 240.0  # speech decoded together (sorted by length within): bounds memory, keeps batches full
SILENCE_PEAK = 1e-4  # a file translated whole is silent when no sample reaches this (longer ones: the VAD)
# Version of the per-recording results a long-form decode dir keeps across a kill.
FORMAT_VERSION = 1


class NoSpeech(Exception):
    """A recording in which the voice-activity detection finds no speech."""


class Segment(NamedTuple):
    """A translated speech segment of a recording (seconds from its start)."""

    start: float
    end: float
    text: str


def load_whole(path: Path) -> np.ndarray:
    """A file to translate whole, at 16 kHz; NoSpeech when it has no samples or is silent,
    AudioDecodeError when it cannot be decoded."""
    samples = load_resampled(path, SAMPLE_RATE)
    if samples.size == 0:
        raise NoSpeech(f"{path}: no audio samples")
    if np.abs(samples).max() < SILENCE_PEAK:
        raise NoSpeech(f"{path}: silent (peak below {SILENCE_PEAK})")
    return samples


def _progress(blocks: Iterable[np.ndarray], bar: tqdm) -> Iterator[np.ndarray]:
    for block in blocks:
        bar.update(len(block) / SAMPLE_RATE)
        yield block


def translate_segments(path: Path, model, tokenizer, vad, tgt_lang: str, options: dict, device: str,
                       config: VadConfig, progress: bool = True) -> Iterator[Segment]:
    """Translate a recording of any length segment by segment, yielding the segments in order as each pool
    is decoded. NoSpeech when the VAD finds none; AudioDecodeError when the file cannot be decoded (both
    before the first segment)."""
    duration = audio_duration(path)
    with tqdm(total=duration, unit="s", desc=f"{path.name}: voice activity", disable=not progress,
              bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s [{elapsed}<{remaining}]") as bar:
        probabilities, num_samples = speech_probabilities(_progress(stream_resampled(path, SAMPLE_RATE), bar), vad)
    if num_samples == 0:
        raise NoSpeech(f"{path}: no audio samples")
    segments = segment_speech(probabilities, num_samples, config)
    if not segments:
        raise NoSpeech(f"{path}: no speech found in {num_samples / SAMPLE_RATE:.1f} s of audio (silent?)")
    pool: dict[int, np.ndarray] = {}

    def flush() -> list[Segment]:
        hypotheses = decode_utterances(model, tokenizer, pool, {index: tgt_lang for index in pool}, options,
                                       device, progress=False)
        translated = [Segment(segments[index].start_s, segments[index].end_s, hypotheses[index])
                      for index in sorted(pool)]
        pool.clear()
        return translated

    with tqdm(total=num_samples / SAMPLE_RATE, unit="s", desc=f"{path.name}: translating", disable=not progress,
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]") as bar:
        blocks = _progress(stream_resampled(path, SAMPLE_RATE), bar)
        for index, (_, samples) in enumerate(cut_segments(blocks, segments)):
            pool[index] = samples
            if sum(len(pooled) for pooled in pool.values()) >= POOL_SECONDS * SAMPLE_RATE:
                yield from flush()
        if pool:
            yield from flush()


def _audio_digest(paths: list[Path]) -> str:
    """A digest of the recordings' paths, sizes and mtimes (their bytes are hours of audio)."""
    return text_digest([(str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (str(p), None)
                        for p in paths])


def decode_longform(model_dir: Path, data_dirs: list[Path], output_dirs: list[Path], options: dict,
                    config: VadConfig, quantize: str = "none") -> None:
    """Translate the whole recordings of each stage-1 data dir (with ``segments``) segmented by the VAD, each
    into ``<output_dir>/vad/<recording>.json`` (kept across a kill), then re-segment each recording's
    hypotheses to its reference segments and write ``hyp``, ``ref``, ``utt2lang`` and ``utt2tgt_lang`` as
    stage 5 does. An output dir made from the same inputs, model and settings is skipped. ``quantize="int8"``
    decodes on the CPU with int8 linear layers (sst.inference.quantize)."""
    model = tokenizer = vad = None
    device = decoding_device(quantize)
    check_quantize(quantize, device, "--quantize")
    settings = recorded_settings(options, quantize)
    for data_dir, output_dir in zip(data_dirs, output_dirs):
        data = validate_data_dir(data_dir)
        audio_files = [Path(data.wav_scp[recording]) for recording in sorted(data.wav_scp)]
        packed = existing_dir(model_dir / PACKED)
        made_from = {"audio": _audio_digest(audio_files), "wav.scp": file_digest(data_dir / "wav.scp"),
                     "segments": file_digest(data_dir / "segments"), "version": FORMAT_VERSION, "options": settings,
                     "vad": vars(config), "model": model_fingerprint(packed if packed.is_dir() else model_dir)}
        if Provenance(output_dir, "longform_decode").is_current(made_from, output_dir) and (output_dir / "hyp").is_file():
            continue
        Provenance(output_dir, "longform_decode").clear()
        vad_dir = output_dir / "vad"  # the per-recording results in vad/ are kept across a kill
        Provenance(output_dir, "vad").keep_work_if_current(made_from, vad_dir)
        vad_dir.mkdir(parents=True, exist_ok=True)
        by_recording: dict[str, list[str]] = {}
        for utt in sorted(data.segments, key=lambda u: (data.segments[u].recording, data.segments[u].start)):
            by_recording.setdefault(data.segments[utt].recording, []).append(utt)
        hyp: dict[str, str] = {}
        failed = 0
        for recording, utts in sorted(by_recording.items()):
            result = vad_dir / f"{recording}.json"
            if not result.is_file():
                if model is None:
                    model, tokenizer = load_packed(model_dir, device)
                    model = quantize_model(model, quantize, device)
                vad = vad or load_vad()
                buffer = io.StringIO()
                writer = TranscriptWriter(buffer, "json", recording)
                try:
                    for segment in translate_segments(Path(data.wav_scp[recording]), model, tokenizer, vad,
                                                      data.utt2tgt_lang[utts[0]], options, device, config,
                                                      progress=False):
                        writer.write(*segment)
                except (AudioDecodeError, NoSpeech) as error:
                    logging.warning("%s: recording %s: %s; its %d segments get empty hypotheses",
                                    data_dir, recording, error, len(utts))
                    failed += 1
                write_text(result, buffer.getvalue())
            segments = [json.loads(line)["text"] for line in result.read_text(encoding="utf-8").splitlines()]
            hyp.update(zip(utts, resegment(segments, [data.translation(utt) for utt in utts])))
        write_kv(output_dir / "hyp", hyp)
        write_kv(output_dir / "ref", {utt: data.translation(utt) for utt in hyp})
        write_kv(output_dir / "utt2lang", {utt: data.utt2lang[utt] for utt in hyp})
        write_kv(output_dir / "utt2tgt_lang", {utt: data.utt2tgt_lang[utt] for utt in hyp})
        Provenance(output_dir, "longform_decode").save(made_from)
        logging.info("wrote %s (%d recordings, %d of them unreadable or silent; %d reference segments)",
                     output_dir, len(by_recording), failed, len(hyp))
