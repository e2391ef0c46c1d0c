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

Cost keys: ``ac`` (one accumulate of a synaptic event), ``mac`` (one multiply-accumulate), ``neuron_state_update``
(one update of one neuron state variable, e.g. a Loihi compartment update), and the primitives ``add``, ``mult``,
``compare``, ``nonlinear`` used to price neuron updates op by op when no ``neuron_state_update`` is given. Every
cost needs ``pj`` and ``source``; anything else is refused with an error naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError, UnknownNameError
from ..tomlfile import load_builtin, read_toml

__all__ = ["COST_KEYS", "BASES", "Cost", "EnergyProfile", "load_profile", "builtin_profiles", "get_profile"]

COST_KEYS = ("ac", "mac", "neuron_state_update", "add", "mult", "compare", "nonlinear")
BASES = ("circuit-estimate", "pre-silicon", "silicon-measured")
_TERMS = ("neuron", "other")
_TOP_KEYS = {"name", "title", "basis", "description", "included", "costs"}
_COST_FIELDS = {"pj", "source", "assumption", "note"}


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
class EnergyProfile:
    """Per-operation energies of one technology or chip (validated; see the module docstring for the schema)."""

    name: str
    title: str
    basis: str
    description: str
    costs: dict[str, Cost] = field(default_factory=dict)
    included: tuple[str, ...] = ()
    path: str = ""

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
        }


def _bad(path: str, key: str, msg: str) -> InvalidParameterError:
    return InvalidParameterError(f"energy profile {path}: key {key!r}: {msg}")


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
            raise _bad(path, f"{where}.{sorted(extra)[0]}", f"unknown field; allowed: {', '.join(sorted(_COST_FIELDS))}")
        pj = entry.get("pj")
        if isinstance(pj, bool) or not isinstance(pj, (int, float)) or not (0.0 <= float(pj) < float("inf")):
            raise _bad(path, f"{where}.pj", f"must be a finite number >= 0 (picojoules), got {pj!r}")
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise _bad(path, f"{where}.source", "missing: every number needs its source")
        assumption = entry.get("assumption", False)
        if not isinstance(assumption, bool):
            raise _bad(path, f"{where}.assumption", f"must be true or false, got {assumption!r}")
        note = entry.get("note", "")
        if not isinstance(note, str):
            raise _bad(path, f"{where}.note", "must be a string")
        costs[key] = Cost(float(pj), source.strip(), assumption, note)
    if "ac" not in costs:
        raise _bad(path, "costs.ac", "missing: every profile prices the synaptic accumulate")
    return EnergyProfile(
        name=raw["name"], title=raw["title"], basis=raw["basis"], description=raw["description"].strip(),
        costs=costs, included=tuple(included), path=path,
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
        raise UnknownNameError(f"unknown energy profile {text!r}; built-in: {', '.join(builtin)} (or a .toml path)")
    return builtin[text]
