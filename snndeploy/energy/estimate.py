"""Price ``OpCounts`` under an ``EnergyProfile``: per layer and per term, per sample, with completeness flags.

Per sample (totals / samples), in picojoules:

    synaptic  = E_AC·ACs + E_MAC·MACs                      (snndeploy's per-row AC/MAC decision)
    neuron    = E_state·updates·states                      (profile with ``neuron_state_update``)
              | Σ_k E_k·ops_k, k ∈ {add, mult, compare, nonlinear}   (op-level profile)
    other     = Σ_k E_k·ops_k of residual adds, BatchNorm and pooling
    compute   = synaptic + neuron + other
    memory_s  = Σ_components Σ_layers bytes_c,l(s) · e_c(size_c,l)     for each dataflow scenario s of the
    profile total     = compute + [min_s memory_s, max_s memory_s]  (a range across the stated dataflow
    assumptions) paper     = E_AC·T·r_in·FLOPs (integer rows) + E_MAC·T·FLOPs (real rows)   (papers'
    convention: synapses only) ann       = E_MAC·Σ FLOPs                               (the equivalent ANN,
    one pass, no T)

Memory traffic per sample (``memory_traffic``; element counts, turned into bytes by the profile's word sizes):

    weights, dataflow "event":  (ACs + MACs) weight reads, one per synaptic op (zero weights skipped)
    weights, dataflow "step":   rows · |W| reads, every weight once per step (zero weights too)
    + bias:                     rows · outputs per row, when the layer has a bias
    state:                      2 · updates · states (read and written at every step)
    spikes:                     spikes written by neuron layers, one address event each
    events:                     Σ|x| over integer input rows, one address event read per event
    values:                     real rows · elements per row, real-valued inputs read

e_c(size) is the price table's energy per byte for an array of that size (a layer's weights, a layer's states,
one input map; spikes and events pass through a FIFO of ``fifo_events`` messages). Pooling and residual
additions act on the event stream and have no buffer of their own (stated assumption).

Completeness: every term has a status, ``complete`` (every op priced), ``empty`` (no op of that kind),
``included`` (inside another per-op figure, 0 on purpose, e.g. TrueNorth's all-in 26 pJ), ``partial`` (some
ops have no price: the priced part is a lower bound) or ``unpriced`` (none has). A total whose terms are not
all complete/empty/included is ``None``; its priced part is kept as a lower bound and ``missing`` lists what
is left out, with the op counts or bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .counting import LayerCount, OpCounts
from .neuron_ops import OP_KINDS
from .profiles import MEMORY_COMPONENTS, EnergyProfile, MemoryModel, MemoryScenario

__all__ = ["TERMS", "OK_STATUSES", "LayerEnergy", "TermEnergy", "ScenarioEnergy", "EnergyEstimate",
           "estimate_energy", "memory_traffic"]

#: The compute terms, in report order (the memory term is priced per scenario).
TERMS = ("synaptic", "neuron", "other")
#: Statuses under which a term's number is the whole term.
OK_STATUSES = ("complete", "empty", "included")


def _status(priced: bool, missing: bool, any_ops: bool) -> str:
    if not any_ops:
        return "empty"
    if missing:
        return "partial" if priced else "unpriced"
    return "complete"


@dataclass
class LayerEnergy:
    """Energy of one layer per sample (pJ) under one profile: the priced parts, and the ops left unpriced."""

    name: str
    synaptic_pj: float = 0.0
    neuron_pj: float = 0.0
    other_pj: float = 0.0
    paper_pj: float = 0.0
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def total_pj(self) -> float:
        """The priced part (a lower bound when ``missing`` is not empty)."""
        return self.synaptic_pj + self.neuron_pj + self.other_pj

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "synaptic_pj": self.synaptic_pj,
            "neuron_pj": self.neuron_pj,
            "other_pj": self.other_pj,
            "total_pj": self.total_pj if self.complete else None,
            "priced_pj": self.total_pj,
            "complete": self.complete,
            "missing": list(self.missing),
            "paper_pj": self.paper_pj,
        }


@dataclass
class TermEnergy:
    """One term of a profile's estimate: its priced part, status and what it could not price."""

    name: str
    pj: float = 0.0
    status: str = "empty"
    missing: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.status in OK_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {"pj": self.pj if self.complete else None, "priced_pj": self.pj, "status": self.status,
                "complete": self.complete, "missing": list(self.missing)}


