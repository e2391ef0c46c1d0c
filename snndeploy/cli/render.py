"""How the CLI shows library results (rich tables and lines); the commands share these instead of importing
one another. Nothing here computes anything."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "print_epoch", "print_rates", "print_fold_report", "print_verify_report", "print_energy", "print_hw_check",
]


def print_epoch(console: Console, record: dict[str, Any], epochs: int) -> None:
    """One line per finished epoch."""
    console.print(
        f"epoch {record['epoch'] + 1}/{epochs}  loss {record['train_loss']:.4f}  train {record['train_acc']:.4f}  "
        f"test {record['test_acc']:.4f}  rate {record['mean_firing_rate']:.4f}  lr {record['lr']:.1e}  "
        f"{record['time_s']:.1f}s"
    )


def print_rates(console: Console, record: dict[str, Any], title: str) -> None:
    """Per-layer firing-rate table of an epoch record."""
    table = Table(title=title)
    table.add_column("neuron layer")
    table.add_column("firing rate", justify="right")
    for name, rate in record["firing_rate"].items():
        table.add_row(name, f"{rate:.4f}")
    table.add_row("all", f"{record['mean_firing_rate']:.4f}")
    console.print(table)


def print_fold_report(console: Console, report: Any) -> None:
    """Per-layer rule, exactness and agreement of a ``FoldReport``, then its metrics."""
    table = Table(title="fold report")
    for col in ("layer", "source", "rule", "exact", "spike agreement", "notes"):
        table.add_column(col)
    for e in report.layers:
        agree = "n/a" if e.spike_agreement is None else f"{e.spike_agreement:.4f}"
        note = ""
        if "max_abs_diff" in e.extra:
            note = f"max |Δ| {e.extra['max_abs_diff']:.2e}"
        elif e.extra.get("relu_floor_rate") is not None:
            note = f"ReLU floor acts on {e.extra['relu_floor_rate']:.2%} of neuron-steps"
        table.add_row(e.layer, e.source, e.rule, "yes" if e.exact else "no", agree, note)
    console.print(table)
    for k, v in report.metrics.items():
        if isinstance(v, float):
            console.print(f"{k}: {v:.4f}")


def print_verify_report(console: Console, report: Any, title: str) -> None:
    """The rich table of a verify report."""
    if not console.is_terminal:  # piped or captured output: do not squeeze the table into 80 columns
        console.width = max(console.width, 112)
    table = Table(title=title)
    for col in ("runtime", "vs", "expected", "status", "spikes", "predictions", "verdict"):
        table.add_column(col, no_wrap=col in ("runtime", "vs"))
    for r in report.runtimes:
        verdict = {True: "[green]pass", False: "[red]FAIL", None: "info"}[r.passed]
        agree = "—" if r.spike_agreement is None else f"{100 * r.spike_agreement:.3f}%"
        pred = "—" if r.prediction_agreement is None else f"{100 * r.prediction_agreement:.2f}%"
        table.add_row(escape(r.runtime), escape(r.reference), r.expectation, r.status, agree, pred, verdict)
    console.print(table)


def print_energy(console: Console, report: dict[str, Any]) -> None:
    """What the counts were measured on, the totals line, and the per-profile energy table of an energy report;
    an incomplete total reads ``≥ priced part (incomplete)`` and what it lacks is printed under the table."""
    from ..energy import data_text, energy_cells, missing_text

    t = report["totals"]
    console.print(f"computed on {data_text(report)}")
    console.print(f"firing rate {t['firing_rate']:.4f}, ACs {t['effective_acs']:.4g}, MACs {t['effective_macs']:.4g} "
                  f"per sample (NeuroBench's per-call rule: ACs {t['neurobench_acs']:.4g}, "
                  f"MACs {t['neurobench_macs']:.4g})")
    if not console.is_terminal:  # piped or captured output: do not squeeze the table into 80 columns
        console.width = max(console.width, 140)
    table = Table(title="energy per sample (memory: range across the profile's dataflow scenarios)")
    for col in ("profile", "basis", "compute", "memory", "total", "papers' T·rate·FLOPs", "equivalent ANN"):
        table.add_column(col)
    for e in report["energy"]:
        c = energy_cells(e)
        style = "" if e["complete"] else "yellow"
        table.add_row(e["profile"], e["basis"], c["compute"], c["memory"], c["total"], c["paper"], c["ann"],
                      style=style)
    console.print(table)
    for e in report["energy"]:
        if not e["complete"]:
            console.print(f"[yellow]{escape(e['profile'])}: incomplete, no price for[/] {escape(missing_text(e))}")


def print_hw_check(console: Console, result: Any) -> None:
    """Quantisation lines (when quantised), every violation with its fix and source, then the verdict line."""
    q = result.quantization
    if q is not None:
        for a in q.activity:
            flag = f"  [red]{a.alarm}[/]" if a.alarm else ""
            console.print(f"{a.name}: rate {a.rate_float:.4f} → {a.rate_quant:.4f}, spike agreement "
                          f"{a.agreement:.4f}{flag}")
        if q.accuracy:
            console.print(f"accuracy float {q.accuracy[0]:.4f} → quantised {q.accuracy[1]:.4f}")
    rep = result.report
    for v in rep.violations:
        color = "red" if v.severity == "error" else "yellow"
        console.print(f"[{color}]{v.severity}[/] {v.layer} [{v.rule}] {v.message}\n    fix: {v.fix}\n"
                      f"    source: {v.source}")
    if rep.not_checked:
        console.print(f"not checked (no source found): {', '.join(rep.not_checked)}")
    console.print(f"{result.target.name}: {len(rep.errors)} error(s), {len(rep.violations) - len(rep.errors)} warning(s)")
