"""``snndeploy export``: a checkpoint → NIR graph (folded, with its conversion contract) or ONNX
(step/unrolled)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "export"]


def register(app: typer.Typer) -> None:
    app.command(
        "export",
        help="Export a checkpoint: --format nir (folded to LIF form, calibrated on data, exact where the "
        "fold is), onnx (stateful single-step model, any T) or onnx-unrolled (fixed T). Every neuron is "
        "exact in ONNX. --for PEER writes the NIR dialect that peer's importer runs with our semantics "
        "(warnings name what it cannot represent, with the measured cost).",
    )(export)


def export(
    checkpoint: Path = typer.Argument(..., help="Checkpoint written by `snndeploy train`."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file (.nir or .onnx)."),
    format: str = typer.Option("nir", "--format", "-f", help="nir, onnx or onnx-unrolled."),
    dt: float = typer.Option(1e-3, "--dt", help="NIR time step in seconds."),
    time_steps: int = typer.Option(None, "--time-steps", "-T", help="T (unrolled ONNX; NIR metadata)."),
    flat: bool = typer.Option(False, "--flat", help="NIR: inline residual blocks instead of nested graphs."),
    soft_reset: str = typer.Option("exact", "--soft-reset", help="NIR: exact (LI→Threshold cycle) or hard."),
    data: str = typer.Option(None, "--data", help="NIR calibration dataset (default: inferred)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Directory of a local dataset."),
    limit: int = typer.Option(256, "--limit", help="NIR calibration samples."),
    peer: str = typer.Option(
        None,
        "--for",
        help="NIR for one peer's importer: norse, spikingjelly, snntorch, sinabs, rockpool or spyx.",
    ),
) -> None:
    from rich.console import Console

    from exporters import export_checkpoint
    from exporters.nir_profiles import ProfileExport

    from .render import print_fold_report, print_profile_export

    report = export_checkpoint(
        checkpoint,
        out,
        format,
        dt=dt,
        time_steps=time_steps,
        flat=flat,
        soft_reset=soft_reset,
        data=data,
        data_dir=data_dir,
        limit=limit,
        peer=peer,
    )
    console = Console()
    if isinstance(report, ProfileExport):
        print_profile_export(console, report)
    elif report is not None:
        print_fold_report(console, report)
    console.print(f"wrote {out}")
