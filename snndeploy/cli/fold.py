"""``snndeploy fold``: fold a checkpoint's neurons into LIF-equivalent form and report what was preserved."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "fold"]


def register(app: typer.Typer) -> None:
    app.command(
        "fold",
        help="Fold CLIF/KLIF/ILIF/LIF (+BatchNorm) of a checkpoint into LIF-equivalent form, calibrated on "
        "data; prints per-layer rule, exactness and spike agreement, and writes fold_report.json to --out.",
    )(fold)


def fold(
    checkpoint: Path = typer.Argument(..., help="Checkpoint written by `snndeploy train`."),
    data: str = typer.Option(None, "--data",
                             help="Calibration dataset (default: inferred from the input shape)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Directory of a local dataset."),
    limit: int = typer.Option(256, "--limit", help="Calibration samples."),
    no_calibration: bool = typer.Option(False, "--no-calibration", help="Use the default fold parameters."),
    finetune_epochs: int = typer.Option(0, "--finetune-epochs",
                                        help="Fold-aware fine-tuning epochs (0: none)."),
    out: Path = typer.Option(Path("reports/fold"), "--out", help="Report directory."),
) -> None:
    import json

    from rich.console import Console

    from exporters.fold import fold_checkpoint

    from ..io import atomic_write
    from .render import print_fold_report

    _, report = fold_checkpoint(checkpoint, data=data, data_dir=data_dir, limit=limit,
                                calibrate=not no_calibration, finetune_epochs=finetune_epochs)
    console = Console()
    print_fold_report(console, report)
    path = Path(out) / "fold_report.json"
    with atomic_write(path) as fh:
        fh.write(json.dumps({"checkpoint": str(checkpoint), **report.to_dict()}, indent=2, default=float))
    console.print(f"wrote {path}")
