"""Chip-shaped spiking networks: what ``snndeploy train --target`` builds for chips that read spikes.

Both builders make networks that a neuromorphic chip can run as they are: no BatchNorm, no biases, sum pooling
instead of average pooling, and a neuron layer on the outputs (the prediction is the output neurons' spike
count over T, ``argmax_c Σ_t S_c[t]``, so the model returns spikes ``[T, B, num_classes]`` in place of
logits).

- ``chip_mlp``: ``[Flatten] (Linear(bias=False) → neuron) × depth → Linear(bias=False) → neuron``, hidden size
  ``128·width``, ``depth`` default 2 (Xylo: hidden layers stacked in its recurrent population, a spiking
  readout). The output neurons fire at most once per step (Xylo's readout): a multi-spike neuron (``IAF``,
  ``CubaLIF``) gets ``max_spikes=1`` there.
- ``chip_cnn``: ``(Conv3×3(bias=False, padding 1) → neuron → SumPool2) × depth`` with ``32·2^i·width``
  channels,
  ``depth`` default 2, then ``Flatten → Linear(bias=False) → neuron`` (Speck: one DYNAP-CNN core per stage,
  Conv → IAF → sum pooling; the Linear becomes a conv whose kernel is the whole map). SumPool2 is
  ``AvgPool2d(2, divisor_override=1)``: the sum of each 2×2 window (sinabs ``SumPool2d``); it is skipped once
  the map is 1×1.

``batch_norm`` is ignored, as by the CNN builders: a chip has no BatchNorm (a model trained with it needs a
fold before the hand-off, which is what ``snndeploy deploy`` does).
"""

from __future__ import annotations

import math

from torch import nn

from .config import ModelConfig
from .layers import TimeDistributed
from .registry import NeuronFactory, register_model
from .vgg import check_image_shape

__all__ = ["build_chip_mlp", "build_chip_cnn", "sum_pool"]


def sum_pool(k: int = 2) -> nn.AvgPool2d:
    """k×k sum pooling, stride k: ``AvgPool2d`` with ``divisor_override=1`` (the form the Speck mapper and the
    hardware checks read as a sum pool)."""
    return nn.AvgPool2d(k, stride=k, divisor_override=1)


@register_model("chip_mlp")
def build_chip_mlp(config: ModelConfig, neuron: NeuronFactory) -> nn.Sequential:
    """Spiking MLP with ``depth`` (default 2) hidden layers of ``128·width`` neurons and output neurons."""
    hidden = config.scaled(128)
    layers: list[nn.Module] = []
    if len(config.input_shape) > 1:
        layers.append(TimeDistributed(nn.Flatten()))
    n_in = math.prod(config.input_shape)
    for _ in range(config.depth or 2):
        layers += [TimeDistributed(nn.Linear(n_in, hidden, bias=False)), neuron()]
        n_in = hidden
    if config.dropout:
        layers.append(TimeDistributed(nn.Dropout(config.dropout)))
    layers += [TimeDistributed(nn.Linear(n_in, config.num_classes, bias=False)), _readout(config, neuron)]
    return _init(nn.Sequential(*layers))


def _readout(config: ModelConfig, neuron: NeuronFactory) -> nn.Module:
    """The output neuron layer of ``chip_mlp``: at most one spike per step, like Xylo's readout neurons (a
    neuron
    with a ``max_spikes`` parameter gets ``max_spikes=1``; same backend as the factory's)."""
    out = neuron()
    params = out.params() if hasattr(out, "params") else None
    if getattr(params, "max_spikes", 1) == 1:
        return out
    from ..neurons import make_neuron

    kwargs = {**config.neuron_kwargs, "max_spikes": 1}
    return make_neuron(config.neuron, backend=getattr(out, "backend", "auto"), **kwargs)


@register_model("chip_cnn")
def build_chip_cnn(config: ModelConfig, neuron: NeuronFactory) -> nn.Sequential:
    """``depth`` (default 2) stages conv(32·2^i·width) → neuron → SumPool2, then Linear → output neurons."""
    c, h, w = check_image_shape(config)
    layers: list[nn.Module] = []
    for i in range(config.depth or 2):
        out = config.scaled(32 * 2**i)
        layers += [TimeDistributed(nn.Conv2d(c, out, 3, padding=1, bias=False)), neuron()]
        if min(h, w) >= 2:
            layers.append(TimeDistributed(sum_pool(2)))
            h, w = h // 2, w // 2
        c = out
    layers.append(TimeDistributed(nn.Flatten()))
    if config.dropout:
        layers.append(TimeDistributed(nn.Dropout(config.dropout)))
    layers += [TimeDistributed(nn.Linear(c * h * w, config.num_classes, bias=False)), neuron()]
    return _init(nn.Sequential(*layers))


def _init(model: nn.Sequential) -> nn.Sequential:
    """Normal weights with std 2·√(2/fan_in). Without biases or BatchNorm, torch's default (uniform, std
    √(1/(3·fan_in))) and even He's √(2/fan_in) leave the deeper layers of a fresh net below threshold: binary
    spikes at rate r give a drive of std σ_w·√(fan_in·r), below θ = 1 at r ≈ 0.2. Measured on N(0, 9) inputs
    at width 1/16 (8 hidden neurons), T = 3: the output layers of both builders fire for LIF, CLIF, ILIF and
    KLIF
    with the factor 2, not with 1 (chip_mlp's outputs stay silent, and a spike-count loss has no gradient)."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            m.weight.data.mul_(2.0)
    return model
