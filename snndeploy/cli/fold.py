"""``snndeploy fold``: fold a checkpoint's neurons into LIF-equivalent form and report what was preserved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["register", "fold", "calibration_inputs", "print_fold_report"]


def register(app: typer.Typer) -> None:
    app.command(
        "fold",
        help="Fold CLIF/KLIF/ILIF/LIF (+BatchNorm) of a checkpoint into LIF-equivalent form, calibrated on data; "
        "prints per-layer rule, exactness and spike agreement, and writes fold_report.json to --out.",
    )(fold)


def calibration_inputs(config: Any, data: str | None, data_dir: Path | None, limit: int, split: str = "train"):
    """``(x [T, N, *], y [N])`` from the dataset named ``data`` (default: inferred from the input shape), or None."""
    import torch

    from ..data import load_dataset
    from .energy import default_dataset

    name = data or default_dataset(config.input_shape)
    if name is None:
        return None
    bundle = load_dataset(name, data_dir, limit=limit)
    ds = bundle.train if split == "train" else bundle.test
    xs, ys = zip(*[ds[i] for i in range(len(ds))], strict=True)
    return bundle.to_time_major(torch.stack(xs)), torch.as_tensor(ys)


def print_fold_report(console: Any, report: Any) -> None:
    from rich.table import Table

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


def fold(
    checkpoint: Path = typer.Argument(..., help="Checkpoint written by `snndeploy train`."),
    data: str = typer.Option(None, "--data", help="Calibration dataset (default: inferred from the input shape)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Directory of a local dataset."),
    limit: int = typer.Option(256, "--limit", help="Calibration samples."),
    no_calibration: bool = typer.Option(False, "--no-calibration", help="Use the default fold parameters."),
    finetune_epochs: int = typer.Option(0, "--finetune-epochs", help="Fold-aware fine-tuning epochs (0: none)."),
    out: Path = typer.Option(Path("reports/fold"), "--out", help="Report directory."),
) -> None:
    import json

    from rich.console import Console

    from exporters.fold import finetune
    from exporters.fold import fold as fold_model

    from .. import load
    from ..io import atomic_write

    model, config = load(checkpoint)
    cal = None if no_calibration else calibration_inputs(config, data, data_dir, limit)
    folded, report = fold_model(model, cal[0] if cal is not None else None)
    if cal is not None:
        from exporters.fold.calibration import output_agreement

        report.metrics.update(output_agreement(model, folded, cal[0], cal[1]))
    if finetune_epochs:
        if cal is None:
            from ..errors import InvalidParameterError

            raise InvalidParameterError("--finetune-epochs needs calibration data (--data)")
        res = finetune(folded, model, cal[0], cal[1], epochs=finetune_epochs)
        report.metrics["finetune"] = {k: v for k, v in res.after.items() if not isinstance(v, dict)}
    console = Console()
    print_fold_report(console, report)
    path = Path(out) / "fold_report.json"
    with atomic_write(path) as fh:
        fh.write(json.dumps({"checkpoint": str(checkpoint), **report.to_dict()}, indent=2, default=float))
    console.print(f"wrote {path}")
