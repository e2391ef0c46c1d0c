"""How the CLI shows library results (rich tables and lines); the commands share these instead of importing
one another. Nothing here computes anything."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "print_epoch", "print_rates", "print_fold_report", "print_verify_report", "print_check_nir",
    "print_profile_export", "print_energy", "print_hw_check", "print_chip_check", "print_target_check",
    "print_deploy",
]


def print_epoch(console: Console, record: dict[str, Any], epochs: int) -> None:
    """One line per finished epoch (never wrapped: logs stay one line per epoch)."""
    console.print(
        f"epoch {record['epoch'] + 1}/{epochs}  loss {record['train_loss']:.4f}  train "
        f"{record['train_acc']:.4f}  test {record['test_acc']:.4f}  rate {record['mean_firing_rate']:.4f}  "
        f"lr {record['lr']:.1e}  {record['time_s']:.1f}s",
        soft_wrap=True,
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
    colors = {"pass": "green", "identical": "green", "FAIL": "red", "differs": "red", "reference": "",
              "unavailable": "yellow", "failed": "red"}
    for r in report.runtimes:
        v = r.verdict
        verdict = f"[{colors[v]}]{v}" if colors.get(v) else v
        status = "ran" if r.expectation == "informational" and r.status == "ok" else r.status
        agree = "—" if r.spike_agreement is None else f"{100 * r.spike_agreement:.3f}%"
        pred = "—" if r.prediction_agreement is None else f"{100 * r.prediction_agreement:.2f}%"
        table.add_row(escape(r.runtime), escape(r.reference), r.expectation, status, agree, pred, verdict)
    console.print(table)
    for r in report.runtimes:  # why a peer differs or is unavailable, one line each
        if r.passed is None and r.verdict in ("differs", "unavailable") and r.reason:
            console.print(f"[dim]{escape(r.runtime)}: {escape(_clip(r.reason))}")


def _clip(text: str, limit: int = 420) -> str:
    """``text`` up to ``limit`` characters, cut after a whole clause ("; ") and saying where the rest is."""
    if len(text) <= limit:
        return text
    cut = text.rfind("; ", 0, limit)
    head = text[:cut] if cut > limit // 3 else text[:limit].rsplit(" ", 1)[0]
    return head + " … (the whole reason: verify.md)"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.3f}%"


def print_check_nir(console: Console, report: Any) -> None:
    """A ``check-nir`` report: findings and unit problems (loud), corrections, nirsim vs expected, peers node
    by node, energy totals, hardware errors per target, the verdict."""
    if not console.is_terminal:
        console.width = max(console.width, 112)
    console.print(
        f"{escape(report.file)}: input {list(report.input_shape)}, dt {report.dt:g} s "
        f"({escape(report.dt_source)}), T={report.T}, {report.samples} samples ({report.input_source})"
    )
    for f in report.findings:
        console.print(f"[yellow]note[/] {escape(f)}")
    for p in report.unit_problems:
        console.print(
            f"[bold red]UNIT PROBLEM[/] node {escape(p['node'])}: {escape(p['message'])}"
            + (f"\n    fix: {escape(p['fix'])}" if p.get("fix") else "")
        )
    for c in report.corrections:
        console.print(f"[cyan]corrected ({escape(str(report.writer))})[/] {escape(c)}")
    for p in report.remaining_problems if report.writer is not None else []:
        console.print(f"[red]still after corrections[/] node {escape(p['node'])}: {escape(p['message'])}")
    if report.expected is not None:
        color = "green" if report.passed else "red"
        first = report.expected.first
        where = (
            f"; first divergence t={first.t}, sample={first.sample}, neuron={list(first.neuron)}"
            if first
            else ""
        )
        console.print(
            f"nirsim vs the writer's output: [{color}]{_pct(report.agreement)}[/] identical spikes{where}"
        )
    table = Table(title="peers on the file as written (node by node against nirsim)")
    for col in ("peer", "status", "vs nirsim", "output vs expected", "detail"):
        table.add_column(col, no_wrap=col != "detail")
    for p in report.peers:
        vs_exp = _pct(p.output_vs_expected.agreement) if p.output_vs_expected is not None else "—"
        table.add_row(
            p.peer, "ran" if p.status == "ok" else p.status, _pct(p.agreement), vs_exp, escape(p.detail[:160])
        )
    console.print(table)
    if report.energy and "totals" in report.energy:
        t = report.energy["totals"] or {}
        console.print(
            f"energy counts per sample: firing rate {t.get('firing_rate', float('nan')):.4f}, "
            f"spikes {t.get('spikes', float('nan')):.4g}, ACs {t.get('effective_acs', float('nan')):.4g}, "
            f"MACs {t.get('effective_macs', float('nan')):.4g}"
        )
    elif report.energy:
        console.print(f"[yellow]energy not counted:[/] {escape(str(report.energy.get('error')))}")
    if report.hardware:
        console.print(
            "hw-check: "
            + ", ".join(
                f"{name} {v['errors']} error(s)/{v['warnings']} warning(s)"
                for name, v in report.hardware.items()
            )
        )
    verdict = "[green]PASS" if report.passed else "[red]FAIL"
    console.print(
        f"check-nir: {verdict}"
        + ("" if report.expected is not None else " (no --expected: nothing to compare the output with)")
    )


def print_profile_export(console: Console, export: Any) -> None:
    """What ``export --for PEER`` wrote: the reader call, every rewrite, every warning, the measured cost."""
    s = export.section
    console.print(f"profile {s['name']} ({escape(s['peer_versions'])}): import with {escape(s['reader'])}")
    console.print(
        f"dt {s['dt']:g} {s['time_unit']}; NIR semantics kept: {'yes' if s['nir_semantics'] else 'no'}"
    )
    for note in s["rewrites"]:
        console.print(f"[dim]rewrite[/] {escape(note)}")
    for w in s["warnings"]:
        console.print(f"[bold yellow]warning[/] {escape(w)}")
    m = s.get("measured")
    if m:
        console.print(
            f"measured on {m['samples']} calibration samples: {100 * m['spike_agreement']:.3f}% spike "
            f"agreement in {s['name']}'s neuron semantics"
        )
    console.print(
        "[green]every layer is represented exactly[/]"
        if export.representable
        else "[yellow]the peer cannot represent everything: see the warnings[/]"
    )


def print_energy(console: Console, report: dict[str, Any]) -> None:
    """What the counts were measured on, the totals line, and the per-profile energy table of an energy
    report; an incomplete total reads ``≥ priced part (incomplete)`` and what it lacks is printed under the
    table."""
    from ..energy import data_text, energy_cells, missing_text

    t = report["totals"]
    console.print(f"computed on {data_text(report)}")
    console.print(f"firing rate {t['firing_rate']:.4f}, ACs {t['effective_acs']:.4g}, MACs "
                  f"{t['effective_macs']:.4g} per sample (NeuroBench's per-call rule: ACs "
                  f"{t['neurobench_acs']:.4g}, MACs {t['neurobench_macs']:.4g})")
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
            console.print(f"[yellow]{escape(e['profile'])}: incomplete, no price for[/] "
                          f"{escape(missing_text(e))}")


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
    if result.chip is not None:
        print_chip_check(console, result.chip)
    rep = result.report
    for v in rep.violations:
        color = "red" if v.severity == "error" else "yellow"
        console.print(f"[{color}]{v.severity}[/] {v.layer} [{v.rule}] {v.message}\n    fix: {v.fix}\n"
                      f"    source: {v.source}")
    if rep.not_checked:
        console.print(f"not checked (no source found): {', '.join(rep.not_checked)}")
    console.print(f"{result.target.name}: {len(rep.errors)} error(s), "
                  f"{len(rep.violations) - len(rep.errors)} warning(s)")


def print_chip_check(console: Console, chip: Any) -> None:
    """Float model vs the integer chip model per layer, accuracies, the vendor cross-check, the mapping's
    notes."""
    if chip.error is not None:
        console.print(f"[yellow]integer chip model[/]: {escape(chip.error)}")
        return
    agreement = chip.agreement
    for la in agreement.layers:
        console.print(f"{la.layer}: rate {la.rate_float:.4f} → chip {la.rate_chip:.4f}, spike agreement "
                      f"{la.agreement:.4f} (float model vs {chip.chip} integer model)")
    if agreement.accuracy:
        console.print(f"accuracy float {agreement.accuracy[0]:.4f} → integer chip model "
                      f"{agreement.accuracy[1]:.4f}")
    if chip.vendor is not None:
        _print_vendor(console, chip.vendor, None)
    for n in chip.notes:
        if n.severity == "warning":
            console.print(f"[yellow]mapping[/] {escape(n.layer)}.{n.field}: {escape(n.message)}")


def _print_vendor(console: Console, v: Any, missing: str | None) -> None:
    """The vendor cross-check line: its verdict, or why it did not run (``missing`` when there is none)."""
    if v is not None and v.ran:
        color = "green" if v.mismatches == 0 else "red"
        console.print(f"[{color}]vendor cross-check[/]: {escape(v.simulator)}: {v.mismatches} differing "
                      f"spike counts of {v.spikes} ({v.samples} samples)")
    else:
        reason = v.reason if v is not None else missing
        console.print(f"[yellow]vendor cross-check not run[/]: {escape(reason or '')}")


def print_target_check(console: Console, check: Any) -> None:
    """A ``deploy.target_check.TargetCheck``: accuracies float → integer, per-layer agreement, the vendor
    cross-check, hw-check's violations and its verdict line."""
    if check.float_accuracy is not None:
        chip = "n/a" if check.chip_accuracy is None else f"{check.chip_accuracy:.4f}"
        what = f"{check.chip_model} integer chip model" if check.chip_model else "int8 float quantiser"
        console.print(f"accuracy float {check.float_accuracy:.4f} → {what} {chip}")
    if check.agreement is not None:
        for la in check.agreement.layers:
            console.print(f"  {escape(la.layer)}: rate {la.rate_float:.4f} → chip {la.rate_chip:.4f}, "
                          f"spike agreement {la.agreement:.4f}")
    _print_vendor(console, check.vendor, check.chip_error)
    rep = check.hw_check
    for viol in rep.violations:
        color = "red" if viol.severity == "error" else "yellow"
        console.print(f"[{color}]{viol.severity}[/] {escape(viol.layer)} [{viol.rule}] "
                      f"{escape(viol.message)}")
    warnings = len(rep.violations) - len(rep.errors)
    console.print(f"hw-check {check.target}: {len(rep.errors)} error(s), {warnings} warning(s)")


