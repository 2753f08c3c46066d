"""Audio: decoding (soundfile, PyAV for m4a and anything ffmpeg reads), mono, resampling, stage-2 dumps (FLAC
files or Kaldi archives) and their lengths (inference batches them: sst.inference.batching)."""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

import av
import kaldiio
import numpy as np
import soundfile as sf
import torch
import torchaudio.functional

from sst.errors import UserError
from sst.io import DataDirError, atomic_open, iter_kv

# Stage-2 dump formats: one FLAC per utterance, or Kaldi archives of FLACs.
AUDIO_FORMATS = ("flac", "flac.ark")
# A Kaldi archive entry in a wav.scp: ``path.ark:byte offset``.
ARK_ENTRY = re.compile(r".+\.ark:\d+$")
# Suffixes libsndfile decodes; anything else goes straight to PyAV.
SOUNDFILE_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".aiff", ".aif", ".au")


class AudioDecodeError(UserError):
    """An audio file is missing, empty, or neither soundfile nor PyAV can decode it."""


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), rate


def _read_pyav(path: Path) -> tuple[np.ndarray, int]:
    rate, blocks = _stream_pyav(path)
    chunks = list(blocks)
    return (np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)), rate


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode a file to mono float32 at its own sample rate; AudioDecodeError when it cannot."""
    path = Path(path)
    _check_file(path)
    errors = []
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            return _read_soundfile(path)
        except (sf.SoundFileError, RuntimeError) as e:
            errors.append(f"soundfile: {e}")
    try:
        return _read_pyav(path)
    except (av.FFmpegError, ValueError, OSError, AudioDecodeError) as e:
        errors.append(f"PyAV: {e}")
    raise AudioDecodeError(f"{path}: cannot decode ({'; '.join(errors)})")


def resample(waveform: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample a mono float32 signal with torchaudio (a no-op when the rates agree)."""
    if orig_rate == new_rate or waveform.size == 0:
        return waveform
    tensor = torch.from_numpy(np.ascontiguousarray(waveform))
    return torchaudio.functional.resample(tensor, orig_rate, new_rate).numpy()


