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


@pytest.fixture
def vendor_python() -> Callable[[str], Any]:
    """``vendor_python(name)``: the python of vendor venv ``name`` (``lava``, ``xylosim``, ``sinabs``), or a
    skip when it is not built. Under ``SNNDEPLOY_REQUIRE_VENDOR=1`` (``make test``, CI) a missing venv fails
    the test instead."""
    import os

    from snndeploy.hardware.vendor import find_env, vendor_home

    def get(name: str) -> Any:
        python = find_env(name)
        if python is None:
            msg = (f"vendor venv {name!r} is not built in {vendor_home()} "
                   f"(run `snndeploy vendor setup {name}`)")
            if os.environ.get("SNNDEPLOY_REQUIRE_VENDOR") == "1":
                pytest.fail(msg)
            pytest.skip(msg)
        return python

    return get