def print_deploy(console: Console, result: Any, paths: dict[str, Any]) -> None:
    """A ``deploy.convert.DeployResult``: accuracy per stage, the baseline, rewrites, the target check."""
    table = Table(title=f"deploy → {result.target}: accuracy per stage (test split)")
    for col in ("stage", "accuracy", "spike agreement vs source", "what"):
        table.add_column(col)
    for s in result.stages:
        acc = "—" if s.accuracy is None else f"{100 * s.accuracy:.2f}%"
        agr = "—" if s.spike_agreement_vs_source is None else f"{100 * s.spike_agreement_vs_source:.2f}%"
        table.add_row(s.name, acc, agr, escape(s.detail))
    console.print(table)
    b = result.baseline
    if b is not None:
        chip = (
            f"n/a ({b.get('reason', 'not run')})" if b.get("chip_accuracy") is None
            else f"{100 * b['chip_accuracy']:.2f}%"
        )
        console.print(f"baseline, {escape(b['name'])}: float {100 * b['float_accuracy']:.2f}%, integer chip "
                      f"{chip}")
    for r in result.rewrites:
        kind = "exact" if r.exact else "approximate"
        console.print(f"  rewrite {escape(r.name)} [{escape(r.layer)}] {kind}: {escape(r.detail)}")
    if result.check is not None:
        print_target_check(console, result.check)
    if result.energy is not None:
        from ..energy import pj_text

        e = result.energy
        console.print(f"energy ({e['profile']}{'' if e['target_profile'] else ', not the target’s own'}): "
                      f"compute {pj_text(e['per_sample_pj'].get('compute'))} per sample")
    verdict = "[green]PASSED[/]" if result.passed else "[red]FAILED[/]"
    console.print(f"deploy {verdict}; {paths['json']}, {paths['markdown']}, {paths['plot']}")
