"""Spiking MLP: ``[Flatten] → (Linear → [BatchNorm1d] → neuron) × depth → Linear``, every layer per time step.

With mnist1d (``input_shape=(1,)``, T = 40) the network sees one sample value per step, so all memory of the
sequence lives in the neurons' states — a temporal task. With digits (``(1, 8, 8)``) the image is flattened
and fed every step (direct encoding).
"""

from __future__ import annotations

import math

from torch import nn

from .config import ModelConfig
from .layers import TimeDistributed
from .registry import NeuronFactory, register_model

__all__ = ["build_mlp"]


@register_model("mlp")
def build_mlp(config: ModelConfig, neuron: NeuronFactory) -> nn.Sequential:
    """Spiking MLP with ``depth`` (default 2) hidden layers of ``128·width`` neurons."""
    hidden = config.scaled(128)
    depth = config.depth or 2
    layers: list[nn.Module] = []
    if len(config.input_shape) > 1:
        layers.append(TimeDistributed(nn.Flatten()))
    n_in = math.prod(config.input_shape)
    for _ in range(depth):
        layers.append(TimeDistributed(nn.Linear(n_in, hidden, bias=not config.batch_norm)))
        if config.batch_norm:
            layers.append(TimeDistributed(nn.BatchNorm1d(hidden)))
        layers.append(neuron())
        n_in = hidden
    if config.dropout:
        layers.append(TimeDistributed(nn.Dropout(config.dropout)))
    layers.append(TimeDistributed(nn.Linear(n_in, config.num_classes)))
    return nn.Sequential(*layers)
