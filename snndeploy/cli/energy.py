"""``snndeploy energy``: per-layer op counts and energy estimates of a checkpoint on real data (JSON, md,
PNG)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "energy"]


def register(app: typer.Typer) -> None:
    app.command(
        "energy",
        help="Count synaptic ops (ACs/MACs), neuron updates and spikes per layer of a checkpoint (BatchNorm "
        "folded first) or a .nir graph on real data, and price them under energy profiles (45 nm CMOS with a "
        "memory-traffic range, Loihi, TrueNorth, or your TOML). A total a profile cannot price in full is "
        "flagged incomplete, never shown as a complete number. Writes energy.json, energy.md and PNG charts "
        "to --out.",
    )(energy)


def energy(
    checkpoint: Path = typer.Argument(
        ..., help="Checkpoint written by `snndeploy train`, or a .nir graph (run by nirsim)."),
    data: str = typer.Option(
        None, "--data", help="Dataset name (default: inferred from the model's input shape)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Directory of a local dataset."),
    limit: int = typer.Option(256, "--limit", help="Test samples to count on."),
    batch_size: int = typer.Option(
        128, "--batch-size", help="Samples per forward call (the per-sample counts do not depend on it)."),
    profile: list[str] = typer.Option(
        None, "--profile", help="Profile name or TOML path (repeatable; default: all built-in)."),
    dt: float = typer.Option(
        None, "--dt", help="Seconds per step for a foreign .nir graph without dt metadata."),
    out: Path = typer.Option(Path("reports/energy"), "--out", help="Report directory."),
) -> None:
    from rich.console import Console

    from ..pipeline import energy_of_file
    from .render import print_energy

    report, paths = energy_of_file(checkpoint, out, data=data, data_dir=data_dir, limit=limit,
                                   batch_size=batch_size, profiles=profile or (), dt=dt)
    console = Console()
    print_energy(console, report)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")
