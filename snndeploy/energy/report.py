"""Energy report: one JSON document with stable keys, a markdown rendering with the caveats, PNG bar charts.

``build_report(counts, profiles)`` gathers the counts (per sample, per step, per forward; snndeploy's,
NeuroBench's and spikingjelly's conventions) and one estimate per profile, each with completeness flags;
``to_markdown`` renders it; ``write_report`` writes ``energy.json``, ``energy.md``, ``ops_per_layer.png``,
``energy_per_layer.png`` and ``energy_terms.png`` through ``atomic_path``/``atomic_write``. ``energy_report``
folds BatchNorm into the neighbouring weights first (``exporters.fold.bn``, as ``hw-check`` does) and says so.

A total is never shown as a number that leaves something out: an incomplete total is ``None`` in the JSON,
``≥ priced part (incomplete)`` in the markdown and the CLI, hatched in the plots, and ``missing`` lists what
has no price.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torch import nn

from exporters.fold.bn import fold_batchnorms

from ..io import atomic_path, atomic_write
from .counting import ROW_KINDS, OpCounts, count_ops
from .estimate import TERMS, estimate_energy, memory_traffic
from .neuron_ops import OP_KINDS
from .profiles import MEMORY_COMPONENTS, EnergyProfile, builtin_profiles, get_profile

__all__ = ["SCHEMA_VERSION", "CAVEATS", "build_report", "energy_report", "fold_for_counting", "to_markdown",
           "write_report", "missing_text", "pj_text", "range_text", "data_text", "energy_cells"]

SCHEMA_VERSION = 2

CAVEATS = [
    "Memory traffic is a range across stated dataflow scenarios (each profile's [memory]), priced from "
    "sourced per-access energies; the true figure depends on the memory hierarchy of the chip. Spike routing "
    "between cores (except Loihi's stated hop costs), static/leakage power and host I/O are not counted, "
    "except where a profile's figure is all-in (TrueNorth).",
    "The 45 nm CMOS numbers (Horowitz 2014) are pre-silicon circuit estimates, not a chip.",
    "The Loihi numbers (Davies et al. 2018, Table 2) are pre-silicon SDF/SPICE simulations; 23.6 pJ is a "
    "minimum.",
    "The TrueNorth figure (Merolla et al. 2014) is measured silicon at one operating point (20 Hz, 128 "
    "synapses per neuron); it includes static power and does not scale linearly away from that point.",
    "ACs vs MACs are decided per sample and step; integer event counts cost one AC per event (snndeploy's "
    "convention). NeuroBench's per-call decision is kept beside it (conventions.neurobench_*).",
    "Counts are measured on the data given: firing rates, and therefore ACs and energy, change with the "
    "data.",
]


def fold_for_counting(model: nn.Module) -> tuple[nn.Module, list[dict[str, Any]]]:
    """A copy of ``model`` with every eval BatchNorm folded into its neighbouring weights (``hw-check`` folds
    the same way before checking), and one record per BatchNorm (layer, rule, where). Neurons are left as they
    are: their counts stay those of the trained model. A model without BatchNorm comes back as a copy, no
    records."""
    folded = copy.deepcopy(model).eval()
    records = fold_batchnorms(folded)
    return folded, [{"layer": r.layer, "rule": r.rule, "where": r.params.get("where", "")} for r in records]


def _layer_dict(lc: Any, counts: OpCounts) -> dict[str, Any]:
    per = counts.per_sample
    d: dict[str, Any] = {"name": lc.name, "kind": lc.kind, "type": lc.type}
    if lc.kind == "synaptic":
        d.update(
            input_kind="/".join(k for k in ROW_KINDS if lc.row_kinds[k]),
            rows=dict(lc.row_kinds),
            input_rate=lc.input_rate,
            fan_in=lc.fan_in,
            fan_out_mean=lc.fan_out_mean,
            synapses_per_step=lc.flops_per_row,
            parameters=lc.parameters,
            param_bytes=lc.param_bytes,
            acs=per(lc.acs),
            macs=per(lc.macs),
            count_acs=per(lc.count_acs),
            neurobench_acs=per(lc.nb_acs),
            neurobench_macs=per(lc.nb_macs),
            spikingjelly_synops=per(lc.sj_synops),
            spikingjelly_macs=per(lc.sj_macs),
            dense_ops=per(lc.dense_ops),
            paper_acs=per(lc.paper_acs),
            paper_macs=per(lc.paper_macs),
        )
    elif lc.kind == "neuron":
        d.update(
            neuron=lc.op_count.neuron if lc.op_count else None,
            neurons=lc.neurons,
            firing_rate=lc.firing_rate,
            spikes=per(lc.spikes),
            state_updates=per(lc.updates),
            ops_per_update=lc.op_count.to_dict() if lc.op_count else None,
            state_bytes=lc.state_bytes,
            parameters=lc.parameters,
            param_bytes=lc.param_bytes,
        )
    else:
        d.update(parameters=lc.parameters, param_bytes=lc.param_bytes)
        if lc.kind == "batchnorm":
            d["spikingjelly_macs"] = per(lc.sj_macs)
    if lc.note:
        d["note"] = lc.note
    d["ops"] = {k: per(lc.ops.get(k, 0)) for k in OP_KINDS}
    d["memory_accesses"] = {
        flow: {k: per(v) for k, v in memory_traffic(lc, flow).items()} for flow in ("event", "step")
    }
    return d


def _traffic(counts: OpCounts, flow: str) -> dict[str, float]:
    out = dict.fromkeys(MEMORY_COMPONENTS, 0.0)
    for lc in counts.layers:
        for k, v in memory_traffic(lc, flow).items():
            out[k] += counts.per_sample(v)
    return out


def _spikingjelly(counts: OpCounts) -> dict[str, float]:
    """spikingjelly 2.0's counts on the same model (``SynOpCounter``, ``MACCounter``,
    ``NeuromorphicMemoryAccessCounter`` weight/bias reads; state bytes as its neurons' memories, 4 bytes per
    state variable per step, read and written)."""
    per = counts.per_sample
    syn = counts.synaptic()
    weight_uses = sum(lc.sj_synops + lc.sj_macs for lc in syn)  # a spike call reads per SynOp, others densely
    state = sum(lc.updates * (lc.op_count.states if lc.op_count else 1) * 4 for lc in counts.neuron_layers())
    return {
        "synops": per(counts.total("sj_synops")),
        "macs": per(counts.total("sj_macs")),
        "weight_read_bytes": per(4 * weight_uses),
        "bias_read_bytes": per(sum(4 * lc.rows * lc.out_per_row for lc in syn if lc.bias_elements)),
        "neuron_state_read_bytes": per(state),
        "neuron_state_write_bytes": per(state),
    }


def build_report(counts: OpCounts, profiles: Iterable[EnergyProfile], meta: dict[str, Any] | None = None,
                 data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full report as a JSON-ready dict. All op counts and energies are per sample unless the key says
    otherwise. ``data`` describes what the counts were measured on (dataset, split, ...); the sample count, T
    and
    batch sizes come from ``counts``."""
    per = counts.per_sample
    acs, macs = per(counts.total("acs")), per(counts.total("macs"))
    nb_acs, nb_macs = per(counts.total("nb_acs")), per(counts.total("nb_macs"))
    totals = {
        "neurons": counts.neurons,
        "firing_rate": counts.firing_rate,
        "spikes": per(counts.total("spikes")),
        "state_updates": per(counts.total("updates")),
        "effective_acs": acs,
        "effective_macs": macs,
        "count_acs": per(counts.total("count_acs")),
        "neurobench_acs": nb_acs,
        "neurobench_macs": nb_macs,
        "dense_ops": per(counts.total("dense_ops")),
        "paper_acs": per(counts.total("paper_acs")),
        "paper_macs": per(counts.total("paper_macs")),
        "ann_macs": counts.ann_macs_per_sample,
        "neuron_ops": {k: per(sum(lc.ops.get(k, 0) for lc in counts.neuron_layers())) for k in OP_KINDS},
        "other_ops": {
            k: per(sum(lc.ops.get(k, 0) for lc in counts.layers if lc.kind not in ("neuron", "synaptic")))
            for k in OP_KINDS
        },
        "param_bytes": int(counts.total("param_bytes")),
        "state_bytes": int(counts.total("state_bytes")),
        "memory_accesses": {flow: _traffic(counts, flow) for flow in ("event", "step")},
    }
    conventions = {
        "snndeploy_per_sample": {"acs": acs, "macs": macs, "count_acs": totals["count_acs"]},
        "neurobench_per_sample": {"acs": nb_acs, "macs": nb_macs},
        "neurobench_per_step": {"acs": nb_acs / counts.T, "macs": nb_macs / counts.T},
        "per_forward": {
            "acs": counts.total("nb_acs") / counts.forwards,
            "macs": counts.total("nb_macs") / counts.forwards,
        },
        "paper_T_rate_flops": {"acs": totals["paper_acs"], "macs": totals["paper_macs"]},
        "ann_equivalent": {"macs": counts.ann_macs_per_sample},
        "spikingjelly": _spikingjelly(counts),
    }
    estimates = [estimate_energy(counts, p) for p in profiles]
    bs = counts.batch_sizes
    described = {"dataset": None, "split": None, **dict(data or {})}
    return {
        "schema_version": SCHEMA_VERSION,
        "meta": dict(meta or {}),
        "data": {**described, "samples": counts.samples, "T": counts.T, "batch_size": counts.batch_size,
                 "last_batch_size": bs[-1] if bs else 0, "forwards": counts.forwards},
        "totals": totals,
        "conventions": conventions,
        "layers": [_layer_dict(lc, counts) for lc in counts.layers],
        "energy": [e.to_dict() for e in estimates],
        "profiles": [p.to_dict() for p in (e.profile for e in estimates)],
        "caveats": list(CAVEATS),
    }


