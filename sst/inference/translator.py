"""A packed speech-translation model as a Python object: ``from sst import Translator``.

    from sst import Translator

    translator = Translator.from_pretrained("exp/st_train_st_samu_adapter", beam_size=5)  # or a hub id
    translator.translate(["a.wav", "b.mp3"], tgt_lang="en")      # ["...", "..."]
    translator.translate([waveform], tgt_lang="de", sample_rate=48000)
    translator.translate_long("talk.mp4", tgt_lang="en")          # [Segment(start, end, text), ...]

The decoding is stage 5's (sst.inference.beam_search: length-sorted batches of bounded padded size, the
model's beam search), and ``sst.bin.translate`` is a command over this class. Decoding settings
(sst.inference.options.DECODE_DEFAULTS) are keyword arguments of :meth:`Translator.from_pretrained` (the
translator's own) and of each call (for that call).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence, Union

import numpy as np
import torch

from sst.data.audio import resample
from sst.data.langs import normalize
from sst.inference.beam_search import decode_utterances
from sst.inference.longform import Segment, load_whole, translate_segments
from sst.inference.options import DECODE_DEFAULTS, checked_options
from sst.inference.quantize import check_quantize, quantize_model
from sst.inference.vad import SAMPLE_RATE, VadConfig, load_vad
from sst.models.hub import locate_model
from sst.models.packing import load_packed

# A file (any format sst.data.audio reads) or a mono waveform of floats in [-1, 1].
AudioInput = Union[str, Path, np.ndarray]


def package_path(name_or_dir: str | Path, option: str = "Translator.from_pretrained") -> Path:
    """The local directory of a package (or of the experiment dir holding it): itself, or a hub id's
    snapshot (from the Hugging Face cache, downloaded when the hub is reachable; sst.models.hub).
    ``option`` names the argument in the one-line error when it is neither."""
    from huggingface_hub import snapshot_download

    located = locate_model(str(name_or_dir), option)
    return Path(located if Path(located).is_dir() else snapshot_download(located))


def target_language(tgt_lang: str) -> str:
    """The two-letter code of a target language given as one (``en``) or as an mBART code (``en_XX``)."""
    return normalize(tgt_lang.split("_")[0])


class Translator:
    """A loaded speech-translation model with its tokenizer, device and decoding settings."""

    def __init__(self, model: torch.nn.Module, tokenizer, device: str = "cpu", **options: object) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.options = {**DECODE_DEFAULTS, **checked_options(options, "Translator")}
        self._vad = None

    @classmethod
    def from_pretrained(cls, name_or_dir: str | Path, device: str = "cpu", quantize: str = "none",
                        **options: object) -> Translator:
        """Load a package of either kind (``exp/<st_exp>``, its ``packed`` dir, a published folder or a hub
        id) onto ``device``; ``quantize="int8"`` quantizes its linear layers for CPU decoding
        (sst.inference.quantize); ``options`` are the translator's decoding settings."""
        checked_options(options, "Translator.from_pretrained")
        check_quantize(quantize, device, "Translator.from_pretrained: quantize")
        model, tokenizer = load_packed(package_path(name_or_dir), device)
        return cls(quantize_model(model, quantize, device), tokenizer, device, **options)

    def _settings(self, options: dict, caller: str) -> dict:
        return {**self.options, **checked_options(options, f"Translator.{caller}")}

    def translate(self, audio: AudioInput | Sequence[AudioInput], tgt_lang: str | Sequence[str] = "en",
                  sample_rate: int = SAMPLE_RATE, progress: bool = False, **options: object) -> list[str]:
        """One translation per input (a file or a list of files and waveforms), each decoded whole, in
        length-sorted batches as stage 5 decodes. ``tgt_lang``: one target for all, or one per input.
        ``sample_rate`` is the waveforms' (resampled to 16 kHz); files are read at their own rate. A file
        that cannot be read raises AudioDecodeError, a silent one NoSpeech."""
        inputs = [audio] if isinstance(audio, (str, Path, np.ndarray)) else list(audio)
        targets = [tgt_lang] * len(inputs) if isinstance(tgt_lang, str) else list(tgt_lang)
        if len(targets) != len(inputs):
            raise ValueError(f"Translator.translate: {len(inputs)} inputs but {len(targets)} target languages")
        waveforms = {index: self._waveform(item, index, sample_rate) for index, item in enumerate(inputs)}
        hypotheses = decode_utterances(self.model, self.tokenizer, waveforms,
                                       {index: target_language(lang) for index, lang in enumerate(targets)},
                                       self._settings(options, "translate"), self.device, progress=progress)
        return [hypotheses[index] for index in range(len(inputs))]

    @staticmethod
    def _waveform(item: AudioInput, index: int, sample_rate: int) -> np.ndarray:
        """Input ``index`` as a 16 kHz float32 waveform."""
        if not isinstance(item, np.ndarray):
            return load_whole(Path(item))
        if item.ndim != 1 or item.size == 0 or not np.issubdtype(item.dtype, np.floating):
            raise ValueError(f"Translator.translate: input {index} is a {item.dtype} array of shape {item.shape}; "
                             "give a non-empty mono waveform (1-D floats in [-1, 1]) with its sample_rate")
        return resample(np.ascontiguousarray(item, dtype=np.float32), sample_rate, SAMPLE_RATE)

    def stream_long(self, path: str | Path, tgt_lang: str = "en", vad: VadConfig | None = None,
                    progress: bool = False, **options: object) -> Iterator[Segment]:
        """The translated speech segments of a recording of any length, in order, as they are decoded:
        cut by silero-vad (``vad`` settings) and translated in length-sorted pools (sst.inference.longform).
        NoSpeech when there is no speech, AudioDecodeError when the file cannot be read."""
        if self._vad is None:
            self._vad = load_vad()
        return translate_segments(Path(path), self.model, self.tokenizer, self._vad, target_language(tgt_lang),
                                  self._settings(options, "translate_long"), self.device, vad or VadConfig(),
                                  progress=progress)

    def translate_long(self, path: str | Path, tgt_lang: str = "en", vad: VadConfig | None = None,
                       progress: bool = False, **options: object) -> list[Segment]:
        """Every translated segment of a recording of any length (see :meth:`stream_long`)."""
        return list(self.stream_long(path, tgt_lang, vad, progress, **options))
