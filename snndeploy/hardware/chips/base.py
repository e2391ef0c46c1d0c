"""What every integer chip model provides, and the registry keyed by hardware target name.

A chip family (``loihi2*.py``, ``xylo*.py``, ``speck*.py``) implements the chip's documented fixed-point
neuron and synapse arithmetic as a batched integer model, maps a float LIF-family model onto the chip's
parameters (``map_model``), runs the vendor's own simulator on the same integer network (``vendor_run``, in
the vendor venv), writes the artifacts the vendor's flow loads (``write_artifacts``) and compares the float
model with its integer network (``compare``). Its ``<chip>_support.py`` module registers one ``ChipSupport``
for the family.

Conventions:
- Integer inputs are time-major ``[T, B, N_in]`` (``np.int64``): events (or graded values) per input channel
  per step.
- A run returns one ``[T, B, N]`` integer spike-count array per neuron layer, in execution order, and, where
  the model exposes them, the states (``v``, ``i``) per layer in the same layout.
- Errors: a parameter the chip cannot represent raises ``ChipMappingError`` naming the layer, the value and
  the limit; a lossy but representable rounding is a ``MappingNote`` (severity ``"warning"``) in the mapping's
  notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ...errors import InvalidParameterError, UnknownNameError

__all__ = [
    "ChipMappingError",
    "MappingNote",
    "ChipRun",
    "ChipNetwork",
    "ChipMapping",
    "LayerMatch",
    "ChipAgreement",
    "ChipSupport",
    "register_chip",
    "get_chip",
    "chips",
]


class ChipMappingError(InvalidParameterError):
    """A float parameter cannot be represented on the chip (the message names the layer, the value and the
    limit)."""


@dataclass(frozen=True)
class MappingNote:
    """One finding of ``map_model``: ``layer``, ``field``, the float ``value``, what it became, the
    ``limit``."""

    layer: str
    field: str
    message: str
    severity: str = "warning"  # "warning" | "info"

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "field": self.field, "message": self.message, "severity": self.severity}


@dataclass(frozen=True)
class ChipRun:
    """The result of running an integer network: spike counts per neuron layer (``[T, B, N]`` int) and
    states."""

    spikes: tuple[np.ndarray, ...]
    states: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray:
        return self.spikes[-1]


class ChipNetwork(Protocol):
    """An integer network of one chip (a frozen dataclass with integer numpy fields, validated on
    construction)."""

    def run(self, x: np.ndarray) -> ChipRun:
        """Simulate ``x`` ``[T, B, N_in]`` (integer events) with the chip's arithmetic, bit for bit."""
        ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ChipMapping:
    """A float model mapped onto a chip: the integer network, how float inputs become integer inputs, notes.

    ``encode(x)`` turns a float input batch ``[T, B, *]`` (the float model's input) into the integer network's
    input ``[T, B, N_in]``; ``notes`` lists every rounding or clipping that changed a value (per layer and
    field).
    """

    chip: str
    network: Any
    encode: Callable[[Any], np.ndarray]
    notes: tuple[MappingNote, ...] = ()

    @property
    def warnings(self) -> list[MappingNote]:
        return [n for n in self.notes if n.severity == "warning"]


@dataclass(frozen=True)
class LayerMatch:
    """One neuron layer, float model vs integer chip model on the same inputs: firing rates (spikes per
    neuron-step), the fraction of identical neuron-steps, and where they first differ."""

    layer: str
    rate_float: float
    rate_chip: float
    agreement: float
    first_divergence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class ChipAgreement:
    """Float model vs its integer chip model: every neuron layer, and accuracies ``(float, chip)`` with
    labels."""

    layers: tuple[LayerMatch, ...]
    accuracy: tuple[float, float] | None = None

    @property
    def spike_agreement(self) -> float:
        """Mean over the layers of the fraction of identical neuron-steps (1.0 with no layer)."""
        return float(np.mean([la.agreement for la in self.layers])) if self.layers else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"spike_agreement": self.spike_agreement, "layers": [la.to_dict() for la in self.layers],
                "accuracy": {"float": self.accuracy[0], "chip": self.accuracy[1]} if self.accuracy else None}


@dataclass(frozen=True)
class ChipSupport:
    """What one chip family provides (registered per family, looked up by target name).

    Attributes:
        name: the family (``loihi2``, ``xylo``, ``speck``).
        targets: hardware target names served (``snndeploy.hardware.targets``), e.g. ``("xylo_audio2", ...)``.
        vendor_env: the vendor venv that holds its simulator (``snndeploy.hardware.vendor``).
        simulator: what the vendor reference is, in words (shown in every report).
        map_model: ``(model, calibration_x, target) -> ChipMapping``.
        vendor_run: ``(network, x) -> ChipRun`` through the vendor's own code.
        write_artifacts: ``(network, out_dir) -> list[Path]``: files the vendor's flow loads.
        compare: ``(mapping, model, x, labels) -> ChipAgreement``: the float model vs the integer network on
            the same inputs (``x`` the float model's input ``[T, B, *]``; ``labels`` ``[B]`` or ``None``).
    """

    name: str
    targets: tuple[str, ...]
    vendor_env: str
    simulator: str
    map_model: Callable[..., ChipMapping]
    vendor_run: Callable[[Any, np.ndarray], ChipRun]
    write_artifacts: Callable[[Any, Path], list[Path]]
    compare: Callable[..., ChipAgreement]


_CHIPS: dict[str, ChipSupport] = {}


def register_chip(support: ChipSupport) -> ChipSupport:
    for t in support.targets:
        if t in _CHIPS:
            raise RuntimeError(f"target {t!r} already has a chip model: {_CHIPS[t].name}")
    for t in support.targets:
        _CHIPS[t] = support
    return support


def _load_builtin() -> None:
    import importlib
    import pkgutil

    package = __name__.rpartition(".")[0]
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name.endswith("_support"):  # each chip registers itself from its <chip>_support module
            importlib.import_module(f"{package}.{mod.name}")


def chips() -> dict[str, ChipSupport]:
    """Target name → chip support, for every built-in chip model."""
    _load_builtin()
    return dict(_CHIPS)


def get_chip(target: str) -> ChipSupport:
    """The chip model serving hardware target ``target`` (e.g. ``xylo_audio2``)."""
    _load_builtin()
    try:
        return _CHIPS[target]
    except KeyError:
        raise UnknownNameError(
            f"no integer chip model for target {target!r}; chip models exist for: "
            f"{', '.join(sorted(_CHIPS)) or 'none'}"
        ) from None