@dataclass
class ScenarioEnergy:
    """The memory term under one dataflow scenario: bytes and pJ per component, per sample."""

    name: str
    title: str
    weights: str
    bytes: dict[str, float]
    pj: dict[str, float]
    status: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(s in OK_STATUSES for s in self.status.values())

    @property
    def total_pj(self) -> float:
        return float(sum(self.pj.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "weights": self.weights,
                "pj": self.total_pj if self.complete else None, "priced_pj": self.total_pj,
                "complete": self.complete, "bytes": dict(self.bytes), "pj_by_component": dict(self.pj),
                "status": dict(self.status), "notes": list(self.notes)}


@dataclass
class EnergyEstimate:
    """A profile's estimate for one model and data set (per sample, pJ), with a completeness flag per term."""

    profile: EnergyProfile
    layers: list[LayerEnergy]
    terms: dict[str, TermEnergy]
    memory_status: str
    scenarios: list[ScenarioEnergy]
    memory_missing: list[dict[str, Any]]
    paper: TermEnergy
    ann_pj: float | None

    def _sum(self, attr: str) -> float:
        return float(sum(getattr(le, attr) for le in self.layers))

    @property
    def synaptic_pj(self) -> float:
        return self.terms["synaptic"].pj

    @property
    def neuron_pj(self) -> float:
        return self.terms["neuron"].pj

    @property
    def other_pj(self) -> float:
        return self.terms["other"].pj

    @property
    def compute_priced_pj(self) -> float:
        return float(sum(t.pj for t in self.terms.values()))

    @property
    def compute_complete(self) -> bool:
        return all(t.complete for t in self.terms.values())

    @property
    def compute_pj(self) -> float | None:
        """synaptic + neuron + other, or ``None`` when a term is not complete (see ``missing``)."""
        return self.compute_priced_pj if self.compute_complete else None

    @property
    def total_pj(self) -> float | None:
        """Compatibility alias of ``compute_pj`` (the arithmetic total; the memory term is a range)."""
        return self.compute_pj

    @property
    def memory_complete(self) -> bool:
        return self.memory_status in OK_STATUSES

    @property
    def memory_range_priced(self) -> tuple[float, float] | None:
        if not self.scenarios:  # included components only (0 on purpose), or no memory model at all
            return (0.0, 0.0) if self.profile.memory is not None else None
        values = [s.total_pj for s in self.scenarios]
        return min(values), max(values)

    @property
    def memory_range(self) -> tuple[float, float] | None:
        return self.memory_range_priced if self.memory_complete else None

    @property
    def total_range(self) -> tuple[float, float] | None:
        """compute + memory range, or ``None`` unless both are complete."""
        mem = self.memory_range
        if self.compute_pj is None or mem is None:
            return None
        return self.compute_pj + mem[0], self.compute_pj + mem[1]

    @property
    def complete(self) -> bool:
        return self.total_range is not None

    @property
    def missing(self) -> list[dict[str, Any]]:
        out = [m for t in self.terms.values() for m in t.missing]
        if self.profile.memory is None:
            out.append({"term": "memory", "what": "the profile has no [memory] model"})
        return out + list(self.memory_missing)

    @property
    def paper_pj(self) -> float | None:
        return self.paper.pj if self.paper.complete else None

    @property
    def unpriced(self) -> list[dict[str, Any]]:
        """The compute ops left out (the pre-completeness-flag key): layer, term (op), ops per sample."""
        return [{"layer": m["layer"], "term": m["op"], "ops_per_sample": m["ops_per_sample"]}
                for t in self.terms.values() for m in t.missing]

    def to_dict(self) -> dict[str, Any]:
        mem, mem_priced = self.memory_range, self.memory_range_priced
        total = self.total_range
        priced_total = (None if mem_priced is None else
                        (self.compute_priced_pj + mem_priced[0], self.compute_priced_pj + mem_priced[1]))
        return {
            "profile": self.profile.name,
            "basis": self.profile.basis,
            "complete": self.complete,
            "compute_complete": self.compute_complete,
            "per_sample_pj": {
                "synaptic": self.terms["synaptic"].to_dict()["pj"],
                "neuron": self.terms["neuron"].to_dict()["pj"],
                "other": self.terms["other"].to_dict()["pj"],
                "compute": self.compute_pj,
                "compute_priced": self.compute_priced_pj,
                "memory_low": None if mem is None else mem[0],
                "memory_high": None if mem is None else mem[1],
                "total_low": None if total is None else total[0],
                "total_high": None if total is None else total[1],
                "total_priced_low": None if priced_total is None else priced_total[0],
                "total_priced_high": None if priced_total is None else priced_total[1],
                "paper_convention": self.paper_pj,
                "ann_equivalent": self.ann_pj,
            },
            "terms": {
                **{name: t.to_dict() for name, t in self.terms.items()},
                "memory": {
                    "status": self.memory_status,
                    "complete": self.memory_complete,
                    "low_pj": None if mem is None else mem[0],
                    "high_pj": None if mem is None else mem[1],
                    "priced_low_pj": None if mem_priced is None else mem_priced[0],
                    "priced_high_pj": None if mem_priced is None else mem_priced[1],
                    "included": list(self.profile.memory.included) if self.profile.memory else [],
                    "missing": list(self.memory_missing),
                    "scenarios": [s.to_dict() for s in self.scenarios],
                },
                "paper_convention": self.paper.to_dict(),
            },
            "missing": self.missing,
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


def _layer_energy(lc: LayerCount, counts: OpCounts, profile: EnergyProfile,
                  missing: dict[str, list[dict[str, Any]]],
                  paper_missing: list[dict[str, Any]]) -> LayerEnergy:
    per = counts.per_sample
    le = LayerEnergy(lc.name)
    e_ac, e_mac = profile.costs["ac"].pj, profile.get("mac")  # every profile prices ac (validated on load)
    if lc.kind == "synaptic":
        le.synaptic_pj = e_ac * per(lc.acs)
        le.paper_pj = e_ac * per(lc.paper_acs)
        if lc.macs or lc.paper_macs:
            if e_mac is None:
                if lc.macs:
                    missing["synaptic"].append({"term": "synaptic", "layer": lc.name, "op": "mac",
                                                "ops_per_sample": per(lc.macs)})
                    le.missing.append("mac")
                paper_missing.append({"term": "paper_convention", "layer": lc.name, "op": "mac",
                                      "ops_per_sample": per(lc.paper_macs)})
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
    pj, lacking = _price_ops({k: per(v) for k, v in lc.ops.items()}, profile)
    if term == "neuron":
        le.neuron_pj = pj
    else:
        le.other_pj = pj
    for k, n in lacking.items():
        missing[term].append({"term": term, "layer": lc.name, "op": k, "ops_per_sample": n})
        le.missing.append(k)
    return le


def memory_traffic(lc: LayerCount, dataflow: str) -> dict[str, int]:
    """Element accesses of one layer over the data (see the module docstring), keyed by memory component."""
    out = dict.fromkeys(MEMORY_COMPONENTS, 0)
    if lc.kind == "synaptic":
        reads = lc.acs + lc.macs if dataflow == "event" else lc.rows * lc.weight_elements
        out["weights"] = reads + (lc.rows * lc.out_per_row if lc.bias_elements else 0)
        out["events"] = lc.input_events
        out["values"] = lc.real_rows * lc.numel_per_row
    elif lc.kind == "neuron":
        states = lc.op_count.states if lc.op_count is not None else 1
        out["state"] = 2 * lc.updates * states
        out["spikes"] = lc.spikes
    return out


def _array_bytes(lc: LayerCount, comp: str, mem: MemoryModel) -> float:
    """Size of the array a component's accesses hit, for the price lookup."""
    if comp == "weights":
        return (lc.weight_elements + lc.bias_elements) * mem.weight_bits / 8
    if comp == "state":
        states = lc.op_count.states if lc.op_count is not None else 1
        return lc.neurons * states * mem.state_bits / 8
    if comp == "values":
        return lc.numel_per_row * mem.value_bits / 8
    return mem.fifo_events * mem.spike_bits / 8  # spikes and events: the FIFO


def _bits(comp: str, mem: MemoryModel) -> int:
    bits = {"weights": mem.weight_bits, "state": mem.state_bits, "values": mem.value_bits}
    return bits.get(comp, mem.spike_bits)


def _scenario(counts: OpCounts, mem: MemoryModel, sc: MemoryScenario) -> tuple[ScenarioEnergy, list[dict]]:
    nbytes = dict.fromkeys(MEMORY_COMPONENTS, 0.0)
    pj = dict.fromkeys(MEMORY_COMPONENTS, 0.0)
    notes: list[str] = []
    for lc in counts.layers:
        for comp, n in memory_traffic(lc, sc.weights).items():
            if not n:
                continue
            b = counts.per_sample(n) * _bits(comp, mem) / 8
            nbytes[comp] += b
            if comp in mem.included or comp not in sc.prices:
                continue
            per_byte, over = mem.prices[sc.prices[comp]].pj_per_byte(_array_bytes(lc, comp, mem))
            pj[comp] += b * per_byte
            if over:
                size = _array_bytes(lc, comp, mem)
                notes.append(f"{lc.name} {comp}: {size:.0f} B exceed the largest capacity of "
                             f"{sc.prices[comp]}; priced at it (a lower bound)")
    status, missing = {}, []
    for comp in MEMORY_COMPONENTS:
        if comp in mem.included:
            status[comp] = "included"
        elif not nbytes[comp]:
            status[comp] = "empty"
        elif comp in sc.prices:
            status[comp] = "complete"
        else:
            status[comp] = "unpriced"
            missing.append({"term": "memory", "scenario": sc.name, "component": comp,
                            "bytes_per_sample": nbytes[comp]})
    return ScenarioEnergy(sc.name, sc.title, sc.weights, nbytes, pj, status, notes), missing


def _memory(counts: OpCounts,
            profile: EnergyProfile) -> tuple[str, list[ScenarioEnergy], list[dict[str, Any]]]:
    mem = profile.memory
    if mem is None:
        return "unpriced", [], []
    if not mem.scenarios:  # only what the per-op figures include; any other traffic is unpriced
        bare = MemoryScenario(name="included_only", title="no scenario: only the included components",
                              weights="event", prices={})
        _, missing = _scenario(counts, mem, bare)
        return ("partial" if mem.included else "unpriced") if missing else "included", [], missing
    results = [_scenario(counts, mem, sc) for sc in mem.scenarios.values()]
    scenarios = [r[0] for r in results]
    merged: dict[str, dict[str, Any]] = {}  # one entry per component, naming the scenarios that lack a price
    for m in (m for r in results for m in r[1]):
        base = {k: v for k, v in m.items() if k != "scenario"}
        merged.setdefault(m["component"], {**base, "scenarios": []})["scenarios"].append(m["scenario"])
    missing = list(merged.values())
    statuses = {s for sc in scenarios for s in sc.status.values()}
    if missing:
        status = "partial" if any(sc.total_pj for sc in scenarios) else "unpriced"
    elif statuses <= {"included", "empty"}:
        status = "included" if "included" in statuses else "empty"
    else:
        status = "complete"
    return status, scenarios, missing


def estimate_energy(counts: OpCounts, profile: EnergyProfile) -> EnergyEstimate:
    """Energy per sample of every layer and term of ``counts`` under ``profile`` (see the module
    docstring)."""
    missing: dict[str, list[dict[str, Any]]] = {t: [] for t in TERMS}
    paper_missing: list[dict[str, Any]] = []
    layers = [_layer_energy(lc, counts, profile, missing, paper_missing) for lc in counts.layers]
    kinds = {"synaptic": ("synaptic",), "neuron": ("neuron",), "other": ("residual", "batchnorm", "pool")}
    terms: dict[str, TermEnergy] = {}
    for term in TERMS:
        pj = float(sum(getattr(le, f"{term}_pj") for le in layers))
        rel = [lc for lc in counts.layers if lc.kind in kinds[term]]
        any_ops = any(lc.acs or lc.macs for lc in rel) if term == "synaptic" else any(
            lc.updates or any(lc.ops.values()) for lc in rel)
        status = "included" if term in profile.included and any_ops else _status(
            pj > 0, bool(missing[term]), any_ops)
        terms[term] = TermEnergy(term, pj, status, missing[term])
    paper_pj = float(sum(le.paper_pj for le in layers))
    paper = TermEnergy("paper_convention", paper_pj, _status(paper_pj > 0, bool(paper_missing), True),
                       paper_missing)
    e_mac = profile.get("mac")
    ann = e_mac * counts.ann_macs_per_sample if e_mac is not None else None
    mem_status, scenarios, mem_missing = _memory(counts, profile)
    return EnergyEstimate(profile=profile, layers=layers, terms=terms, memory_status=mem_status,
                          scenarios=scenarios, memory_missing=mem_missing, paper=paper, ann_pj=ann)