def energy_report(
    model: Any,
    data: Any,
    profiles: Iterable[str | Path | EnergyProfile] | None = None,
    meta: dict[str, Any] | None = None,
    max_batches: int | None = None,
    fold_batchnorm: bool = True,
    data_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Count ``model`` on ``data`` ([T, B, *] tensor or iterable of batches) and price it under ``profiles``
    (built-in names, TOML paths or profiles; default: every built-in profile). BatchNorm is folded first
    (``fold_batchnorm``; recorded under ``meta["batchnorm"]``). Returns ``build_report``'s dict."""
    meta = dict(meta or {})
    if fold_batchnorm:
        model, folds = fold_for_counting(model)
        meta["batchnorm"] = {"folded": True, "layers": folds}
    else:
        meta["batchnorm"] = {"folded": False, "layers": []}
    counts = count_ops(model, data, max_batches=max_batches)
    profs = list(builtin_profiles().values()) if profiles is None else [get_profile(p) for p in profiles]
    return build_report(counts, profs, meta, data_info)


# -- text ----------------------------------------------------------------------------------------------------
def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-2:
        return f"{x:.3e}"
    return f"{x:.4g}"


def pj_text(x: float | None) -> str:
    """An energy in pJ with a readable unit (``None`` → ``n/a``)."""
    if x is None:
        return "n/a"
    for unit, scale in (("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.4g} {unit}"
    return f"{x:.4g} pJ"


def range_text(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "n/a"
    if abs(high - low) <= 1e-9 * max(abs(high), 1.0):
        return pj_text(low)
    return f"{pj_text(low)} – {pj_text(high)}"


def missing_text(entry: dict[str, Any]) -> str:
    """What an estimate (``build_report``'s ``energy`` entry) could not price, in one line ('' if
    complete)."""
    parts: dict[str, list[float]] = {}
    layers: dict[str, list[str]] = {}
    notes = []
    for m in entry["missing"]:
        if "op" in m:
            key = f"{m['term']} {m['op']}"
            parts.setdefault(key, []).append(m["ops_per_sample"])
            layers.setdefault(key, []).append(m["layer"])
        elif "component" in m:
            notes.append(f"memory {m['component']} ({_fmt(m['bytes_per_sample'])} B)")
        else:
            notes.append(f"memory ({m['what']})")
    items = [f"{k}: {_fmt(sum(v))} ops in {len(layers[k])} layer{'s' * (len(layers[k]) > 1)}"
             for k, v in parts.items()]
    return "; ".join(items + notes)


def _term_cell(term: dict[str, Any]) -> str:
    status, priced = term["status"], term["priced_pj"]
    if status in ("complete", "empty"):
        return pj_text(priced)
    if status == "included":
        return "included"
    if status == "unpriced":
        return "n/a (unpriced)"
    return f"≥ {pj_text(priced)} (partial)"


def energy_cells(e: dict[str, Any]) -> dict[str, str]:
    """Text of an estimate (``build_report``'s ``energy`` entry) for tables: every term, compute, memory,
    total, papers' convention and equivalent ANN; an incomplete number reads ``≥ priced part (incomplete)``,
    an unpriced
    one ``n/a``."""
    compute, memory, total = _total_cells(e)
    return {**{t: _term_cell(e["terms"][t]) for t in TERMS}, "compute": compute, "memory": memory,
            "total": total, "paper": _term_cell(e["terms"]["paper_convention"]),
            "ann": pj_text(e["per_sample_pj"]["ann_equivalent"])}


def _total_cells(e: dict[str, Any]) -> tuple[str, str, str]:
    p, mem = e["per_sample_pj"], e["terms"]["memory"]
    if e["compute_complete"]:
        compute = pj_text(p["compute"])
    elif p["compute_priced"] > 0:
        compute = f"≥ {pj_text(p['compute_priced'])} (incomplete)"
    else:
        compute = "n/a (nothing priced)"
    lacking = sorted({m["component"] for m in mem["missing"]})
    if mem["status"] == "included":
        memory = "included"
    elif mem["complete"]:
        memory = range_text(mem["low_pj"], mem["high_pj"])
    elif mem["priced_low_pj"] is None:
        memory = "n/a (no memory model)"
    elif not mem["priced_high_pj"]:
        memory = f"n/a ({', '.join(lacking)} unpriced)"
    else:
        memory = f"≥ {range_text(mem['priced_low_pj'], mem['priced_high_pj'])} (partial)"
    if e["complete"]:
        total = range_text(p["total_low"], p["total_high"])
    elif p["total_priced_high"]:
        total = f"≥ {range_text(p['total_priced_low'], p['total_priced_high'])} (incomplete)"
    else:
        total = "n/a"
    return compute, memory, total


def data_text(report: dict[str, Any]) -> str:
    """One sentence: what the counts were measured on."""
    d = report["data"]
    what = f"{d['samples']} samples"
    if d.get("dataset"):
        what += f" of {d['dataset']}" + (f" ({d['split']} split)" if d.get("split") else "")
    batch = f"batch size {d['batch_size']}"
    if d.get("last_batch_size") and d["last_batch_size"] != d["batch_size"]:
        batch += f" (last batch {d['last_batch_size']})"
    bn = report["meta"].get("batchnorm")
    folded = ""
    if bn is not None:
        n = len(bn["layers"])
        folded = (f"; BatchNorm folded first ({n} layer{'s' * (n != 1)}, as hw-check does)" if bn["folded"]
                  else "; BatchNorm counted unfolded")
    calls = f"{d['forwards']} forward call{'s' * (d['forwards'] != 1)}"
    return f"{what}, T = {d['T']}, {batch}, {calls}{folded}"


def to_markdown(report: dict[str, Any]) -> str:
    """Markdown rendering of ``build_report``'s dict: counts per layer, conventions, energy per profile with
    completeness flags, the memory scenarios, sources, caveats."""
    t = report["totals"]
    lines = [
        "# Energy report",
        "",
        f"Computed on {data_text(report)}. Counts and energies are **per sample** (summed over the T steps) "
        "unless stated.",
        "",
        "## Layers",
        "",
        "| layer | type | input rows | rate in | fan-in | fan-out | ACs | MACs | neurons | firing rate | "
        "state updates | neuron/other ops |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for layer in report["layers"]:
        nops = sum(layer["ops"].values())
        if layer["kind"] == "synaptic":
            rows = ", ".join(f"{k} {n}" for k, n in layer["rows"].items() if n)
            lines.append(
                f"| {layer['name']} | {layer['type']} | {rows} | {layer['input_rate']:.4f} | "
                f"{layer['fan_in']} | {layer['fan_out_mean']:.3g} | {_fmt(layer['acs'])} | "
                f"{_fmt(layer['macs'])} | | | | |"
            )
        elif layer["kind"] == "neuron":
            lines.append(
                f"| {layer['name']} | {layer['type']} | | | | | | | {layer['neurons']} | "
                f"{layer['firing_rate']:.4f} | {_fmt(layer['state_updates'])} | {_fmt(nops)} |"
            )
        else:
            note = f" ({layer['note']})" if layer.get("note") else ""
            lines.append(f"| {layer['name']} | {layer['type']}{note} | | | | | | | | | | {_fmt(nops)} |")
    c = report["conventions"]
    sj = c["spikingjelly"]
    lines += [
        "",
        f"Totals: {t['neurons']} neurons, firing rate {t['firing_rate']:.4f}, {_fmt(t['spikes'])} spikes, "
        f"{t['param_bytes']} parameter bytes, {t['state_bytes']} state bytes per sample.",
        "",
        "## Counting conventions side by side",
        "",
        "| convention | ACs / SynOps | MACs | what it counts |",
        "|---|---|---|---|",
        f"| snndeploy (default) | {_fmt(c['snndeploy_per_sample']['acs'])} | "
        f"{_fmt(c['snndeploy_per_sample']['macs'])} | non-zero input × non-zero weight pairs; AC vs MAC per "
        "sample and step; an event count n costs n ACs "
        f"({_fmt(c['snndeploy_per_sample']['count_acs'])} ACs from counts > 1) |",
        f"| NeuroBench effective, per sample | {_fmt(c['neurobench_per_sample']['acs'])} | "
        f"{_fmt(c['neurobench_per_sample']['macs'])} | the same pairs; AC vs MAC once per layer call "
        "(depends on the batch) |",
        f"| NeuroBench effective, per step | {_fmt(c['neurobench_per_step']['acs'])} | "
        f"{_fmt(c['neurobench_per_step']['macs'])} | the same / T |",
        f"| per forward call | {_fmt(c['per_forward']['acs'])} | {_fmt(c['per_forward']['macs'])} | "
        "the same × batch size (NeuroBench #137) |",
        f"| spikingjelly 2.0 SynOp/MAC counters | {_fmt(sj['synops'])} | {_fmt(sj['macs'])} | spikes × dense "
        "fan-out (zero weights included); non-spike calls as T·FLOPs (padding included), + BatchNorm |",
        f"| papers: T·rate·FLOPs | {_fmt(c['paper_T_rate_flops']['acs'])} | "
        f"{_fmt(c['paper_T_rate_flops']['macs'])} | mean input rate × dense FLOPs; counts zero weights and "
        "padding |",
        f"| dense (all synapses every step) | {_fmt(t['dense_ops'])} | | NeuroBench Dense |",
        f"| equivalent ANN, one pass | | {_fmt(c['ann_equivalent']['macs'])} | FLOPs without T |",
        "",
        f"spikingjelly's memory counters on the same model: weight reads {_fmt(sj['weight_read_bytes'])} B, "
        f"bias reads {_fmt(sj['bias_read_bytes'])} B, neuron state {_fmt(sj['neuron_state_read_bytes'])} B "
        f"read + {_fmt(sj['neuron_state_write_bytes'])} B written per sample.",
        "",
        "## Energy per sample",
        "",
        "A total that leaves something out is shown as ≥ its priced part, marked incomplete; what is missing "
        "is listed below the table. Memory is a range across the profile's dataflow scenarios.",
        "",
        "| profile | basis | synaptic | neuron | other | compute | memory | total | papers' convention | "
        "equivalent ANN |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in report["energy"]:
        c = energy_cells(e)
        total = f"**{c['total']}**" if e["complete"] else c["total"]
        lines.append(
            f"| {e['profile']} | {e['basis']} | {c['synaptic']} | {c['neuron']} | {c['other']} | "
            f"{c['compute']} | {c['memory']} | {total} | {c['paper']} | {c['ann']} |"
        )
    for e in report["energy"]:
        if not e["complete"]:
            lines.append(f"\n*{e['profile']}* is incomplete; no price for: {missing_text(e)}.")
    lines += ["", "## Memory traffic per sample, by dataflow scenario", ""]
    acc = t["memory_accesses"]
    lines.append("Element accesses: " + "; ".join(
        f"{flow} dataflow: " + ", ".join(f"{k} {_fmt(v)}" for k, v in acc[flow].items() if v)
        for flow in ("event", "step")) + ".")
    for e in report["energy"]:
        mem = e["terms"]["memory"]
        if not mem["scenarios"]:
            incl = ", ".join(mem["included"]) or "nothing"
            lines.append(f"\n*{e['profile']}*: no scenario; included in its per-op figures: {incl}.")
            continue
        incl = ", ".join(mem["included"]) or "none"
        lines += ["", f"*{e['profile']}* (included in the per-op figures: {incl})", ""]
        lines += [f"- `{s['name']}`: {s['title']}" for s in mem["scenarios"]]
        lines += ["", "| scenario | weights | " + " | ".join(f"{k} B" for k in MEMORY_COMPONENTS) + " | pJ |",
                  "|---|---|" + "---|" * len(MEMORY_COMPONENTS) + "---|"]
        for s in mem["scenarios"]:
            cells = " | ".join(_fmt(s["bytes"][k]) + ("" if s["status"][k] in ("complete", "empty") else
                                                      f" ({s['status'][k]})") for k in MEMORY_COMPONENTS)
            pj = pj_text(s["pj"]) if s["complete"] else f"≥ {pj_text(s['priced_pj'])}"
            lines.append(f"| {s['name']} | {s['weights']} | {cells} | {pj} |")
            lines += [f"\n  - {n}" for n in s["notes"]]
    lines += ["", "## Sources", ""]
    for p in report["profiles"]:
        lines.append(f"- **{p['name']}** ({p['basis']}): {p['title']}")
        for key, cost in p["costs"].items():
            flag = " *(assumption)*" if cost["assumption"] else ""
            note = f" — {cost['note']}" if cost["note"] else ""
            lines.append(f"  - `{key}` = {cost['pj']} pJ{flag}: {cost['source']}{note}")
        mem = p.get("memory")
        if mem:
            for key, price in mem["prices"].items():
                flag = " *(assumption)*" if price["assumption"] else ""
                sizes = ", ".join(f"{c:g} B" for c in price["capacity_bytes"])
                caps = f" at {sizes}" if sizes else ""
                lines.append(f"  - memory `{key}` = {', '.join(f'{v:g}' for v in price['pj'])} pJ per "
                             f"{price['access_bits']}-bit access{caps}{flag}: {price['source']}")
    lines += ["", "## Caveats", ""] + [f"- {x}" for x in report["caveats"]]
    return "\n".join(lines) + "\n"


# -- plots ---------------------------------------------------------------------------------------------------
def _bar_chart(path: Path, names: list[str], series: dict[str, list[float]], ylabel: str, title: str,
               flags: dict[str, list[str]] | None = None) -> None:
    """Grouped bars on a log axis. ``flags[label][i]``: ``"partial"`` (hatched: a lower bound), ``"unpriced"``
    (nothing priced: a red ✕ at the axis bottom, never a zero bar), ``"included"`` (inside another per-op
    figure:
    'incl.' written at the axis bottom) or ``""``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch

    flags = flags or {}
    width_in = min(30.0, max(6.0, 0.35 * len(names) * max(1, len(series)) / 2 + 2))
    fig, ax = plt.subplots(figsize=(width_in, 4.8))
    x = np.arange(len(names))
    width = 0.8 / max(1, len(series))
    positive = [v for vals in series.values() for v in vals if v > 0]
    bottom = min(positive) / 3 if positive else 1.0
    marked = False
    for i, (label, vals) in enumerate(series.items()):
        pos = x + (i - (len(series) - 1) / 2) * width
        bars = ax.bar(pos, vals, width, label=label)
        for j, flag in enumerate(flags.get(label, [""] * len(vals))):
            if flag == "partial":
                bars[j].set_hatch("//")
                bars[j].set_edgecolor("black")
            elif flag == "included":
                ax.text(pos[j], bottom, "incl.", ha="center", va="bottom", fontsize=6, rotation=90)
            elif flag == "unpriced":
                ax.plot(pos[j], bottom, marker="x", color="red", markersize=8, linestyle="none",
                        label=None if marked else "unpriced (no number: not zero)")
                marked = True
    handles, _ = ax.get_legend_handles_labels()
    if any(flags.get(k) and "partial" in flags[k] for k in series):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//",
                             label="partial: a lower bound"))
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if positive:
        ax.set_yscale("log")
        ax.set_ylim(bottom=bottom / 2)
    ax.legend(handles=handles, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _term_chart(path: Path, report: dict[str, Any]) -> None:
    """Per profile: each compute term, then the memory range (bar to the low end, whisker to the high end)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    energy = report["energy"]
    terms = [*TERMS, "memory"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(energy) + 2), 4.8))
    x = np.arange(len(energy))
    width = 0.8 / len(terms)
    values = []
    for e in energy:
        mem = e["terms"]["memory"]
        values += [e["terms"][t]["priced_pj"] for t in TERMS] + [mem["priced_high_pj"] or 0.0]
    positive = [v for v in values if v > 0]
    bottom = min(positive) / 3 if positive else 1.0
    labelled: set[str] = set()
    for i, term in enumerate(terms):
        pos = x + (i - (len(terms) - 1) / 2) * width
        for j, e in enumerate(energy):
            t = e["terms"][term]
            if term == "memory":
                low, high = t["priced_low_pj"], t["priced_high_pj"]
            else:
                low = high = t["priced_pj"]
            label = term if term not in labelled else None
            labelled.add(term)
            color = f"C{i}"
            if t["status"] in ("included", "empty"):
                mark = "incl." if t["status"] == "included" else "–"
                ax.text(pos[j], bottom, mark, ha="center", va="bottom", fontsize=7, rotation=90)
                ax.bar(pos[j], 0, width, color=color, label=label)
                continue
            if not low or not high or t["status"] == "unpriced":  # nothing priced: a marker, never a 0 bar
                ax.plot(pos[j], bottom, marker="x", color="red", markersize=8, linestyle="none")
                ax.bar(pos[j], 0, width, color=color, label=label)
                continue
            bar = ax.bar(pos[j], max(low, 0.0), width, color=color, label=label)
            if t["status"] == "partial":
                bar[0].set_hatch("//")
                bar[0].set_edgecolor("black")
            if high is not None and high > low:
                ax.errorbar(pos[j], low, yerr=[[0], [high - low]], color="black", capsize=3, linewidth=1)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], marker="x", color="red", linestyle="none",
                       label="unpriced (no number: not zero)"),
                Patch(facecolor="white", edgecolor="black", hatch="//", label="partial: a lower bound")]
    ax.set_xticks(x)
    ax.set_xticklabels([e["profile"] for e in energy], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("pJ per sample")
    ax.set_title("Energy per term (memory: bar = lowest scenario, whisker = highest)")
    if positive:
        ax.set_yscale("log")
        ax.set_ylim(bottom=bottom / 2)
    ax.legend(handles=handles, fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _layer_flag(le: dict[str, Any], kind: str, included: list[str]) -> str:
    if not le["complete"]:
        return "partial" if le["priced_pj"] > 0 else "unpriced"
    term = "synaptic" if kind == "synaptic" else ("neuron" if kind == "neuron" else "other")
    return "included" if term in included and le["priced_pj"] == 0 else ""


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write energy.json, energy.md and the three PNG charts into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    paths = {
        "json": out / "energy.json",
        "markdown": out / "energy.md",
        "ops_png": out / "ops_per_layer.png",
        "energy_png": out / "energy_per_layer.png",
        "terms_png": out / "energy_terms.png",
    }
    with atomic_write(paths["json"]) as fh:
        json.dump(report, fh, indent=2, sort_keys=False)
        fh.write("\n")
    with atomic_write(paths["markdown"]) as fh:
        fh.write(to_markdown(report))
    layers = report["layers"]
    names = [f"{lyr['name']} ({lyr['type']})" for lyr in layers]
    _bar_chart(
        paths["ops_png"], names,
        {
            "ACs": [lyr.get("acs", 0.0) for lyr in layers],
            "MACs": [lyr.get("macs", 0.0) for lyr in layers],
            "neuron/other ops": [float(sum(lyr["ops"].values())) for lyr in layers],
        },
        "operations per sample", "Operations per layer",
    )
    series, flags = {}, {}
    kinds = {lyr["name"]: lyr["kind"] for lyr in layers}
    for e, prof in zip(report["energy"], report["profiles"], strict=True):
        series[e["profile"]] = [le["priced_pj"] for le in e["layers"]]
        flags[e["profile"]] = [_layer_flag(le, kinds[le["name"]], prof["included"]) for le in e["layers"]]
    _bar_chart(paths["energy_png"], names, series, "pJ per sample",
               "Compute energy per layer (hatched: partial; red ✕: unpriced)", flags)
    _term_chart(paths["terms_png"], report)
    return paths
