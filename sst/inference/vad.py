"""Long-form audio: voice-activity segmentation (silero-vad) and cutting the segments out of a stream.

A recording of any length is read twice as a stream (:func:`sst.data.audio.stream_resampled`): the
first pass runs the silero-vad model over it and keeps only its speech probabilities (one float per
32 ms); silero's own post-processing turns them into speech regions, which are merged across short
pauses and split to at most ``max_segment`` seconds; the second pass cuts those segments out of the
stream as it goes by. Memory does not grow with the recording's length.
"""
from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch

SAMPLE_RATE = 16000
VAD_WINDOW = 512  # samples per silero-vad frame at 16 kHz


@dataclass
class VadConfig:
    """Voice-activity segmentation settings (seconds; thresholds are silero speech probabilities)."""

    threshold: float = 0.5
    neg_threshold: float | None = None  # leaves speech below this (silero default: threshold - 0.15)
    min_speech: float = 0.25
    min_silence: float = 0.3
    speech_pad: float = 0.1
    max_segment: float = 20.0
    merge_gap: float = 0.0  # pauses up to this long are bridged while the merged segment fits max_segment


def add_vad_options(parser: argparse.ArgumentParser) -> None:
    """One ``--vad_<setting>`` option per :class:`VadConfig` field."""
    helps = {"threshold": "speech probability above which a frame is speech",
             "neg_threshold": "probability below which speech ends [threshold - 0.15]",
             "min_speech": "shortest speech region kept (s)", "min_silence": "shortest pause that ends a region (s)",
             "speech_pad": "padding added on both sides of a region (s)",
             "max_segment": "longest segment (s); longer regions are split at their longest pause",
             "merge_gap": "pauses up to this long are bridged while the segment fits --vad_max_segment (s)"}
    for name, default in vars(VadConfig()).items():
        parser.add_argument(f"--vad_{name}", type=float, default=default, help=f"{helps[name]} [{default}]")


def vad_config(args: argparse.Namespace) -> VadConfig:
    """The :class:`VadConfig` of the ``--vad_*`` options."""
    return VadConfig(**{name: getattr(args, f"vad_{name}") for name in vars(VadConfig())})


@dataclass
class SpeechSegment:
    """A speech segment of a recording: sample range at 16 kHz."""

    start: int
    end: int

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE


def load_vad():
    """The silero-vad JIT model shipped in its wheel (torch only, nothing downloaded)."""
    threads = torch.get_num_threads()
    from silero_vad import load_silero_vad  # its import sets torch's thread count to 1

    with warnings.catch_warnings():  # its loader uses deprecated importlib / torch.jit calls
        warnings.simplefilter("ignore", DeprecationWarning)
        model = load_silero_vad()
    torch.set_num_threads(threads)
    return model


def speech_probabilities(blocks: Iterable[np.ndarray], model) -> tuple[list[float], int]:
    """Silero speech probability of every 512-sample frame of a 16 kHz stream, and its sample count."""
    model.reset_states()
    probabilities: list[float] = []
    carry = np.zeros(0, dtype=np.float32)
    total = 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one 512-sample frame at a time: more threads only add overhead (~6x here)
    try:
        with torch.inference_mode():
            for block in blocks:
                total += len(block)
                carry = np.concatenate([carry, block])
                usable = len(carry) // VAD_WINDOW * VAD_WINDOW
                frames = torch.from_numpy(carry[:usable].copy()).view(-1, VAD_WINDOW)
                probabilities.extend(model(frame, SAMPLE_RATE).item() for frame in frames)
                carry = carry[usable:]
            if len(carry):
                last = torch.zeros(VAD_WINDOW)
                last[: len(carry)] = torch.from_numpy(carry)
                probabilities.append(model(last, SAMPLE_RATE).item())
    finally:
        torch.set_num_threads(threads)
    return probabilities, total


def merge_segments(segments: list[SpeechSegment], max_gap: float, max_segment: float) -> list[SpeechSegment]:
    """Join neighbours separated by at most ``max_gap`` seconds while the result fits ``max_segment``."""
    merged: list[SpeechSegment] = []
    for segment in segments:
        last = merged[-1] if merged else None
        if (last is not None and (segment.start - last.end) <= max_gap * SAMPLE_RATE
                and (segment.end - last.start) <= max_segment * SAMPLE_RATE):
            last.end = segment.end
        else:
            merged.append(SpeechSegment(segment.start, segment.end))
    return merged


def segment_speech(probabilities: list[float], num_samples: int, config: VadConfig) -> list[SpeechSegment]:
    """Speech segments from silero probabilities: silero's hysteresis, padding and splitting at
    ``max_segment`` (at the longest pause inside, else a hard cut), then :func:`merge_segments`."""
    from silero_vad import get_speech_timestamps_from_probs

    regions = get_speech_timestamps_from_probs(
        probabilities, sampling_rate=SAMPLE_RATE, threshold=config.threshold, neg_threshold=config.neg_threshold,
        min_speech_duration_ms=round(config.min_speech * 1000), max_speech_duration_s=config.max_segment,
        min_silence_duration_ms=round(config.min_silence * 1000), speech_pad_ms=round(config.speech_pad * 1000),
        audio_length_samples=num_samples)
    segments = [SpeechSegment(int(r["start"]), int(r["end"])) for r in regions if r["end"] > r["start"]]
    return merge_segments(segments, config.merge_gap, config.max_segment)


def cut_segments(blocks: Iterable[np.ndarray],
                 segments: list[SpeechSegment]) -> Iterator[tuple[SpeechSegment, np.ndarray]]:
    """(segment, its samples) for sorted ``segments`` of a 16 kHz stream, each as soon as it has gone by."""
    pieces: dict[int, list[np.ndarray]] = {}
    first_open, position = 0, 0
    for block in blocks:
        block_end = position + len(block)
        for index in range(first_open, len(segments)):
            segment = segments[index]
            if segment.start >= block_end:
                break
            if segment.end > position:
                pieces.setdefault(index, []).append(
                    block[max(segment.start, position) - position: min(segment.end, block_end) - position])
        while first_open < len(segments) and segments[first_open].end <= block_end:
            yield segments[first_open], np.concatenate(pieces.pop(first_open, [np.zeros(0, np.float32)]))
            first_open += 1
        position = block_end
    for index in range(first_open, len(segments)):  # past the end of a stream shorter than announced
        if index in pieces:
            yield segments[index], np.concatenate(pieces.pop(index))
