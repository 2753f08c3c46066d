"""The speech encoder over padded raw waveforms, for every supported student class.

The wav2vec 2.0 family (wav2vec 2.0 / XLS-R / MMS, HuBERT / mHuBERT, WavLM, data2vec-audio) reads the
waveform through its CNN; w2v-BERT 2.0 reads 80-bin log-mel filterbanks stacked to 160 dims, which
:class:`StackedFilterbank` computes in the model (on the batch's device, with its padding).
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import (Data2VecAudioModel, HubertModel, PreTrainedModel, Wav2Vec2BertModel, Wav2Vec2Model,
                          WavLMModel)
from transformers.audio_utils import mel_filter_bank, window_function

from sst.errors import UserError

# A checkpoint's config.json ``model_type`` -> the transformers class that serves it as a student.
ENCODER_CLASSES: dict[str, type[PreTrainedModel]] = {
    "wav2vec2": Wav2Vec2Model,
    "hubert": HubertModel,
    "wavlm": WavLMModel,
    "data2vec-audio": Data2VecAudioModel,
    "wav2vec2-bert": Wav2Vec2BertModel,
}
FILTERBANK_TYPES = frozenset({"wav2vec2-bert"})


class UnsupportedEncoderError(UserError):
    """A speech-encoder checkpoint whose ``model_type`` no student class serves (a user error)."""


def encoder_class(model_type: str, source: str) -> type[PreTrainedModel]:
    """The student class of a checkpoint's ``model_type``; ``source`` names the checkpoint in the error."""
    if model_type not in ENCODER_CLASSES:
        raise UnsupportedEncoderError(f"{source}: unsupported speech encoder model_type {model_type!r}; "
                                      f"supported: {', '.join(ENCODER_CLASSES)}")
    return ENCODER_CLASSES[model_type]


def freeze_feature_encoder(backbone: PreTrainedModel) -> None:
    """Freeze the CNN front end of the wav2vec 2.0 family (w2v-BERT has none: nothing to freeze)."""
    if backbone.config.model_type not in FILTERBANK_TYPES:
        backbone.feature_extractor._freeze_parameters()


class StackedFilterbank(nn.Module):
    """What ``SeamlessM4TFeatureExtractor`` computes, in torch over a padded batch: Kaldi-style 80-bin
    log-mel filterbanks (25 ms window, 10 ms shift, povey window, pre-emphasis 0.97, no dither, of the
    waveform scaled to 16-bit range), normalised per utterance and mel bin over its valid frames, then
    stacked by 2 into 160 dims at a 20 ms hop. Written here because the extractor runs on numpy, one
    utterance at a time, off the training device.
    """

    frame_length, hop_length, fft_length, stride = 400, 160, 512, 2
    preemphasis, mel_floor = 0.97, 1.192092955078125e-07

    def __init__(self, num_mel_bins: int = 80, sampling_rate: int = 16000):
        super().__init__()
        # numpy, not buffers: float64 must survive a cast of the model, and nothing here is a weight.
        self._mel = mel_filter_bank(num_frequency_bins=self.fft_length // 2 + 1, num_mel_filters=num_mel_bins,
                                    min_frequency=20, max_frequency=sampling_rate // 2,
                                    sampling_rate=sampling_rate, norm=None, mel_scale="kaldi",
                                    triangularize_in_mel_space=True)
        self._window = window_function(self.frame_length, "povey", periodic=False)

    def frame_counts(self, speech_lengths: torch.Tensor) -> torch.Tensor:
        """Filterbank frames of each utterance (before stacking)."""
        counts = 1 + (speech_lengths - self.frame_length).div(self.hop_length, rounding_mode="floor")
        return counts.clamp(min=0)

    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """speech: (batch, samples) zero-padded -> features (batch, frames, 160) and stacked frame counts."""
        with torch.autocast(speech.device.type, enabled=False):
            counts = self.frame_counts(speech_lengths)
            num_frames = int(counts.max())
            num_frames += num_frames % self.stride
            wave = speech.double() * 2 ** 15
            needed = (num_frames - 1) * self.hop_length + self.frame_length
            wave = nn.functional.pad(wave, (0, max(0, needed - wave.size(1))))
            frames = wave.unfold(1, self.frame_length, self.hop_length)[:, :num_frames]
            frames = frames - frames.mean(dim=-1, keepdim=True)
            frames = torch.cat([frames[..., :1] * (1 - self.preemphasis),
                                frames[..., 1:] - self.preemphasis * frames[..., :-1]], dim=-1)
            frames = frames * torch.from_numpy(self._window).to(frames.device)
            power = torch.fft.rfft(frames, n=self.fft_length).abs() ** 2
            mel = torch.from_numpy(self._mel).to(frames.device)
            features = torch.log((power @ mel).clamp(min=self.mel_floor))
            valid = (torch.arange(num_frames, device=speech.device)[None, :] < counts[:, None])[..., None]
            n = counts.clamp(min=1).double()[:, None, None]
            mean = (features * valid).sum(dim=1, keepdim=True) / n
            var = ((features - mean) * valid).pow(2).sum(dim=1, keepdim=True) / (n - 1).clamp(min=1)
            features = (features - mean) / torch.sqrt(var + 1e-7) * valid
            batch, _, bins = features.shape
            stacked = features.reshape(batch, num_frames // self.stride, bins * self.stride)
        return stacked.to(speech.dtype), counts.div(self.stride, rounding_mode="floor")


class SpeechEncoder(nn.Module):
    """Wraps a HF speech encoder of a supported class (``backbone``); the CNN front end of the wav2vec 2.0
    family is always frozen, as in XLS-R fine-tuning."""

    def __init__(self, backbone: PreTrainedModel, normalize_waveform: bool = True):
        super().__init__()
        self.backbone = backbone
        self.filterbank = StackedFilterbank() if backbone.config.model_type in FILTERBANK_TYPES else None
        # Waveform normalisation is the wav2vec 2.0 family's (do_normalize); filterbanks normalise themselves.
        self.normalize_waveform = normalize_waveform and self.filterbank is None
        freeze_feature_encoder(backbone)

    @property
    def output_dim(self) -> int:
        return self.backbone.config.hidden_size

    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """speech: (batch, samples) padded with zeros -> frames (batch, time, dim) and frame counts."""
        if self.filterbank is not None:
            features, lengths = self.filterbank(speech, speech_lengths)
            mask = torch.arange(features.size(1), device=speech.device)[None, :] < lengths[:, None]
            hidden = self.backbone(features, attention_mask=mask.long()).last_hidden_state
            return hidden, lengths.long()
        valid = torch.arange(speech.size(1), device=speech.device)[None, :] < speech_lengths[:, None]
        if self.normalize_waveform:
            speech = _normalize(speech, valid, speech_lengths)
        hidden = self.backbone(speech, attention_mask=valid.long()).last_hidden_state
        lengths = self.backbone._get_feat_extract_output_lengths(speech_lengths).long()
        return hidden, lengths.clamp(max=hidden.size(1))


def _normalize(speech: torch.Tensor, valid: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over each utterance's valid samples (what Wav2Vec2FeatureExtractor does)."""
    counts = lengths.clamp(min=1).to(speech.dtype)[:, None]
    speech = speech * valid
    mean = speech.sum(dim=1, keepdim=True) / counts
    var = ((speech - mean) * valid).pow(2).sum(dim=1, keepdim=True) / counts
    return (speech - mean) / torch.sqrt(var + 1e-7) * valid
