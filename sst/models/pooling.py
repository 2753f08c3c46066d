"""Attention pooling of a padded frame sequence into one vector per utterance.

Hand-written: neither torch nor transformers has a masked attention-pooling layer.
"""
from __future__ import annotations

import torch
from torch import nn


class AttentionPooling(nn.Module):
    """Score every frame with a small MLP, softmax over the valid frames, return the weighted mean."""

    def __init__(self, input_dim: int, attention_dim: int = 256):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(input_dim, attention_dim), nn.Tanh(),
                                   nn.Linear(attention_dim, 1))

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """frames: (batch, time, dim); lengths: (batch,) valid frame counts -> (batch, dim)."""
        scores = self.score(frames).squeeze(-1)
        valid = torch.arange(frames.size(1), device=frames.device)[None, :] < lengths[:, None]
        scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        return torch.einsum("bt,btd->bd", weights, frames)
