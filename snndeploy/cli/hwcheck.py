"""``snndeploy hw-check``: check a checkpoint or NIR graph against a hardware target; optionally quantise."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "hw_check"]


def register(app: typer.Typer) -> None:
    app.command(
        "hw-check",
        help="Check a checkpoint (folded first) or a .nir graph against Loihi 2, Xylo (audio2/audio3/imu), "
        "Speck or SpiNNaker2 constraints; each violation names the layer and what to change. --quantize also "
        "quantises to the target's formats, maps the model onto the chip's integer model (Loihi 2, Xylo, "
        "Speck) and reports spike agreement float vs integer and integer vs the vendor's own simulator. Exit "
        "code 1 on errors or when the integer model and the vendor's simulator differ.",
    )(hw_check)


def hw_check(
    source: Path = typer.Argument(..., help="Checkpoint from `snndeploy train`, or a .nir file."),
    target: str = typer.Option(
        ..., "--target", help="loihi2 | xylo | xylo_audio3 | xylo_imu | speck | spinnaker2, or a TOML."
    ),
    fold_model: bool = typer.Option(
        True, "--fold/--no-fold", help="Fold to LIF form (exporters.fold) before checking."
    ),
    quantize: bool = typer.Option(False, "--quantize", help="Quantise to the target and compare spikes."),
    data: str = typer.Option(None, "--data", help="Dataset for shapes, calibration and quantisation checks."),
    data_dir: Path = typer.Option(None, "--data-dir"),
    limit: int = typer.Option(64, "--limit", help="Test samples used."),
    out: Path = typer.Option(None, "--out", help="Write hw_check.json here."),
    vendor: bool = typer.Option(
        True,
        "--vendor/--no-vendor",
        help="With --quantize: cross-check the integer chip model with the vendor's simulator "
        "when its venv is built (snndeploy vendor setup).",
    ),
) -> None:
    import json

    from rich.console import Console

    from ..errors import HardwareConstraintError
    from ..hardware.api import check_file
    from ..io import atomic_write
    from .render import print_hw_check

    console = Console()
    result = check_file(
        source,
        target,
        fold_model=fold_model,
        quantize=quantize,
        data=data,
        data_dir=data_dir,
        limit=limit,
        vendor=vendor,
    )
    print_hw_check(console, result)
    if out is not None:
        with atomic_write(Path(out) / "hw_check.json") as fh:
            json.dump(result.to_dict(), fh, indent=2, default=str)
    chip = result.chip
    if chip is not None and chip.vendor is not None and chip.vendor.ran and chip.vendor.mismatches:
        raise HardwareConstraintError(
            f"{result.target.name}: the integer chip model and {chip.vendor.simulator} "
            f"differ on {chip.vendor.mismatches} spike counts"
        )
    if not result.report.ok:
        raise HardwareConstraintError(
            f"{result.target.name}: {len(result.report.errors)} constraint violation(s), listed above"
        )