def load_resampled(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode, downmix to mono and resample a file to ``sample_rate``."""
    waveform, rate = load_audio(path)
    return resample(waveform, rate, sample_rate)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise AudioDecodeError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path}: zero-byte file")


def audio_duration(path: str | Path) -> float | None:
    """Duration in seconds from the container's header, without decoding (None when it does not say)."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            info = sf.info(str(path))
            if info.frames > 0:
                return info.frames / info.samplerate
        except (sf.SoundFileError, RuntimeError):
            pass
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return None if container.duration is None else container.duration / av.time_base
    except (av.FFmpegError, ValueError, OSError) as e:
        raise AudioDecodeError(f"{path}: cannot decode (PyAV: {e})") from None


def _stream_soundfile(path: Path, block_frames: int) -> tuple[int, Iterator[np.ndarray]]:
    info = sf.info(str(path))

    def blocks() -> Iterator[np.ndarray]:
        for block in sf.blocks(str(path), blocksize=block_frames, dtype="float32", always_2d=True):
            yield block.mean(axis=1, dtype=np.float32)
    return info.samplerate, blocks()


def _stream_pyav(path: Path) -> tuple[int, Iterator[np.ndarray]]:
    container = av.open(str(path))
    if not container.streams.audio:
        container.close()
        raise AudioDecodeError(f"{path}: no audio stream")
    stream = container.streams.audio[0]

    def blocks() -> Iterator[np.ndarray]:
        to_float = av.AudioResampler(format="fltp")  # sample format only; rate and layout kept
        with container:
            for frame in container.decode(stream):
                for converted in to_float.resample(frame):
                    yield converted.to_ndarray().mean(axis=0, dtype=np.float32)
            for converted in to_float.resample(None):
                yield converted.to_ndarray().mean(axis=0, dtype=np.float32)
    return stream.rate, blocks()


def stream_audio(path: str | Path, block_seconds: float = 10.0) -> tuple[int, Iterator[np.ndarray]]:
    """(sample rate, iterator of mono float32 blocks) of a file, decoded as it is read: the streaming
    form of :func:`load_audio` (the same samples), for recordings too long to hold. AudioDecodeError
    when the file cannot be opened; a decoding error later in the file surfaces from the iterator."""
    path = Path(path)
    _check_file(path)
    errors = []
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            rate = sf.info(str(path)).samplerate
            return _stream_soundfile(path, max(1, round(block_seconds * rate)))
        except (sf.SoundFileError, RuntimeError) as e:
            errors.append(f"soundfile: {e}")
    try:
        return _stream_pyav(path)
    except (av.FFmpegError, ValueError, OSError) as e:
        errors.append(f"PyAV: {e}")
    raise AudioDecodeError(f"{path}: cannot decode ({'; '.join(errors)})")


def resample_stream(blocks: Iterable[np.ndarray], orig_rate: int, new_rate: int,
                    block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Resample a stream of mono float32 blocks with torchaudio, block by block: the output equals
    :func:`resample` of the whole signal (to float rounding), while only a block is held.

    torchaudio has no streaming resampler; each block is resampled with enough neighbouring samples
    on both sides (a multiple of the reduced input period) that its sinc kernel sees what it would see
    in the whole signal, and the context's output is cut away.
    """
    if orig_rate == new_rate:
        yield from (block for block in blocks if block.size)
        return
    gcd = math.gcd(orig_rate, new_rate)
    period_in, period_out = orig_rate // gcd, new_rate // gcd
    lowpass_filter_width, rolloff = 6, 0.99  # torchaudio's defaults, as resample() uses them
    width = math.ceil(lowpass_filter_width * period_in / (min(period_in, period_out) * rolloff))
    context = (math.ceil(width / period_in) + 1) * period_in
    step = period_in * max(1, round(block_seconds * orig_rate / period_in))
    pending = np.zeros(0, dtype=np.float32)
    left = 0  # samples of left context at the start of ``pending`` (0 at the start of the signal)
    for block in blocks:
        pending = np.concatenate([pending, block])
        while len(pending) - left >= step + context:
            out = resample(pending[: left + step + context], orig_rate, new_rate)
            yield out[left // period_in * period_out: (left + step) // period_in * period_out]
            pending = pending[left + step - context:]
            left = context
    if len(pending) > left:
        yield resample(pending, orig_rate, new_rate)[left // period_in * period_out:]


def stream_resampled(path: str | Path, sample_rate: int, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Mono float32 blocks of a file at ``sample_rate``, decoded and resampled as it is read (the
    samples of :func:`load_resampled`, without holding the recording)."""
    rate, blocks = stream_audio(path, block_seconds)
    return resample_stream(blocks, rate, sample_rate, block_seconds)


def write_flac(path: Path, waveform: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM FLAC atomically (temp file + rename), so a crash leaves no half file. It is encoded
    in memory and written by Python: a full disk is then an OSError naming ``path`` (libsndfile writing the
    file itself says only "System error")."""
    flac = io.BytesIO()
    sf.write(flac, np.clip(waveform, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    with atomic_open(path, "wb") as f:
        f.write(flac.getbuffer())


def readable_flac_frames(path: Path, sample_rate: int) -> int | None:
    """Number of frames of an existing mono FLAC at ``sample_rate`` that reads back, else None."""
    try:
        info = sf.info(str(path))
        if info.samplerate != sample_rate or info.channels != 1 or info.frames <= 0:
            return None
        with sf.SoundFile(str(path)) as f:
            f.seek(info.frames - 1)
            if len(f.read(1)) != 1:
                return None
        return info.frames
    except (sf.SoundFileError, RuntimeError):
        return None


# Reasons stage 2 skips an utterance for.
AUDIO_MISSING = "audio missing"
ZERO_BYTE = "zero-byte audio"
UNDECODABLE = "undecodable audio"
EMPTY_AUDIO = "empty audio"
PAST_END = "segment past end"
TOO_SHORT = "too short"
TOO_LONG = "too long"


@dataclass
class DumpConfig:
    """Stage-2 audio settings (``conf/dump.yaml``)."""

    sample_rate: int = 16000
    min_duration: float = 0.3
    max_duration: float = 30.0
    audio_format: str = "flac"  # one FLAC file per utterance, or "flac.ark": Kaldi archives of FLACs


@dataclass
class RecordingTask:
    """One recording to decode once, and the utterances to cut from it (start/end None: all of it)."""

    recording: str
    path: str
    utts: list[tuple[str, float | None, float | None]]
    out_dir: str
    config: DumpConfig


def _duration_reason(num_samples: int, config: DumpConfig) -> str | None:
    seconds = num_samples / config.sample_rate
    if seconds < config.min_duration:
        return TOO_SHORT
    if seconds > config.max_duration:
        return TOO_LONG
    return None


def cut_recording(task: RecordingTask, todo: list[tuple[str, float | None, float | None]] | None = None
                  ) -> list[tuple[str, int, str | None, np.ndarray | None]]:
    """Decode a recording once and cut its utterances (``todo``, default all): (utt, number of samples,
    skip reason or None, the utterance's samples when it is kept)."""
    config, todo = task.config, task.utts if todo is None else todo
    path = Path(task.path)
    reason = AUDIO_MISSING if not path.is_file() else ZERO_BYTE if path.stat().st_size == 0 else None
    if reason is None:
        try:
            waveform = load_resampled(path, config.sample_rate)
        except AudioDecodeError:
            reason = UNDECODABLE
    if reason is None and waveform.size == 0:
        reason = EMPTY_AUDIO
    if reason is not None:
        return [(utt, 0, reason, None) for utt, _, _ in todo]
    total = waveform.size
    min_samples = config.min_duration * config.sample_rate
    results = []
    for utt, start, end in todo:
        first = 0 if start is None else round(start * config.sample_rate)
        last = total if end is None else min(round(end * config.sample_rate), total)
        if first >= total or (end is not None and round(end * config.sample_rate) > total
                              and last - first < min_samples):
            results.append((utt, 0, PAST_END, None))
            continue
        reason = _duration_reason(last - first, config)
        results.append((utt, last - first, reason, waveform[first:last] if reason is None else None))
    return results


def dump_recording(task: RecordingTask) -> list[tuple[str, int, str | None]]:
    """Write ``<out_dir>/<utt>.flac`` for each utterance of a recording that passes the filters.

    Returns (utt, number of samples, skip reason or None) per utterance. A FLAC that already exists
    and reads back at the right rate is reused without decoding the recording again.
    """
    config, out_dir = task.config, Path(task.out_dir)
    results, todo = [], []
    for utt, start, end in task.utts:
        frames = readable_flac_frames(out_dir / f"{utt}.flac", config.sample_rate)
        if frames is None:
            todo.append((utt, start, end))
        else:
            results.append((utt, frames, _duration_reason(frames, config)))
    if not todo:
        return results
    for utt, n, reason, samples in cut_recording(task, todo):
        if samples is not None:
            write_flac(out_dir / f"{utt}.flac", samples, config.sample_rate)
        results.append((utt, n, reason))
    return results


def append_flac_archive(ark: BinaryIO, utterances: Sequence[tuple[str, np.ndarray]], sample_rate: int
                        ) -> dict[str, str]:
    """Append utterances as 16-bit FLACs to the open Kaldi archive ``ark`` (kaldiio, as ESPnet's
    ``flac.ark``); returns utt -> ``path.ark:offset``, the wav.scp value that ESPnet's ``kaldi_ark``
    loader and :func:`read_dumped` read."""
    if not utterances:
        return {}
    scp = io.StringIO()
    kaldiio.save_ark(ark, {utt: (sample_rate, np.clip(samples, -1.0, 1.0)) for utt, samples in utterances},
                     scp=scp, write_function="soundfile", write_kwargs={"format": "FLAC", "subtype": "PCM_16"})
    ark.flush()
    return dict(line.split(" ", 1) for line in scp.getvalue().splitlines())


def speech_loader_type(dump_dir: Path) -> str:
    """ESPnet's data type for a dump dir's wav.scp: ``sound`` (FLAC files) or ``kaldi_ark`` (archives)."""
    with open(Path(dump_dir) / "wav.scp", encoding="utf-8") as scp:
        first = scp.readline().split(maxsplit=1)
    return "kaldi_ark" if len(first) == 2 and ARK_ENTRY.match(first[1].strip()) else "sound"


def dumped_lengths(dump_dir: Path, utts: Iterable[str]) -> dict[str, int]:
    """Samples per utterance of a dump dir, from its ``speech_shape`` (ESPnet shape file), else
    ``utt2num_samples``; DataDirError naming the file when one of ``utts`` has no entry."""
    dump_dir = Path(dump_dir)
    path = dump_dir / "speech_shape" if (dump_dir / "speech_shape").is_file() else dump_dir / "utt2num_samples"
    lengths = {}
    for utt, shape, number in iter_kv(path):
        try:
            lengths[utt] = int(shape.split(",")[0])
        except ValueError:
            raise DataDirError(f"{path}:{number}: '{utt} {shape}' is not '<utt> <number of samples>'") from None
    missing = [utt for utt in utts if utt not in lengths]
    if missing:
        raise DataDirError(f"{path}: no length for utterance {missing[0]} ({len(missing)} in all); rerun stage 2")
    return lengths


def read_dumped(location: str) -> np.ndarray:
    """A stage-2 utterance as float32 in [-1, 1]: a FLAC path, or a Kaldi archive entry ``file.ark:offset``."""
    if ARK_ENTRY.match(location):
        _, samples = kaldiio.load_mat(location)
        return samples.astype(np.float32)
    return sf.read(location, dtype="float32")[0]
