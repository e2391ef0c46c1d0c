"""Shared test fixtures: fixed seeds and a factory for neuron layers (kept small on purpose)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from snndeploy.neurons import NEURONS, NeuronModule


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same torch RNG state (deterministic inputs, reproducible failures)."""
    torch.manual_seed(0)


@pytest.fixture
def neuron_factory() -> Callable[..., NeuronModule]:
    """``neuron_factory(name, **kwargs)`` builds a neuron layer by registry name (``lif``, ``clif``, ``klif``,
    ``ilif``); keyword arguments go to its constructor (``backend="torch"`` unless given)."""

    def make(name: str, **kwargs: Any) -> NeuronModule:
        kwargs.setdefault("backend", "torch")
        return NEURONS[name](**kwargs)

    return make
