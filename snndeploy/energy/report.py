"""Energy report: one JSON document with stable keys, a markdown rendering with the caveats, PNG bar charts.

``build_report(counts, profiles)`` gathers the counts (per sample, per step, per forward) and one estimate per
profile; ``to_markdown`` renders it; ``write_report`` writes ``energy.json``, ``energy.md``, ``ops_per_layer.png``
and ``energy_per_layer.png`` through ``atomic_path``/``atomic_write``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..io import atomic_path, atomic_write
from .counting import OpCounts, count_ops
from .estimate import estimate_energy
from .neuron_ops import OP_KINDS
from .profiles import EnergyProfile, builtin_profiles, get_profile

__all__ = ["SCHEMA_VERSION", "CAVEATS", "build_report", "energy_report", "to_markdown", "write_report"]

SCHEMA_VERSION = 1

CAVEATS = [
    "Data movement is not counted: weight and state reads/writes from SRAM or DRAM, spike routing between cores, "
    "and static/leakage power are left out (except where a profile's figure is all-in, e.g. TrueNorth). On real "
    "chips these often dominate.",
    "The 45 nm CMOS numbers (Horowitz 2014) are pre-silicon circuit estimates of arithmetic alone, not a chip.",
    "The Loihi numbers (Davies et al. 2018, Table 2) are pre-silicon SDF/SPICE simulations; 23.6 pJ is a minimum.",
    "The TrueNorth figure (Merolla et al. 2014) is measured silicon at one operating point (20 Hz, 128 synapses "
    "per neuron); it includes static power and does not scale linearly away from that point.",
    "Counts are measured on the data given: firing rates, and therefore ACs and energy, change with the data.",
]


def _layer_dict(lc: Any, counts: OpCounts) -> dict[str, Any]:
    per = counts.per_sample
    d: dict[str, Any] = {"name": lc.name, "kind": lc.kind, "type": lc.type}
    if lc.kind == "synaptic":
        d.update(
            input_kind="/".join(sorted(lc.input_kinds)),
            input_rate=lc.input_rate,
            fan_in=lc.fan_in,
            fan_out_mean=lc.fan_out_mean,
            synapses_per_step=lc.flops_per_row,
            parameters=lc.parameters,
            param_bytes=lc.param_bytes,
            acs=per(lc.acs),
            macs=per(lc.macs),
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
    d["ops"] = {k: per(lc.ops.get(k, 0)) for k in OP_KINDS}
    return d


def build_report(counts: OpCounts, profiles: Iterable[EnergyProfile], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full report as a JSON-ready dict. All op counts and energies are per sample unless the key says otherwise."""
    per = counts.per_sample
    acs, macs = per(counts.total("acs")), per(counts.total("macs"))
    totals = {
        "neurons": counts.neurons,
        "firing_rate": counts.firing_rate,
        "spikes": per(counts.total("spikes")),
        "state_updates": per(counts.total("updates")),
        "effective_acs": acs,
        "effective_macs": macs,
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
    }
    conventions = {
        "neurobench_per_sample": {"acs": acs, "macs": macs},
        "neurobench_per_step": {"acs": acs / counts.T, "macs": macs / counts.T},
        "per_forward": {
            "acs": counts.total("acs") / counts.forwards,
            "macs": counts.total("macs") / counts.forwards,
        },
        "paper_T_rate_flops": {"acs": totals["paper_acs"], "macs": totals["paper_macs"]},
        "ann_equivalent": {"macs": counts.ann_macs_per_sample},
    }
    estimates = [estimate_energy(counts, p) for p in profiles]
    return {
        "schema_version": SCHEMA_VERSION,
        "meta": dict(meta or {}),
        "data": {"samples": counts.samples, "T": counts.T, "forwards": counts.forwards},
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
) -> dict[str, Any]:
    """Count ``model`` on ``data`` ([T, B, *] tensor or iterable of batches) and price it under ``profiles``
    (built-in names, TOML paths or profiles; default: every built-in profile). Returns ``build_report``'s dict."""
    counts = count_ops(model, data, max_batches=max_batches)
    profs = list(builtin_profiles().values()) if profiles is None else [get_profile(p) for p in profiles]
    return build_report(counts, profs, meta)


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-2:
        return f"{x:.3e}"
    return f"{x:.4g}"


