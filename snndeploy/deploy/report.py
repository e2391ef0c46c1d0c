"""What ``snndeploy deploy`` writes: ``deploy.json`` (a stable, documented schema), ``deploy.md``, the
accuracy per stage as a plot, and the vendor artifacts of the integer chip model
(``ChipSupport.write_artifacts``).

``deploy.json`` (``schema`` = ``SCHEMA``):

    target                 the hardware target's name (``snndeploy/hardware/targets``)
    source                 {name, accuracy, model_config, fold_rules}
    stages                 [{name, accuracy, spike_agreement_vs_source, detail}], in order: source, fold,
                           rewrite, fine-tune, quantised, integer (the integer chip model; on SpiNNaker2 the
                           int8 float quantiser); accuracy in [0, 1] on the test split, spike agreement the
                           fraction of identical neuron-steps over the neuron layers shared with the source
                           (``null`` where none is shared)
    vendor_check           {simulator, version, samples, spike_agreement, mismatches, neuron_steps}, or
                           {simulator, reason} when none ran
    hw_check               {errors, warnings, violations: [{layer, rule, severity, message, fix, source}]}
    rewrites               [{name, layer, exact, detail}]
    finetune               {val_acc per epoch (epoch 0 first), loss, best_epoch, ...}
    baseline               the CLIF authors' hard-reset deployment {float_accuracy, chip_accuracy, ...} or
    null energy                 {profile, target_profile, per_sample_pj, complete, totals, report} or null
    chip                   ``target_check.TargetCheck.to_dict()``: float vs integer per layer, mapping notes
    artifacts              [paths written by the chip's write_artifacts]
    passed                 hw_check.errors == 0 and vendor_check.spike_agreement == 1.0
    data, config, timings  what it ran on and with, and how long each step took (s)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..hardware.chips import chips
from ..io import atomic_path, atomic_write
from .convert import DeployResult

__all__ = ["SCHEMA", "deploy_dict", "write_deploy", "plot_stages", "markdown"]

SCHEMA = "snndeploy.deploy/1"


def deploy_dict(result: DeployResult, artifacts: list[str] | None = None) -> dict[str, Any]:
    """The ``deploy.json`` content (module docstring)."""
    check = result.check
    return {
        "schema": SCHEMA,
        "target": result.target,
        "source": result.source,
        "stages": [s.to_dict() for s in result.stages],
        "vendor_check": check.vendor_dict()
        if check is not None
        else {"simulator": None, "reason": "not run"},
        "hw_check": check.hw_dict() if check is not None else {"errors": None, "warnings": None},
        "rewrites": [r.to_dict() for r in result.rewrites],
        "finetune": result.finetune,
        "baseline": result.baseline,
        "energy": result.energy,
        "chip": check.to_dict() if check is not None else None,
        "recipe": result.recipe.to_dict(),
        "artifacts": list(artifacts or []),
        "passed": result.passed,
        "data": result.data.record() if result.data is not None else None,
        "config": result.config.to_dict(),
        "timings": result.timings,
    }


def plot_stages(result: DeployResult, path: Path) -> Path:
    """Accuracy per stage (bars) and spike agreement with the source (line), one PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.name for s in result.stages]
    acc = [100 * (s.accuracy or 0.0) for s in result.stages]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    bars = ax.bar(names, acc, color=["#888"] + ["#4c72b0"] * (len(names) - 1))
    for b, a in zip(bars, acc, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, a + 0.5, f"{a:.1f}", ha="center", fontsize=8)
    if result.baseline is not None:
        ax.axhline(
            100 * result.baseline["float_accuracy"],
            ls="--",
            color="#c44e52",
            lw=1,
            label="hard-reset LIF (CLIF authors), float",
        )
    agree = [
        (i, 100 * s.spike_agreement_vs_source)
        for i, s in enumerate(result.stages)
        if s.spike_agreement_vs_source is not None
    ]
    if agree:
        ax.plot(
            [i for i, _ in agree],
            [a for _, a in agree],
            "o-",
            color="#55a868",
            label="spike agreement vs source",
        )
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(f"deploy → {result.target}: accuracy per stage (test split)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


def markdown(d: dict[str, Any]) -> str:
    """``deploy.md`` from the ``deploy.json`` dict."""
    lines = [
        f"# deploy → {d['target']}",
        "",
        f"Source: `{d['source'].get('name')}`; passed: **{d['passed']}** "
        "(hw-check without errors and the vendor simulator identical to the integer chip model).",
        "",
        "| stage | accuracy | spike agreement vs source | what |",
        "|---|---|---|---|",
    ]
    for s in d["stages"]:
        lines.append(
            f"| {s['name']} | {_pct(s['accuracy'])} | {_pct(s['spike_agreement_vs_source'])} | "
            f"{s['detail']} |"
        )
    b = d.get("baseline")
    if b:
        lines += [
            "",
            f"Baseline, {b['name']}: float {_pct(b['float_accuracy'])}, integer chip "
            f"{_pct(b.get('chip_accuracy'))}" + (f" ({b['reason']})" if b.get("reason") else "") + ".",
        ]
    lines += ["", "## Rewrites", "", "| rewrite | layer | exact | detail |", "|---|---|---|---|"]
    for r in d["rewrites"]:
        lines.append(f"| {r['name']} | {r['layer']} | {'yes' if r['exact'] else 'no'} | {r['detail']} |")
    v = d["vendor_check"]
    lines += ["", "## Vendor simulator", ""]
    if "reason" in v:
        lines.append(f"Not run: {v['reason']}")
    else:
        lines.append(
            f"{v['simulator']} on {v['samples']} samples: spike agreement {_pct(v['spike_agreement'])} "
            f"({v['mismatches']} of {v['neuron_steps']} neuron-steps differ)."
        )
    h = d["hw_check"]
    lines += ["", f"## hw-check: {h['errors']} error(s), {h['warnings']} warning(s)", ""]
    for viol in h.get("violations", []):
        lines.append(
            f"- **{viol['severity']}** {viol['layer']} [{viol['rule']}]: {viol['message']} "
            f"(fix: {viol['fix']})"
        )
    e = d.get("energy")
    if e:
        pj = e["per_sample_pj"]
        lines += [
            "",
            "## Energy",
            "",
            f"Profile `{e['profile']}`"
            + (f" — {e['note']}" if e.get("note") else "")
            + f"; complete: {e['complete']}; per sample: compute {pj.get('compute')} pJ, total "
            f"{pj.get('total_low')}–{pj.get('total_high')} pJ. Report: {e.get('report', '—')}.",
        ]
    if d["artifacts"]:
        lines += ["", "## Artifacts", ""] + [f"- `{a}`" for a in d["artifacts"]]
    ft = d.get("finetune") or {}
    if ft:
        lines += [
            "",
            f"Fine-tune: validation accuracy per epoch {[round(a, 4) for a in ft.get('val_acc', [])]}, "
            f"kept epoch {ft.get('best_epoch')}.",
        ]
    return "\n".join(lines) + "\n"


def write_deploy(result: DeployResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the vendor artifacts, ``deploy.json``, ``deploy.md`` and ``accuracy_per_stage.png`` into
    ``out_dir`` (each file atomically); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    artifacts: list[str] = []
    check = result.check
    if check is not None and check.mapping is not None:
        support = chips().get(result.target)
        if support is not None:
            artifacts = [str(p) for p in support.write_artifacts(check.mapping.network, out / "artifacts")]
    d = deploy_dict(result, artifacts)
    paths = {
        "json": out / "deploy.json",
        "markdown": out / "deploy.md",
        "plot": out / "accuracy_per_stage.png",
    }
    with atomic_write(paths["json"]) as fh:
        json.dump(d, fh, indent=2, default=_json_default)
        fh.write("\n")
    with atomic_write(paths["markdown"]) as fh:
        fh.write(markdown(d))
    plot_stages(result, paths["plot"])
    return paths


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    return str(obj)
