"""Energy profiles: per-operation energies with a source for every number, kept as TOML data files.

A profile file (see ``snndeploy/energy/profiles/*.toml``)::

    name = "cmos45_fp32"                      # identifier, [a-z0-9_]
    title = "45 nm CMOS, fp32 (Horowitz 2014)"
    basis = "circuit-estimate"                # circuit-estimate | pre-silicon | silicon-measured
    description = "..."
    included = []                             # terms already inside the per-op figures: "neuron", "other"

    [costs.ac]                                # one table per priced operation, in picojoules
    pj = 0.9
    source = "Horowitz, ISSCC 2014: 32-bit float add, 45 nm, 0.9 V"
    assumption = false                        # optional: true when the number is a stated assumption
    note = "..."                              # optional

    [memory]                                  # optional: the data-movement term
    description = "what is and is not modelled"
    weight_bits = 32                          # one weight (bias too)
    state_bits = 32                           # one neuron state variable
    spike_bits = 32                           # one spike / input event (an address event)
    value_bits = 32                           # one real-valued input element
    fifo_events = 1000                        # spike/event FIFO depth (prices spikes and events by its size)
    included = []                             # components inside the per-op figures (chips)

    [memory.prices.horowitz_sram]             # one sourced price table per assumption
    title = "on-chip SRAM, by array size"
    access_bits = 64                          # bits per priced access
    capacity_bytes = [8192, 32768, 1048576]   # optional; omitted: one flat price
    pj = [10.0, 20.0, 100.0]                  # pJ per access, one per capacity
    interpolate = false                       # false: the smallest capacity that holds the array; true:
    linear source = "..."

    [memory.scenarios.event_sram]             # one dataflow assumption; the report shows the range across
    them title = "weights in SRAM, one read per synaptic op; state in SRAM" weights = "event"
    # event: one weight read per synaptic op; step: every weight per step prices = { weights =
    "horowitz_sram", state = "horowitz_sram", spikes = "horowitz_sram",
               events = "horowitz_sram", values = "horowitz_sram" }

Cost keys: ``ac`` (one accumulate of a synaptic event), ``mac`` (one multiply-accumulate),
``neuron_state_update`` (one update of one neuron state variable, e.g. a Loihi compartment update), and the
primitives ``add``, ``mult``, ``compare``, ``nonlinear`` used to price neuron updates op by op when no
``neuron_state_update`` is given.

Memory components (``MEMORY_COMPONENTS``): ``weights`` (weight and bias reads), ``state`` (neuron state read
and written every step), ``spikes`` (spikes written by neuron layers), ``events`` (input events read by
synaptic layers), ``values`` (real-valued inputs read by synaptic layers). A component neither priced by a
scenario nor ``included`` is unpriced, and the memory term says so.

Every cost and price needs its numbers and a ``source``; anything else is refused with an error naming the
file and the key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError, UnknownNameError
from ..tomlfile import load_builtin, read_toml

__all__ = [
    "COST_KEYS", "BASES", "MEMORY_COMPONENTS", "DATAFLOWS", "Cost", "MemoryPrice", "MemoryScenario",
    "MemoryModel", "EnergyProfile", "load_profile", "builtin_profiles", "get_profile",
]

COST_KEYS = ("ac", "mac", "neuron_state_update", "add", "mult", "compare", "nonlinear")
BASES = ("circuit-estimate", "pre-silicon", "silicon-measured")
MEMORY_COMPONENTS = ("weights", "state", "spikes", "events", "values")
DATAFLOWS = ("event", "step")
_TERMS = ("neuron", "other")
_TOP_KEYS = {"name", "title", "basis", "description", "included", "costs", "memory"}
_COST_FIELDS = {"pj", "source", "assumption", "note"}
_MEMORY_KEYS = {"description", "weight_bits", "state_bits", "spike_bits", "value_bits", "fifo_events",
                "included", "prices", "scenarios"}
_PRICE_FIELDS = {"title", "access_bits", "capacity_bytes", "pj", "interpolate", "source", "assumption",
                 "note"}
_SCENARIO_FIELDS = {"title", "weights", "prices", "note"}


@dataclass(frozen=True)
class Cost:
    """One priced operation: energy in pJ, where the number comes from, and whether it is an assumption."""

    pj: float
    source: str
    assumption: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"pj": self.pj, "source": self.source, "assumption": self.assumption, "note": self.note}


@dataclass(frozen=True)
class MemoryPrice:
    """Energy of one memory access by array size: ``pj[i]`` per ``access_bits``-bit access of an array of up
    to
    ``capacity_bytes[i]`` bytes (no capacities: one flat price)."""

    name: str
    title: str
    access_bits: int
    pj: tuple[float, ...]
    source: str
    capacity_bytes: tuple[float, ...] = ()
    interpolate: bool = False
    assumption: bool = False
    note: str = ""

    def pj_per_byte(self, size_bytes: float) -> tuple[float, bool]:
        """Price of one byte moved to or from an array of ``size_bytes``.

        Step rule (``interpolate = false``): the smallest listed capacity that holds the array. Interpolated
        (Lemaire et al. 2022, as implemented by spikingjelly 2.0's
        ``LemaireEnergyCostConfig.memory_cost_pj``): linear between the listed points. Both clamp to the
        largest capacity; the second value is True when the array is larger than it (then the price is a lower
        bound).

        Returns:
            ``(pJ per byte, over_capacity)``.
        """
        per_byte = [p / (self.access_bits / 8.0) for p in self.pj]
        caps = self.capacity_bytes
        if not caps:
            return per_byte[0], False
        over = size_bytes > caps[-1]
        if over:
            return per_byte[-1], True
        if not self.interpolate:
            return next(p for c, p in zip(caps, per_byte, strict=True) if size_bytes <= c), False
        if size_bytes <= caps[0]:
            return per_byte[0], False
        points = list(zip(caps, per_byte, strict=True))
        for (c0, p0), (c1, p1) in zip(points, points[1:], strict=False):
            if size_bytes <= c1:
                return p0 + (p1 - p0) * (size_bytes - c0) / (c1 - c0), False
        return per_byte[-1], False  # pragma: no cover (size <= caps[-1] is handled above)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "access_bits": self.access_bits,
                "capacity_bytes": list(self.capacity_bytes), "pj": list(self.pj),
                "interpolate": self.interpolate, "source": self.source, "assumption": self.assumption,
                "note": self.note}


@dataclass(frozen=True)
class MemoryScenario:
    """One dataflow assumption: how weights are read (``event``/``step``) and which price each component
    pays."""

    name: str
    title: str
    weights: str
    prices: dict[str, str]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "weights": self.weights, "prices": dict(self.prices), "note": self.note}


@dataclass(frozen=True)
class MemoryModel:
    """A profile's data-movement model: word sizes, components already inside the per-op figures, the sourced
    price tables and the dataflow scenarios priced with them."""

    description: str
    weight_bits: int = 32
    state_bits: int = 32
    spike_bits: int = 32
    value_bits: int = 32
    fifo_events: int = 1000
    included: tuple[str, ...] = ()
    prices: dict[str, MemoryPrice] = field(default_factory=dict)
    scenarios: dict[str, MemoryScenario] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "weight_bits": self.weight_bits,
                "state_bits": self.state_bits,
                "spike_bits": self.spike_bits, "value_bits": self.value_bits, "fifo_events": self.fifo_events,
                "included": list(self.included),
                "prices": {k: v.to_dict() for k, v in self.prices.items()},
                "scenarios": {k: v.to_dict() for k, v in self.scenarios.items()}}


@dataclass(frozen=True)
class EnergyProfile:
    """Per-operation energies of one technology or chip (validated; see the module docstring for the
    schema)."""

    name: str
    title: str
    basis: str
    description: str
    costs: dict[str, Cost] = field(default_factory=dict)
    included: tuple[str, ...] = ()
    path: str = ""
    memory: MemoryModel | None = None

    def get(self, key: str) -> float | None:
        """The cost of ``key`` in pJ, or ``None`` when the profile does not price it."""
        c = self.costs.get(key)
        return c.pj if c is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "basis": self.basis,
            "description": self.description,
            "included": list(self.included),
            "costs": {k: self.costs[k].to_dict() for k in COST_KEYS if k in self.costs},
            "memory": self.memory.to_dict() if self.memory is not None else None,
        }


def _bad(path: str, key: str, msg: str) -> InvalidParameterError:
    return InvalidParameterError(f"energy profile {path}: key {key!r}: {msg}")


def _number(x: Any) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    return math.isfinite(float(x)) and float(x) >= 0


def _text(raw: dict[str, Any], key: str, path: str, where: str, required: bool = True) -> str:
    value = raw.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise _bad(path, f"{where}{key}",
                   "missing or not a non-empty string" if required else "must be a string")
    return value.strip()


def _flag(raw: dict[str, Any], key: str, path: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise _bad(path, f"{where}{key}", f"must be true or false, got {value!r}")
    return value


def _table(raw: Any, path: str, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _bad(path, where, "must be a table")
    extra = set(raw) - allowed
    if extra:
        raise _bad(path, f"{where}.{sorted(extra)[0]}",
                   f"unknown field; allowed: {', '.join(sorted(allowed))}")
    return raw


def _parse_price(name: str, raw: Any, path: str) -> MemoryPrice:
    where = f"memory.prices.{name}"
    raw = _table(raw, path, where, _PRICE_FIELDS)
    bits = raw.get("access_bits")
    if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0:
        raise _bad(path, f"{where}.access_bits", f"must be a positive integer, got {bits!r}")
    pj, caps = raw.get("pj"), raw.get("capacity_bytes", [])
    if not isinstance(pj, list) or not pj or not all(_number(v) for v in pj):
        raise _bad(path, f"{where}.pj", f"must be a non-empty list of finite numbers >= 0 (pJ), got {pj!r}")
    if not isinstance(caps, list) or not all(_number(v) for v in caps):
        raise _bad(path, f"{where}.capacity_bytes", f"must be a list of numbers >= 0, got {caps!r}")
    if caps and len(caps) != len(pj):
        raise _bad(path, f"{where}.capacity_bytes",
                   f"needs one capacity per pj value ({len(pj)}), got {len(caps)}")
    if not caps and len(pj) != 1:
        raise _bad(path, f"{where}.pj", "without capacity_bytes give exactly one (flat) price")
    if any(b <= a for a, b in zip(caps, caps[1:], strict=False)):
        raise _bad(path, f"{where}.capacity_bytes", "must be strictly increasing")
    interpolate = _flag(raw, "interpolate", path, f"{where}.")
    return MemoryPrice(
        name=name, title=_text(raw, "title", path, f"{where}."), access_bits=bits,
        pj=tuple(float(v) for v in pj), source=_text(raw, "source", path, f"{where}."),
        capacity_bytes=tuple(float(v) for v in caps), interpolate=interpolate,
        assumption=_flag(raw, "assumption", path, f"{where}."),
        note=_text(raw, "note", path, f"{where}.", False),
    )


def _parse_scenario(name: str, raw: Any, prices: dict[str, MemoryPrice], path: str) -> MemoryScenario:
    where = f"memory.scenarios.{name}"
    raw = _table(raw, path, where, _SCENARIO_FIELDS)
    flow = raw.get("weights")
    if flow not in DATAFLOWS:
        raise _bad(path, f"{where}.weights", f"must be one of {', '.join(DATAFLOWS)}, got {flow!r}")
    mapping = _table(raw.get("prices", {}), path, f"{where}.prices", set(MEMORY_COMPONENTS))
    for comp, price in mapping.items():
        if not isinstance(price, str) or price not in prices:
            raise _bad(path, f"{where}.prices.{comp}",
                       f"unknown price table {price!r}; defined: {', '.join(sorted(prices)) or 'none'}")
    return MemoryScenario(name=name, title=_text(raw, "title", path, f"{where}."), weights=flow,
                          prices=dict(mapping), note=_text(raw, "note", path, f"{where}.", False))


def _parse_memory(raw: Any, path: str) -> MemoryModel:
    raw = _table(raw, path, "memory", _MEMORY_KEYS)
    bits: dict[str, int] = {}
    for key in ("weight_bits", "state_bits", "spike_bits", "value_bits", "fifo_events"):
        value = raw.get(key, 1000 if key == "fifo_events" else 32)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise _bad(path, f"memory.{key}", f"must be a positive integer, got {value!r}")
        bits[key] = value
    included = raw.get("included", [])
    if not isinstance(included, list) or any(c not in MEMORY_COMPONENTS for c in included):
        raise _bad(path, "memory.included",
                   f"must be a list drawn from {list(MEMORY_COMPONENTS)}, got {included!r}")
    prices_raw, scen_raw = raw.get("prices", {}), raw.get("scenarios", {})
    for key, value in (("prices", prices_raw), ("scenarios", scen_raw)):
        if not isinstance(value, dict):
            raise _bad(path, f"memory.{key}", "must be a table of named tables")
    prices = {name: _parse_price(name, entry, path) for name, entry in prices_raw.items()}
    scenarios = {name: _parse_scenario(name, entry, prices, path) for name, entry in scen_raw.items()}
    return MemoryModel(description=_text(raw, "description", path, "memory."), included=tuple(included),
                       prices=prices, scenarios=scenarios, **bits)


def _parse(raw: dict[str, Any], path: str) -> EnergyProfile:
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        k = sorted(unknown)[0]
        raise _bad(path, k, f"unknown key; allowed: {', '.join(sorted(_TOP_KEYS))}")
    for key in ("name", "title", "basis", "description"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _bad(path, key, "missing or not a non-empty string")
    if not re.fullmatch(r"[a-z0-9_]+", raw["name"]):
        raise _bad(path, "name", f"must match [a-z0-9_]+, got {raw['name']!r}")
    if raw["basis"] not in BASES:
        raise _bad(path, "basis", f"must be one of {', '.join(BASES)}, got {raw['basis']!r}")
    included = raw.get("included", [])
    if not isinstance(included, list) or any(t not in _TERMS for t in included):
        raise _bad(path, "included", f"must be a list drawn from {list(_TERMS)}, got {included!r}")
    costs_raw = raw.get("costs")
    if not isinstance(costs_raw, dict) or not costs_raw:
        raise _bad(path, "costs", "missing: give at least [costs.ac]")
    costs: dict[str, Cost] = {}
    for key, entry in costs_raw.items():
        where = f"costs.{key}"
        if key not in COST_KEYS:
            raise _bad(path, where, f"unknown cost; allowed: {', '.join(COST_KEYS)}")
        if not isinstance(entry, dict):
            raise _bad(path, where, "must be a table with pj and source")
        extra = set(entry) - _COST_FIELDS
        if extra:
            raise _bad(path, f"{where}.{sorted(extra)[0]}",
                       f"unknown field; allowed: {', '.join(sorted(_COST_FIELDS))}")
        pj = entry.get("pj")
        if not _number(pj):
            raise _bad(path, f"{where}.pj", f"must be a finite number >= 0 (picojoules), got {pj!r}")
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise _bad(path, f"{where}.source", "missing: every number needs its source")
        assumption = _flag(entry, "assumption", path, f"{where}.")
        note = entry.get("note", "")
        if not isinstance(note, str):
            raise _bad(path, f"{where}.note", "must be a string")
        costs[key] = Cost(float(pj), source.strip(), assumption, note)
    if "ac" not in costs:
        raise _bad(path, "costs.ac", "missing: every profile prices the synaptic accumulate")
    memory = _parse_memory(raw["memory"], path) if "memory" in raw else None
    return EnergyProfile(
        name=raw["name"], title=raw["title"], basis=raw["basis"], description=raw["description"].strip(),
        costs=costs, included=tuple(included), path=path, memory=memory,
    )


def load_profile(path: str | Path) -> EnergyProfile:
    """Read and validate a profile TOML file; errors name the file and the key."""
    return _parse(read_toml(path, "energy profile"), str(Path(path)))


def builtin_profiles() -> dict[str, EnergyProfile]:
    """The profiles shipped in ``snndeploy/energy/profiles/``, keyed by name (sorted)."""
    return load_builtin(__package__, "profiles", load_profile)


def get_profile(spec: str | Path | EnergyProfile) -> EnergyProfile:
    """A profile by built-in name, by TOML path, or passed through."""
    if isinstance(spec, EnergyProfile):
        return spec
    text = str(spec)
    if text.endswith(".toml") or Path(text).is_file():
        return load_profile(text)
    builtin = builtin_profiles()
    if text not in builtin:
        raise UnknownNameError(
            f"unknown energy profile {text!r}; built-in: {', '.join(builtin)} (or a .toml path)")
    return builtin[text]