def _pj(x: float | None) -> str:
    if x is None:
        return "n/a"
    for unit, scale in (("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.4g} {unit}"
    return f"{x:.4g} pJ"


def to_markdown(report: dict[str, Any]) -> str:
    """Markdown rendering of ``build_report``'s dict: counts per layer, conventions, energy per profile, caveats."""
    d, t = report["data"], report["totals"]
    lines = [
        "# Energy report",
        "",
        f"{d['samples']} samples, T = {d['T']}, {d['forwards']} forward calls. Counts and energies are **per sample** "
        "(summed over the T steps) unless stated.",
        "",
        "## Layers",
        "",
        "| layer | type | input | rate in | fan-in | fan-out | ACs | MACs | neurons | firing rate | state updates | neuron ops |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for layer in report["layers"]:
        nops = sum(layer["ops"].values())
        if layer["kind"] == "synaptic":
            lines.append(
                f"| {layer['name']} | {layer['type']} | {layer['input_kind']} | {layer['input_rate']:.4f} | "
                f"{layer['fan_in']} | {layer['fan_out_mean']:.3g} | {_fmt(layer['acs'])} | {_fmt(layer['macs'])} | "
                "| | | |"
            )
        elif layer["kind"] == "neuron":
            lines.append(
                f"| {layer['name']} | {layer['type']} | | | | | | | {layer['neurons']} | {layer['firing_rate']:.4f} | "
                f"{_fmt(layer['state_updates'])} | {_fmt(nops)} |"
            )
        else:
            lines.append(f"| {layer['name']} | {layer['type']} | | | | | | | | | | {_fmt(nops)} |")
    c = report["conventions"]
    lines += [
        "",
        f"Totals: {t['neurons']} neurons, firing rate {t['firing_rate']:.4f}, {_fmt(t['spikes'])} spikes, "
        f"{t['param_bytes']} parameter bytes, {t['state_bytes']} state bytes per sample.",
        "",
        "## Counting conventions side by side",
        "",
        "| convention | ACs | MACs | what it counts |",
        "|---|---|---|---|",
        f"| NeuroBench effective, per sample | {_fmt(c['neurobench_per_sample']['acs'])} | "
        f"{_fmt(c['neurobench_per_sample']['macs'])} | non-zero input × non-zero weight pairs, summed over T |",
        f"| NeuroBench effective, per step | {_fmt(c['neurobench_per_step']['acs'])} | "
        f"{_fmt(c['neurobench_per_step']['macs'])} | the same / T |",
        f"| per forward call | {_fmt(c['per_forward']['acs'])} | {_fmt(c['per_forward']['macs'])} | "
        "the same × batch size (NeuroBench #137) |",
        f"| papers: T·rate·FLOPs | {_fmt(c['paper_T_rate_flops']['acs'])} | {_fmt(c['paper_T_rate_flops']['macs'])} | "
        "mean input rate × dense FLOPs; counts zero weights and padding |",
        f"| dense (all synapses every step) | {_fmt(t['dense_ops'])} | | NeuroBench Dense |",
        f"| equivalent ANN, one pass | | {_fmt(c['ann_equivalent']['macs'])} | FLOPs without T |",
        "",
        "## Energy per sample",
        "",
        "| profile | basis | synaptic | neuron | other | total | papers' convention | equivalent ANN |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in report["energy"]:
        p = e["per_sample_pj"]
        lines.append(
            f"| {e['profile']} | {e['basis']} | {_pj(p['synaptic'])} | {_pj(p['neuron'])} | {_pj(p['other'])} | "
            f"**{_pj(p['total'])}** | {_pj(p['paper_convention'])} | {_pj(p['ann_equivalent'])} |"
        )
    for e in report["energy"]:
        if e["unpriced"]:
            items = ", ".join(f"layer `{u['layer']}`: {u['term']} ({_fmt(u['ops_per_sample'])} ops)" for u in e["unpriced"])
            lines.append(f"\n*{e['profile']}* cannot price, left out of its total: {items}.")
    lines += ["", "## Sources", ""]
    for p in report["profiles"]:
        lines.append(f"- **{p['name']}** ({p['basis']}): {p['title']}")
        for key, cost in p["costs"].items():
            flag = " *(assumption)*" if cost["assumption"] else ""
            note = f" — {cost['note']}" if cost["note"] else ""
            lines.append(f"  - `{key}` = {cost['pj']} pJ{flag}: {cost['source']}{note}")
    lines += ["", "## Caveats", ""] + [f"- {x}" for x in report["caveats"]]
    return "\n".join(lines) + "\n"


def _bar_chart(path: Path, names: list[str], series: dict[str, list[float]], ylabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(min(30.0, max(6.0, 0.35 * len(names) + 2)), 4.5))
    x = np.arange(len(names))
    width = 0.8 / max(1, len(series))
    for i, (label, vals) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if any(v > 0 for vals in series.values() for v in vals):
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write energy.json, energy.md and the two PNG charts into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    paths = {
        "json": out / "energy.json",
        "markdown": out / "energy.md",
        "ops_png": out / "ops_per_layer.png",
        "energy_png": out / "energy_per_layer.png",
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
    _bar_chart(
        paths["energy_png"], names,
        {e["profile"]: [le["total_pj"] for le in e["layers"]] for e in report["energy"]},
        "pJ per sample", "Energy per layer (NeuroBench-effective counts)",
    )
    return paths
