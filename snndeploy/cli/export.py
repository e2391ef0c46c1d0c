"""``snndeploy export``: a checkpoint → NIR graph (folded, with its conversion contract) or ONNX (step/unrolled)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "export", "FORMATS"]

FORMATS = ("nir", "onnx", "onnx-unrolled")


def register(app: typer.Typer) -> None:
    app.command(
        "export",
        help="Export a checkpoint: --format nir (folded to LIF form, calibrated on data, exact where the fold is), "
        "onnx (stateful single-step model, any T) or onnx-unrolled (fixed T). Every neuron is exact in ONNX.",
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
) -> None:
    from rich.console import Console

    from .. import load
    from ..errors import InvalidParameterError

    fmt = format.lower()
    if fmt not in FORMATS:
        raise InvalidParameterError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    model, config = load(checkpoint)
    console = Console()
    if fmt == "nir":
        from exporters.fold import fold
        from exporters.nir import to_nir, write_nir

        from .fold import calibration_inputs, print_fold_report

        cal = calibration_inputs(config, data, data_dir, limit)
        x = cal[0] if cal is not None else None
        folded, report = fold(model, x)
        T = time_steps or (int(x.shape[0]) if x is not None else None)
        write_nir(out, to_nir(folded, config.input_shape, dt=dt, T=T, flat=flat, soft_reset=soft_reset,
                              report=report))
        print_fold_report(console, report)
    elif fmt == "onnx":
        from exporters.onnx import export_onnx_step

        export_onnx_step(model, out, config.input_shape)
    else:
        from exporters.onnx import export_onnx_unrolled

        if time_steps is None:
            raise InvalidParameterError("--format onnx-unrolled needs --time-steps (the fixed T)")
        export_onnx_unrolled(model, out, config.input_shape, T=time_steps)
    console.print(f"wrote {out}")
