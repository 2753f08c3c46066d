"""Bottleneck adapters attached to the layers of a frozen HF transformer.

Adapters live in their own ModuleList and are applied by forward hooks on each layer, so the
pretrained model keeps its exact module tree (its state dict and ``save_pretrained`` stay HF's).
Written here because transformers ships no bottleneck adapter for arbitrary layers.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


class BottleneckAdapter(nn.Module):
    """LayerNorm -> down-projection -> ReLU -> up-projection, added back to its input.

    The up-projection starts at zero, so a freshly attached adapter leaves the layer unchanged.
    """

    def __init__(self, model_dim: int, bottleneck_dim: int, dropout: float = 0.1):
        super().__init__()
        self.layer_norm = nn.LayerNorm(model_dim)
        self.down = nn.Linear(model_dim, bottleneck_dim)
        self.up = nn.Linear(bottleneck_dim, model_dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.dropout(self.up(torch.relu(self.down(self.layer_norm(hidden)))))


def attach_adapters(layers: Iterable[nn.Module], model_dim: int, bottleneck_dim: int,
                    dropout: float = 0.1) -> nn.ModuleList:
    """Create one adapter per layer and hook it onto that layer's output; returns the adapters.

    The caller must keep the returned ModuleList as a submodule so the adapters are trained and saved.
    """
    adapters = nn.ModuleList()
    for layer in layers:
        adapter = BottleneckAdapter(model_dim, bottleneck_dim, dropout)
        layer.register_forward_hook(_apply_adapter_hook(adapter))
        adapters.append(adapter)
    return adapters


def _apply_adapter_hook(adapter: BottleneckAdapter):
    """A hook adapting the layer's hidden states: the output itself, or the first item of a tuple.

    Depending on the transformers version a layer returns its hidden states alone or as
    ``(hidden_states, attentions, ...)``; the other items pass through unchanged.
    """
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor | tuple) -> torch.Tensor | tuple:
        if isinstance(output, tuple):
            return (adapter(output[0]), *output[1:])
        return adapter(output)

    return hook
