"""Pre-activation spiking ResNet-18 / ResNet-19 of the CLIF / ILIF repos (CLIF: ``models/spiking_resnet.py``,
``PreActResNet`` with ``PreActBlock``).

Direct encoding (the image is fed every step); the residual stream between blocks is real-valued (sums of conv
outputs); every block is BN → neuron → [conv3×3 → BN → neuron → (dropout) → conv3×3] + shortcut, where the
shortcut (identity, or a 1×1 conv when the shape changes) takes the block's *spikes*, exactly as in the repo:

    s = neuron(BN1(x));   y = conv2(neuron(BN2(conv1(s)))) + shortcut(s)

Network: conv3×3 stem (no BN, no neuron) → stages → BN → neuron → global average pool → Linear, a classifier
output every step.
- ``resnet18``: stages of 2, 2, 2, 2 blocks, 64/128/256/512 channels, strides 1/2/2/2 (CLIF repo).
- ``resnet19``: stages of 3, 3, 2 blocks, 128/256/512 channels, strides 1/2/2 (the ResNet-19 stage layout of
  TDBN/TET used by the ILIF paper), built from the same pre-activation blocks; the TDBN classifier's extra
  256-unit spiking hidden layer is not included (global pool → Linear, as in ResNet-18).
``width`` scales every channel count (``width=1/16`` gives a tiny net for tests).
"""

from __future__ import annotations

from torch import nn

from .config import ModelConfig
from .layers import Residual, TimeDistributed
from .registry import NeuronFactory, register_model
from .vgg import check_image_shape

__all__ = ["build_resnet18", "build_resnet19", "preact_block", "build_preact_resnet"]


def preact_block(c_in: int, c_out: int, stride: int, neuron: NeuronFactory, dropout: float) -> nn.Sequential:
    """One pre-activation basic block: ``[T, B, c_in, H, W]`` (real) → ``[T, B, c_out, H/stride, W/stride]``
    (real)."""
    main: list[nn.Module] = [
        TimeDistributed(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)),
        TimeDistributed(nn.BatchNorm2d(c_out)),
        neuron(),
    ]
    if dropout:
        main.append(TimeDistributed(nn.Dropout(dropout)))
    main.append(TimeDistributed(nn.Conv2d(c_out, c_out, 3, stride=1, padding=1)))
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = TimeDistributed(nn.Conv2d(c_in, c_out, 1, stride=stride, padding=0))
    return nn.Sequential(
        TimeDistributed(nn.BatchNorm2d(c_in)),
        neuron(),
        Residual(nn.Sequential(*main), shortcut),
    )


def build_preact_resnet(
    config: ModelConfig,
    neuron: NeuronFactory,
    blocks: tuple[int, ...],
    channels: tuple[int, ...],
    strides: tuple[int, ...],
) -> nn.Sequential:
    """Stem conv → stages of ``preact_block`` → BN → neuron → AvgPool(whole map) → Flatten → Linear."""
    c, h, w = check_image_shape(config)
    widths = [config.scaled(ch) for ch in channels]
    layers: list[nn.Module] = [TimeDistributed(nn.Conv2d(c, widths[0], 3, stride=1, padding=1, bias=False))]
    c = widths[0]
    for n_blocks, out, stride in zip(blocks, widths, strides, strict=True):
        for i in range(n_blocks):
            s = stride if i == 0 else 1
            layers.append(preact_block(c, out, s, neuron, config.dropout))
            h, w = (h - 1) // s + 1, (w - 1) // s + 1  # conv3×3, padding 1, stride s
            c = out
    layers += [
        TimeDistributed(nn.BatchNorm2d(c)),
        neuron(),
        TimeDistributed(nn.AvgPool2d((h, w))),
        TimeDistributed(nn.Flatten()),
    ]
    if config.dropout:
        layers.append(TimeDistributed(nn.Dropout(config.dropout)))
    layers.append(TimeDistributed(nn.Linear(c, config.num_classes)))
    model = nn.Sequential(*layers)
    for m in model.modules():  # the repo's initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
    return model


@register_model("resnet18")
def build_resnet18(config: ModelConfig, neuron: NeuronFactory) -> nn.Sequential:
    """Pre-activation spiking ResNet-18 (CLIF repo ``spiking_resnet18``)."""
    return build_preact_resnet(config, neuron, (2, 2, 2, 2), (64, 128, 256, 512), (1, 2, 2, 2))


@register_model("resnet19")
def build_resnet19(config: ModelConfig, neuron: NeuronFactory) -> nn.Sequential:
    """Pre-activation spiking ResNet-19: 3, 3, 2 blocks of 128/256/512 channels."""
    return build_preact_resnet(config, neuron, (3, 3, 2), (128, 256, 512), (1, 2, 2))
