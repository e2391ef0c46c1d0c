"""Building blocks every model is made of, so that exporters, energy counters and verify can walk any model.

A model is an ``nn.Sequential``-like tree of exactly these pieces:
- ``TimeDistributed(layer)``: a stateless torch layer (Linear, Conv2d, BatchNorm1d/2d, AvgPool2d, Flatten,
  Dropout, Identity) applied to every time step: ``[T, B, *] → layer([T·B, *]) → [T, B, *']``.
- a neuron module (``snndeploy.neurons``): ``[T, B, *] → spikes [T, B, *]``.
- ``Residual(main, shortcut)``: ``main(x) + shortcut(x)`` on a real-valued stream (spiking ResNets).
- ``nn.Sequential`` of the above.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import InvalidInputError

__all__ = ["TimeDistributed", "Residual"]


class TimeDistributed(nn.Module):
    """Apply a stateless ``layer`` to every time step at once by merging T into the batch.

    BatchNorm statistics are therefore taken over T·B samples (as spikingjelly's ``SeqToANNContainer``).
    """

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise InvalidInputError(f"{type(self.layer).__name__}: input must be [T, B, *], got shape "
                                    f"{tuple(x.shape)}")
        T, B = x.shape[:2]
        y = self.layer(x.flatten(0, 1))
        return y.reshape(T, B, *y.shape[1:])


class Residual(nn.Module):
    """``main(x) + shortcut(x)``; ``shortcut=None`` means identity."""

    def __init__(self, main: nn.Module, shortcut: nn.Module | None = None):
        super().__init__()
        self.main = main
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x) + self.shortcut(x)
