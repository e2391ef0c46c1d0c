"""Neuron names → module classes, for builders, configs and the CLI."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidParameterError
from ..registry import Registry
from .base import NeuronModule
from .clif import CLIF
from .cubalif import CubaLIF
from .iaf import IAF
from .ilif import ILIF
from .klif import KLIF
from .lif import LIF

__all__ = ["NEURONS", "make_neuron"]

NEURONS: Registry[str, type[NeuronModule]] = Registry("neuron")
for _cls in (LIF, CLIF, KLIF, ILIF, IAF, CubaLIF):
    NEURONS.add(_cls.neuron_name, _cls)


def make_neuron(name: str, **kwargs: Any) -> NeuronModule:
    """Build a neuron layer by name (``lif``, ``clif``, ``klif``, ``ilif``, ``iaf``, ``cubalif``) with keyword
    parameters."""
    cls = NEURONS.get(str(name))
    try:
        return cls(**kwargs)
    except TypeError as exc:  # an unexpected keyword: name it
        raise InvalidParameterError(f"neuron {name!r}: {exc}") from exc
