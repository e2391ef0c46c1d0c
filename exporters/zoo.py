"""Tiny models of every kind (MLP, conv with BN and pooling, residual) for tests, examples and demos.

Built only from ``snndeploy.models.layers`` pieces, so they exercise exactly what the exporters accept.
BatchNorm running statistics are randomised so that folding them is not a no-op.
"""

from __future__ import annotations

import torch
from torch import nn

from snndeploy.errors import UnknownNameError
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.neurons import make_neuron

__all__ = ["KINDS", "tiny_model", "input_shape_of"]

KINDS = ("mlp", "conv", "residual")
_SHAPES = {"mlp": (6,), "conv": (2, 8, 8), "residual": (2, 8, 8)}


def input_shape_of(kind: str) -> tuple[int, ...]:
    """Input shape (one step, one sample) of ``tiny_model(kind, ...)``."""
    if kind not in _SHAPES:
        raise UnknownNameError(f"unknown tiny model kind {kind!r}; known: {', '.join(KINDS)}")
    return _SHAPES[kind]


def _randomise_bn(model: nn.Module, gen: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) * 0.4 - 0.1)


@torch.no_grad()
def tiny_model(kind: str, neuron: str = "lif", batch_norm: bool = True, seed: int = 0, width: int = 8,
               **neuron_kwargs) -> nn.Sequential:
    """A small model of ``kind`` (``mlp``, ``conv``, ``residual``) with ``neuron`` layers, in eval mode.

    Maps ``[T, B, *input_shape_of(kind)]`` to logits ``[T, B, 3]``.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    def nrn() -> nn.Module:
        return make_neuron(neuron, **neuron_kwargs)

    def bn(n: int, two_d: bool) -> list[nn.Module]:
        if not batch_norm:
            return []
        return [TimeDistributed(nn.BatchNorm2d(n) if two_d else nn.BatchNorm1d(n))]

    layers: list[nn.Module]
    if kind == "mlp":
        layers = [TimeDistributed(nn.Linear(6, 2 * width)), *bn(2 * width, False), nrn(),
                  TimeDistributed(nn.Linear(2 * width, width)), nrn(), TimeDistributed(nn.Dropout(0.1)),
                  TimeDistributed(nn.Linear(width, 3))]
    elif kind == "conv":
        c = width // 2
        layers = [TimeDistributed(nn.Conv2d(2, c, 3, padding=1, bias=not batch_norm)), *bn(c, True), nrn(),
                  TimeDistributed(nn.AvgPool2d(2)), TimeDistributed(nn.Conv2d(c, width, 3, padding=1)), nrn(),
                  TimeDistributed(nn.AvgPool2d(2)), TimeDistributed(nn.Flatten()),
                  TimeDistributed(nn.Linear(width * 4, 3))]
    elif kind == "residual":
        c = width // 2

        def block(cin: int, cout: int, stride: int) -> Residual:
            main = nn.Sequential(TimeDistributed(nn.Conv2d(cin, cout, 3, stride, 1, bias=False)),
                                 *bn(cout, True), nrn(),
                                 TimeDistributed(nn.Conv2d(cout, cout, 3, 1, 1, bias=False)), *bn(cout, True))
            short: nn.Module | None = None
            if stride != 1 or cin != cout:
                short = nn.Sequential(TimeDistributed(nn.Conv2d(cin, cout, 1, stride, bias=False)),
                                      *bn(cout, True))
            return Residual(main, short)

        layers = [TimeDistributed(nn.Conv2d(2, c, 3, padding=1, bias=False)), *bn(c, True), nrn(),
                  block(c, c, 1), nrn(), block(c, width, 2), nrn(), TimeDistributed(nn.AvgPool2d(2)),
                  TimeDistributed(nn.Flatten()), TimeDistributed(nn.Linear(width * 4, 3))]
    else:
        raise UnknownNameError(f"unknown tiny model kind {kind!r}; known: {', '.join(KINDS)}")
    model = nn.Sequential(*layers)
    for m in model.modules():  # weights large enough that every layer spikes
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.weight.mul_(3.0)
    _randomise_bn(model, gen)
    return model.eval()

