"""Length adaptor: strided 1-D convolutions that shorten the speech frame sequence for the decoder."""
from __future__ import annotations

import torch
from torch import nn


class LengthAdaptor(nn.Module):
    """``num_layers`` Conv1d(kernel, stride 2) + GLU blocks; each halves the frame rate.

    The first block maps the encoder width to the decoder width.
    """

    def __init__(self, input_dim: int, output_dim: int, num_layers: int = 3, kernel_size: int = 3):
        super().__init__()
        self.kernel_size = kernel_size
        self.convs = nn.ModuleList(
            nn.Conv1d(input_dim if i == 0 else output_dim, 2 * output_dim, kernel_size,
                      stride=2, padding=kernel_size // 2)
            for i in range(num_layers)
        )

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames: (batch, time, input_dim) -> (batch, time', output_dim) and the new lengths."""
        hidden = frames.transpose(1, 2)
        for conv in self.convs:
            valid = torch.arange(hidden.size(2), device=hidden.device)[None, :] < lengths[:, None]
            hidden = nn.functional.glu(conv(hidden * valid[:, None, :]), dim=1)
            lengths = torch.div(lengths + 2 * (self.kernel_size // 2) - self.kernel_size, 2,
                                rounding_mode="floor") + 1
        return hidden.transpose(1, 2), lengths
