"""``snndeploy demo``: the main job on embedded data, in about a minute on 2 CPU cores.

1. train a small CLIF VGG (conv → BN → CLIF, 16/32/64 channels) on sklearn digits, T = 4: ``checkpoint.pt``,
   ``metrics.jsonl``;
2. fold it into LIF form (calibrated on training images) and export ``model.nir``, ``model_flat.nir`` and
   ``model_step.onnx``;
3. verify the spikes across the source model, its fused backend, the folded model, ONNX Runtime, nirsim and
the
   installed peer simulators: ``verify.json``, ``verify.md``, ``agreement.png`` (``raster_diff.png`` on
   divergence);
4. estimate energy: ``energy/``.
Every step adds its section to ``summary.json``. The steps are ``snndeploy.pipeline.demo_*``; this module
prints.
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "demo"]


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        help="The whole pipeline on embedded sklearn digits in about a minute on 2 CPU cores: train a "
        "small CLIF network, fold it to LIF form, export NIR and ONNX, verify the spikes across runtimes, "
        "estimate energy; everything lands in --out.",
    )(demo)


def demo(
    out: Path = typer.Option(Path("reports/demo"), help="Output directory."),
    epochs: int | None = typer.Option(None, help="Training epochs (default 8; with --target the target's)."),
    T: int = typer.Option(4, "--T", help="Time steps (direct encoding)."),
    neuron: str = typer.Option("clif", help="Neuron: lif, clif, klif, ilif."),
    seed: int = typer.Option(0, help="Random seed."),
    target: str | None = typer.Option(
        None,
        "--target",
        help="Instead: train a network the target runs as it is and hand it off: xylo "
        "(a CubaLIF MLP on mnist1d's first 8 classes) or speck (an IAF conv net on digits); hw-check, the "
        "integer chip model, the vendor simulator, artifacts, energy (about 1-2 minutes on 2 cores).",
    ),
) -> None:
    if target is not None:
        _demo_target(out, target, seed, epochs)
        return
    epochs = epochs or 8
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress

    from ..energy import pj_text, range_text
    from ..pipeline import demo_energy, demo_train, demo_verify, write_summary
    from .render import print_epoch, print_rates, print_verify_report

    console = Console()
    console.print(
        f"[bold]1. train[/bold] vgg (width 0.5) × {neuron} on sklearn digits, T={T}, {epochs} epochs"
    )
    section, result, _, n_test = demo_train(
        out, epochs, seed, T, neuron, on_epoch=lambda r: print_epoch(console, r, epochs)
    )
    last = result.history[-1]
    print_rates(console, last, f"{neuron} firing rates on the digits test set ({n_test} images)")
    console.print(f"test accuracy [bold]{last['test_acc']:.4f}[/bold]")
    write_summary(out, "train", section)

    console.print(
        "[bold]2. fold + export[/bold] (NIR nested and flat, ONNX step model) and "
        "[bold]3. verify[/bold] across runtimes"
    )
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("verifying", total=None)
        section, report, paths = demo_verify(
            out, seed, on_batch=lambda done, total: progress.update(task, completed=done, total=total)
        )
    print_verify_report(
        console, report, f"spike agreement on {report.samples} digits test images, T={report.T}"
    )
    exact_ok = all(r.passed for r in report.runtimes if r.expectation == "exact")
    console.print(
        f"exact paths (fused backend, ONNX Runtime, NIR graph vs folded model): "
        f"{'all identical' if exact_ok else 'DIVERGED'}"
    )
    folded = next((r for r in report.runtimes if r.runtime == "folded"), None)
    if folded is not None and folded.expectation == "approximate" and report.source_accuracy is not None:
        console.print(
            f"approximate {neuron.upper()}→LIF fold: {100 * folded.spike_agreement:.2f}% identical "
            f"neuron-steps, accuracy {100 * folded.accuracy:.2f}% vs source "
            f"{100 * report.source_accuracy:.2f}% ({100 * (folded.accuracy - report.source_accuracy):+.2f} "
            f"pt); policy: ≥ {100 * report.policy['min_spike_agreement']:.1f}% spikes and ≤ "
            f"{report.policy['max_accuracy_drop']} pt drop"
        )
    verdict = "PASSED" if report.passed else "FAILED the policy (see verify.md)"
    console.print(f"verify {verdict}; report {paths['markdown']}")
    write_summary(out, "verify", section)

    console.print("[bold]4. energy[/bold]")
    section = demo_energy(out)
    console.print(f"[bold]energy[/bold] per sample, computed on {section['computed_on']}:")
    for name, p in section["profiles"].items():
        if p["compute_complete"]:
            compute = pj_text(p["compute_pj"])
        elif p["compute_priced_pj"] > 0:
            compute = f"≥ {pj_text(p['compute_priced_pj'])} [yellow](incomplete)[/]"
        else:
            compute = "[yellow]n/a (nothing priced)[/]"
        memory = "n/a" if p["memory_pj"] is None else range_text(*p["memory_pj"])
        total = "n/a" if p["total_pj"] is None else range_text(*p["total_pj"])
        lack = f"; no price for {escape(p['missing'])}" if p["missing"] else ""
        console.print(f"  {name}: compute {compute}, memory {memory}, total {total}{lack}")
    console.print(f"  (see {section['report']})")
    write_summary(out, "energy", section)
    console.print(f"everything is in {out}/ (summary.json, verify.md, agreement.png, energy/)")


def _demo_target(out: Path, target: str, seed: int, epochs: int | None) -> None:
    """``demo --target``: ``pipeline.demo.demo_target`` with progress, then the hand-off report. Exit code 1
    when hw-check finds an error or the vendor's simulator differs from the integer model."""
    from rich.console import Console

    from ..errors import HardwareConstraintError
    from ..pipeline.demo import demo_target
    from .render import print_epoch, print_target_check

    console = Console()
    console.print(
        f"[bold]1. train for {target}[/bold] (the target's neuron, sizes and integer grid in the loop)"
    )
    with console.status(f"{target}: preparing") as status:
        section, res, check = demo_target(
            out,
            target,
            seed,
            epochs,
            on_epoch=lambda r: print_epoch(console, r, r["epochs"]),
            on_step=lambda s: status.update(f"{target}: {s}"),
        )
    c = res.config
    console.print(
        f"{c.model} × {c.neuron} on {res.data.dataset} ({res.data.classes} classes, "
        f"T={res.data.bundle.time_steps}): {res.recipe.neuron().note}"
    )
    console.print("[bold]2. hand-off[/bold]: hw-check, integer chip model, vendor simulator")
    print_target_check(console, check)
    from ..energy import pj_text

    e = section["energy"]
    where = e["profile"] if e["target_profile"] else f"{e['profile']}: no published figure for {target}"
    console.print(
        f"[bold]3. energy[/bold] ({where}): compute {pj_text(e['per_sample_pj'].get('compute'))} per sample"
    )
    console.print(
        f"artifacts: {', '.join(section['artifacts']) or 'none'}; everything is in {out}/ "
        "(summary.json, checkpoint.pt, artifacts/, energy/)"
    )
    if not check.passed:
        raise HardwareConstraintError(f"{check.target}: hw-check errors or vendor disagreement (see above)")
