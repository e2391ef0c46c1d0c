"""Price ``OpCounts`` under an ``EnergyProfile``: per layer and total, per sample, in several conventions.

Per sample (totals / samples), in picojoules:

    synaptic  = E_AC·ACs + E_MAC·MACs                      (NeuroBench-effective counts)
    neuron    = E_state·updates·states                      (profile with ``neuron_state_update``)
              | Σ_k E_k·ops_k, k ∈ {add, mult, compare, nonlinear}   (op-level profile)
    other     = Σ_k E_k·ops_k of residual adds, BatchNorm and AvgPool
    total     = synaptic + neuron + other
    paper     = E_AC·T·r_in·FLOPs (spiking inputs) + E_MAC·T·FLOPs (real inputs)   (papers' convention: synapses only)
    ann       = E_MAC·Σ FLOPs                               (the equivalent ANN, one pass, no T)

A term the profile cannot price (no ``mac`` on Loihi/TrueNorth, for instance) is left out of the sum and listed in
``unpriced`` with its op count, never silently priced at zero; a term the profile lists in ``included`` is inside
its per-op figures and counts 0 on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .counting import LayerCount, OpCounts
from .neuron_ops import OP_KINDS
from .profiles import EnergyProfile

__all__ = ["LayerEnergy", "EnergyEstimate", "estimate_energy"]


@dataclass
class LayerEnergy:
    """Energy of one layer per sample (pJ) under one profile; ``None`` where the profile cannot price it."""

    name: str
    synaptic_pj: float = 0.0
    neuron_pj: float = 0.0
    other_pj: float = 0.0
    paper_pj: float = 0.0

    @property
    def total_pj(self) -> float:
        return self.synaptic_pj + self.neuron_pj + self.other_pj

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "synaptic_pj": self.synaptic_pj,
            "neuron_pj": self.neuron_pj,
            "other_pj": self.other_pj,
            "total_pj": self.total_pj,
            "paper_pj": self.paper_pj,
        }


@dataclass
class EnergyEstimate:
    """A profile's estimate for one model and data set (per sample, pJ)."""

    profile: EnergyProfile
    layers: list[LayerEnergy]
    ann_pj: float | None
    unpriced: list[dict[str, Any]] = field(default_factory=list)

    def _sum(self, attr: str) -> float:
        return float(sum(getattr(le, attr) for le in self.layers))

    @property
    def synaptic_pj(self) -> float:
        return self._sum("synaptic_pj")

    @property
    def neuron_pj(self) -> float:
        return self._sum("neuron_pj")

    @property
    def other_pj(self) -> float:
        return self._sum("other_pj")

    @property
    def total_pj(self) -> float:
        return self._sum("total_pj")

    @property
    def paper_pj(self) -> float:
        return self._sum("paper_pj")

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile.name,
            "basis": self.profile.basis,
            "per_sample_pj": {
                "synaptic": self.synaptic_pj,
                "neuron": self.neuron_pj,
                "other": self.other_pj,
                "total": self.total_pj,
                "paper_convention": self.paper_pj,
                "ann_equivalent": self.ann_pj,
            },
            "unpriced": self.unpriced,
            "layers": [le.to_dict() for le in self.layers],
        }


def _price_ops(ops: dict[str, float], profile: EnergyProfile) -> tuple[float, dict[str, float]]:
    """Σ E_k·ops_k; the second value holds the op kinds with counts the profile cannot price."""
    pj, missing = 0.0, {}
    for k in OP_KINDS:
        n = ops.get(k, 0)
        if not n:
            continue
        cost = profile.get(k)
        if cost is None:
            missing[k] = n
        else:
            pj += cost * n
    return pj, missing


def _layer_energy(lc: LayerCount, counts: OpCounts, profile: EnergyProfile, unpriced: list[dict[str, Any]]) -> LayerEnergy:
    per = counts.per_sample
    le = LayerEnergy(lc.name)
    e_ac, e_mac = profile.costs["ac"].pj, profile.get("mac")  # every profile prices ac (validated on load)
    if lc.kind == "synaptic":
        le.synaptic_pj = e_ac * per(lc.acs)
        le.paper_pj = e_ac * per(lc.paper_acs)
        if lc.macs or lc.paper_macs:
            if e_mac is None:
                unpriced.append({"layer": lc.name, "term": "mac", "ops_per_sample": per(lc.macs)})
            else:
                le.synaptic_pj += e_mac * per(lc.macs)
                le.paper_pj += e_mac * per(lc.paper_macs)
        return le
    term = "neuron" if lc.kind == "neuron" else "other"
    if term in profile.included:
        return le
    state_cost = profile.get("neuron_state_update")
    if term == "neuron" and state_cost is not None and lc.op_count is not None:
        le.neuron_pj = state_cost * per(lc.updates * lc.op_count.states)
        return le
    pj, missing = _price_ops({k: per(v) for k, v in lc.ops.items()}, profile)
    if term == "neuron":
        le.neuron_pj = pj
    else:
        le.other_pj = pj
    for k, n in missing.items():
        unpriced.append({"layer": lc.name, "term": k, "ops_per_sample": n})
    return le


def estimate_energy(counts: OpCounts, profile: EnergyProfile) -> EnergyEstimate:
    """Energy per sample of every layer of ``counts`` under ``profile`` (see the module docstring)."""
    unpriced: list[dict[str, Any]] = []
    layers = [_layer_energy(lc, counts, profile, unpriced) for lc in counts.layers]
    e_mac = profile.get("mac")
    ann = e_mac * counts.ann_macs_per_sample if e_mac is not None else None
    return EnergyEstimate(profile=profile, layers=layers, ann_pj=ann, unpriced=unpriced)
