"""A Wav2Vec2 (XLS-R) encoder over padded raw waveforms: normalisation, masks and frame lengths."""
from __future__ import annotations

import torch
from torch import nn
from transformers import Wav2Vec2Model


class SpeechEncoder(nn.Module):
    """Wraps a HF ``Wav2Vec2Model``; the CNN feature encoder is always frozen, as in XLS-R fine-tuning."""

    def __init__(self, wav2vec2: Wav2Vec2Model, normalize_waveform: bool = True):
        super().__init__()
        self.wav2vec2 = wav2vec2
        self.normalize_waveform = normalize_waveform
        wav2vec2.freeze_feature_encoder()

    @property
    def output_dim(self) -> int:
        return self.wav2vec2.config.hidden_size

    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """speech: (batch, samples) padded with zeros -> frames (batch, time, dim) and frame counts."""
        valid = torch.arange(speech.size(1), device=speech.device)[None, :] < speech_lengths[:, None]
        if self.normalize_waveform:
            speech = _normalize(speech, valid, speech_lengths)
        hidden = self.wav2vec2(speech, attention_mask=valid.long()).last_hidden_state
        lengths = self.wav2vec2._get_feat_extract_output_lengths(speech_lengths).long()
        return hidden, lengths.clamp(max=hidden.size(1))


def _normalize(speech: torch.Tensor, valid: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over each utterance's valid samples (what Wav2Vec2FeatureExtractor does)."""
    counts = lengths.clamp(min=1).to(speech.dtype)[:, None]
    speech = speech * valid
    mean = speech.sum(dim=1, keepdim=True) / counts
    var = ((speech - mean) * valid).pow(2).sum(dim=1, keepdim=True) / counts
    return (speech - mean) / torch.sqrt(var + 1e-7) * valid
