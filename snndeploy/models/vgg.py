"""VGG-style spiking CNN: ``(Conv3×3 → BatchNorm2d → neuron)`` stages with 2×2 average pooling, then a linear
classifier; the image is fed every step (direct encoding).

- ``vgg``: a small net, ``depth`` (default 3) stages of one conv with ``32·2^i·width`` channels.
- ``vgg11``: the VGG-11 shape of the CLIF repo's ``spiking_vgg11_bn`` (``models/spiking_vgg_bn.py``):
  (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M), conv-BN-neuron per layer, 2×2 average pooling.
  Differences from the repo: convs have no bias (the BatchNorm that follows cancels any bias), and the
  classifier is Flatten → Linear over the final map instead of the repo's ``AdaptiveAvgPool2d((7, 7))`` →
  Linear(512·49) (on 32×32 input the final map is 1×1, which the repo replicates 49 times); dropout, when
  asked, sits before the classifier only.
Pooling is average pooling (as in the repo; also the one with a hardware/NIR form) and is skipped once the
feature map is 1×1, so the same shape works on 8×8 digits and 32×32 CIFAR.
"""

from __future__ import annotations

from torch import nn

from ..errors import InvalidParameterError
from .config import ModelConfig
from .layers import TimeDistributed
from .registry import NeuronFactory, register_model

__all__ = ["build_vgg", "build_vgg11", "VGG11_CFG", "conv_bn_neuron", "check_image_shape"]

VGG11_CFG: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def check_image_shape(config: ModelConfig) -> tuple[int, int, int]:
    """The (C, H, W) of ``config.input_shape``, or an error naming it."""
    if len(config.input_shape) != 3:
        raise InvalidParameterError(
            f"model {config.model!r} needs an image input_shape (C, H, W), got {config.input_shape}"
        )
    c, h, w = config.input_shape
    return c, h, w


def conv_bn_neuron(c_in: int, c_out: int, neuron: NeuronFactory, stride: int = 1) -> list[nn.Module]:
    """Conv3×3 (no bias: BatchNorm follows) → BatchNorm2d → neuron."""
    return [
        TimeDistributed(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)),
        TimeDistributed(nn.BatchNorm2d(c_out)),
        neuron(),
    ]


def _vgg(config: ModelConfig, neuron: NeuronFactory, cfg: tuple[int | str, ...]) -> nn.Sequential:
    c, h, w = check_image_shape(config)
    layers: list[nn.Module] = []
    for item in cfg:
        if item == "M":
            if min(h, w) >= 2:
                layers.append(TimeDistributed(nn.AvgPool2d(2)))
                h, w = h // 2, w // 2
            continue
        out = config.scaled(int(item))
        layers += conv_bn_neuron(c, out, neuron)
        c = out
    layers.append(TimeDistributed(nn.Flatten()))
    if config.dropout:
        layers.append(TimeDistributed(nn.Dropout(config.dropout)))
    layers.append(TimeDistributed(nn.Linear(c * h * w, config.num_classes)))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model


@register_model("vgg")
def build_vgg(config: ModelConfig, neuron: NeuronFactory) -> nn.Sequential:
    """Small VGG: ``depth`` (default 3) stages ``conv(32·2^i·width) → BN → neuron → avgpool``."""
    depth = config.depth or 3
    cfg: list[int | str] = []
    for i in range(depth):
        cfg += [32 * 2**i, "M"]
    return _vgg(config, neuron, tuple(cfg))


@register_model("vgg11")
def build_vgg11(config: ModelConfig, neuron: NeuronFactory) -> nn.Sequential:
    """VGG-11 with BatchNorm (CLIF repo ``spiking_vgg11_bn`` layer shape), widths × ``width``."""
    return _vgg(config, neuron, VGG11_CFG)

