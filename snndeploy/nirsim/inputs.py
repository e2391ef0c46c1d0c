"""Inputs for running a NIR graph when no dataset fits it: seeded random tensors of the graph's input
shape."""

from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor

from ..errors import InvalidInputError

__all__ = ["input_shape_of", "random_input"]


def input_shape_of(graph: nir.NIRGraph) -> tuple[int, ...]:
    """The shape of one step of one sample, from the graph's single ``Input`` node."""
    inputs = [n for n in graph.nodes.values() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise InvalidInputError(
            f"the graph needs exactly one Input node to infer its input shape, has {len(inputs)}"
        )
    try:
        return tuple(int(v) for v in np.asarray(next(iter(inputs[0].input_type.values()))).reshape(-1))
    except (StopIteration, TypeError, ValueError) as exc:
        raise InvalidInputError(f"the Input node's input_type is not a shape: {exc}") from None


def random_input(
    graph: Any, T: int = 16, batch: int = 64, seed: int = 0, kind: str = "uniform", rate: float = 0.2
) -> Tensor:
    """A seeded random input ``[T, batch, *input_shape]`` for ``graph`` (a ``nir.NIRGraph`` or a shape tuple).

    ``kind="uniform"``: values uniform in [0, 2) (what ``verify --data random`` uses); ``kind="spikes"``:
    Bernoulli spikes with probability ``rate`` (for graphs that expect event input). Used by ``check-nir``
    and by ``energy`` on a NIR file for which no dataset matches.
    """
    shape = input_shape_of(graph) if isinstance(graph, nir.NIRGraph) else tuple(int(s) for s in graph)
    if T < 1 or batch < 1:
        raise InvalidInputError(f"random_input: T and batch must be >= 1, got T={T}, batch={batch}")
    g = torch.Generator().manual_seed(int(seed))
    if kind == "uniform":
        return torch.rand((T, batch, *shape), generator=g) * 2
    if kind == "spikes":
        if not 0.0 <= rate <= 1.0:
            raise InvalidInputError(f"random_input: rate must be in [0, 1], got {rate}")
        return (torch.rand((T, batch, *shape), generator=g) < rate).float()
    raise InvalidInputError(f"random_input: kind must be 'uniform' or 'spikes', got {kind!r}")
