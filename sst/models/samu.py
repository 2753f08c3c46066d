"""SAMU-XLS-R: a speech encoder (XLS-R or another student) distilled toward a sentence-embedding teacher."""
from __future__ import annotations

import logging
from typing import Sequence

import torch
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel
from torch import nn

from sst.models import freezing
from sst.models.architectures import XLSR_300M
from sst.models.pooling import AttentionPooling
from sst.models.pretrained import load_speech_encoder, normalizes_waveform
from sst.models.speech_encoder import SpeechEncoder


class SamuModel(AbsESPnetModel):
    """XLS-R -> attention pooling -> linear to the teacher size -> tanh; loss = 1 - cosine(student, teacher).

    The teacher embeddings are inputs (computed once in stage 2), never a module of this model.
    """

    def __init__(
        self,
        encoder_model: str = XLSR_300M,
        teacher_dim: int = 768,
        pooling_dim: int = 256,
        pretrained: bool = True,
        freeze: Sequence[str] = (),
        keep_trainable: Sequence[str] = (),
        normalize_waveform: bool | None = None,
        mask_time_prob: float = 0.05,
        mask_time_length: int = 10,
        layerdrop: float = 0.05,
    ):
        super().__init__()
        self.encoder = student_encoder(encoder_model, pretrained, freeze, keep_trainable, normalize_waveform,
                                       mask_time_prob, mask_time_length, layerdrop)
        self.pooling = AttentionPooling(self.encoder.output_dim, pooling_dim)
        self.projection = nn.Linear(self.encoder.output_dim, teacher_dim)

    def embed(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> torch.Tensor:
        """Utterance embeddings in the teacher's space, (batch, teacher_dim), in [-1, 1]."""
        frames, lengths = self.encoder(speech, speech_lengths)
        return torch.tanh(self.projection(self.pooling(frames, lengths)))

    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor, teacher: torch.Tensor,
                **kwargs) -> tuple[torch.Tensor, dict, torch.Tensor]:
        student = self.embed(speech, speech_lengths)
        cosine = nn.functional.cosine_similarity(student, teacher.to(student.dtype), dim=-1)
        loss = (1.0 - cosine).mean()
        stats = {"loss": loss.detach(), "cosine": cosine.mean().detach()}
        return force_gatherable((loss, stats, torch.tensor(speech.size(0))), loss.device)

    def collect_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs) -> dict:
        return {}


def student_encoder(encoder_model: str, pretrained: bool, freeze: Sequence[str], keep_trainable: Sequence[str],
                    normalize_waveform: bool | None, mask_time_prob: float, mask_time_length: int,
                    layerdrop: float) -> SpeechEncoder:
    """The student of stage 3 (either objective): the encoder checkpoint with SpecAugment-style masking and
    layerdrop, its frozen groups frozen; waveforms normalised as its feature extractor does unless
    ``normalize_waveform`` says otherwise."""
    backbone = load_speech_encoder(encoder_model, pretrained=pretrained, mask_time_prob=mask_time_prob,
                                   mask_time_length=mask_time_length, layerdrop=layerdrop)
    if normalize_waveform is None:
        normalize_waveform = normalizes_waveform(encoder_model)
    encoder = SpeechEncoder(backbone, normalize_waveform)
    freeze_encoder_groups(encoder, freeze, keep_trainable)
    return encoder


def freeze_encoder_groups(encoder: SpeechEncoder, frozen: Sequence[str], keep_trainable: Sequence[str]) -> None:
    """Freeze groups of the speech encoder: ``feature_projection``, ``encoder`` (all transformer or
    conformer layers) or ``layers.N`` for single layers; a CNN feature encoder is always frozen."""
    backbone = encoder.backbone
    groups = {"feature_projection": backbone.feature_projection, "encoder": backbone.encoder}
    groups.update({f"layers.{i}": layer for i, layer in enumerate(backbone.encoder.layers)})
    freezing.freeze(groups, frozen, keep_trainable)
    if frozen:
        logging.info("frozen encoder groups: %s", ", ".join(frozen))
