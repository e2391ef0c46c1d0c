"""Verify outputs: JSON (stable keys), a markdown summary, and PNGs (per-layer agreement bars, spike raster
diff)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io import atomic_path, atomic_write
from .api import RuntimeReport, VerifyReport

__all__ = ["write_report", "to_markdown"]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.3f}%"


def _verdict(r: RuntimeReport) -> str:
    v = r.verdict
    return f"**{v}**" if v in ("FAIL", "differs") else v


def _status(r: RuntimeReport) -> str:
    """``ran`` for informational rows (their verdict says whether they agree), else the status."""
    return "ran" if r.expectation == "informational" and r.status == "ok" else r.status


def to_markdown(report: VerifyReport) -> str:
    """The human summary: one row per runtime, the first divergence, firing rates, known peer
    differences."""
    lines = [
        f"# snndeploy verify: {'PASSED' if report.passed else 'FAILED'}",
        "",
        f"{report.samples} samples, T = {report.T}; policy for approximate folds: spike agreement ≥ "
        f"{report.policy['min_spike_agreement']}, accuracy drop ≤ {report.policy['max_accuracy_drop']} pt."
        + (
            f" Source accuracy: {100 * report.source_accuracy:.2f}%."
            if report.source_accuracy is not None
            else ""
        ),
        "",
        "| runtime | compared with | expected | status | spike agreement | same prediction | accuracy "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report.runtimes:
        lines.append(
            f"| {r.runtime} | {r.reference} | {r.expectation} | {_status(r)} | {_pct(r.spike_agreement)} | "
            f"{_pct(r.prediction_agreement)} | {_pct(r.accuracy)} | {_verdict(r)} |"
        )
    lines += ["", "## Details", ""]
    for r in report.runtimes:
        if r.reason:
            lines.append(f"- **{r.runtime}** vs {r.reference}: {r.reason}")
        first = r.first_divergence
        if first is not None and r.passed is not False and "first divergence" not in r.reason:
            layer, d = first
            lines.append(
                f"- {r.runtime} vs {r.reference}: first divergence at layer {layer}, t={d.t}, "
                f"sample={d.sample}, neuron={list(d.neuron)}"
                + (f", margin {d.margin:.3g}" if d.margin is not None else "")
            )
    lines += ["", "## Firing rate per layer (source)", "", "| layer | firing rate |", "|---|---|"]
    lines += [f"| {p} | {v:.4f} |" for p, v in report.firing_rates.items()]
    if report.known_differences:
        lines += [
            "",
            "## Known differences of peer simulators (measured by benchmarks/interop_matrix.py, see "
            "docs/interop.md)",
            "",
        ]
        for peer, items in report.known_differences.items():
            lines += [f"- **{peer}**: {item}" for item in items]
    return "\n".join(lines) + "\n"


def _plot_agreement(report: VerifyReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.runtimes if r.layers]
    layers = list(report.firing_rates)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(layers) + 2) + 3, 3.5))
    width = 0.8 / max(len(rows), 1)
    for i, r in enumerate(rows):
        by = {c.layer: c.agreement for c in r.layers}
        xs = [j + i * width for j in range(len(layers))]
        ax.bar(
            xs,
            [100 * by.get(layer, float("nan")) for layer in layers],
            width,
            label=f"{r.runtime} vs {r.reference}",
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(layers))], layers, rotation=30, ha="right")
    ax.set_ylabel("identical neuron-steps (%)")
    lo = min([100 * c.agreement for r in rows for c in r.layers] + [99.0])
    ax.set_ylim(max(0.0, lo - 0.5), 100.05)
    ax.set_title("spike agreement per layer")
    ax.legend(
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="runtime vs reference",
        title_fontsize=7,
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _plot_raster_diff(report: VerifyReport, path: Path) -> bool:
    """Raster of the first divergent sample: both spike (black), reference only (blue), other only
    (red)."""
    target = next((r for r in report.runtimes if r.first_divergence is not None and r.passed is False), None)
    target = target or next((r for r in report.runtimes if r.first_divergence is not None), None)
    if target is None:
        return False
    runs = {run.name: run for run in report.runs.values()}
    ref, other = runs.get(target.reference), runs.get(target.runtime)
    if ref is None or other is None:
        return False
    layer, d = target.first_divergence
    a = ref.spikes[layer][:, d.sample].reshape(ref.spikes[layer].shape[0], -1).float().cpu()
    b = other.spikes[layer][:, d.sample].reshape(a.shape[0], -1).float().cpu()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    img = np.ones((*a.shape, 3))
    img[(a == 1) & (b == 1)] = (0, 0, 0)
    img[(a == 1) & (b == 0)] = (0.1, 0.3, 0.9)
    img[(a == 0) & (b == 1)] = (0.9, 0.1, 0.1)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.imshow(img.transpose(1, 0, 2), aspect="auto", interpolation="nearest")
    ax.set_xlabel("time step")
    ax.set_ylabel("neuron (flattened)")
    ax.set_title(
        f"{layer}, sample {d.sample}: black both, blue {target.reference} only, red {target.runtime} only",
        fontsize=8,
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return True


def write_report(report: VerifyReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``verify.json``, ``verify.md``, ``agreement.png`` and (when spikes diverge)
    ``raster_diff.png``."""
    out = Path(out_dir)
    paths: dict[str, Any] = {
        "json": out / "verify.json",
        "markdown": out / "verify.md",
        "agreement": out / "agreement.png",
    }
    with atomic_write(paths["json"]) as fh:
        json.dump(report.to_dict(), fh, indent=2, default=float)
    with atomic_write(paths["markdown"]) as fh:
        fh.write(to_markdown(report))
    _plot_agreement(report, paths["agreement"])
    if _plot_raster_diff(report, out / "raster_diff.png"):
        paths["raster_diff"] = out / "raster_diff.png"
    return paths
