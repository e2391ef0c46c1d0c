"""``snndeploy hw-check``: check a checkpoint or NIR graph against a hardware target; optionally quantise."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "hw_check"]


def register(app: typer.Typer) -> None:
    app.command(
        "hw-check",
        help="Check a checkpoint (folded first) or a .nir graph against Loihi 2, Xylo (audio2/audio3/imu), Speck or "
        "SpiNNaker2 constraints; each violation names the layer and what to change. --quantize also quantises "
        "to the target's formats and reports spike agreement and activity-collapse alarms. Exit code 1 on errors.",
    )(hw_check)


def hw_check(
    source: Path = typer.Argument(..., help="Checkpoint from `snndeploy train`, or a .nir file."),
    target: str = typer.Option(..., "--target", help="loihi2 | xylo | xylo_audio3 | xylo_imu | speck | spinnaker2, or a TOML."),
    fold_model: bool = typer.Option(True, "--fold/--no-fold", help="Fold to LIF form (exporters.fold) before checking."),
    quantize: bool = typer.Option(False, "--quantize", help="Quantise to the target and compare spikes."),
    data: str = typer.Option(None, "--data", help="Dataset for shapes, calibration and quantisation checks."),
    data_dir: Path = typer.Option(None, "--data-dir"),
    limit: int = typer.Option(64, "--limit", help="Test samples used."),
    out: Path = typer.Option(None, "--out", help="Write hw_check.json here."),
) -> None:
    import json

    from rich.console import Console

    from ..hardware import HardwareConstraintError, check_model, check_nir, get_target, quantize_model
    from ..io import atomic_write

    console = Console()
    t = get_target(target)
    result: dict = {"source": str(source), "target": t.name}
    if str(source).endswith(".nir"):
        import nir

        rep = check_nir(nir.read(str(source)), t)
    else:
        import torch

        from .. import load
        from ..data import load_dataset
        from .energy import default_dataset

        model, config = load(source)
        name = data or default_dataset(config.input_shape)
        x = y = None
        if name is not None:
            bundle = load_dataset(name, data_dir, limit=limit)
            xb, y = next(iter(torch.utils.data.DataLoader(bundle.test, batch_size=limit)))
            x = bundle.to_time_major(xb)
        if fold_model:
            try:
                from exporters.fold.api import fold
            except ImportError:  # pragma: no cover - exporters not installed
                console.print("[yellow]exporters.fold not available: checking the unfolded model[/]")
            else:
                model, fold_report = fold(model, x)
                result["fold"] = getattr(fold_report, "metrics", {})
        rep = check_model(model, t, x)
        if quantize:
            q = quantize_model(model, t, x, y)
            result["quantization"] = q.to_dict()
            for a in q.activity:
                flag = f"  [red]{a.alarm}[/]" if a.alarm else ""
                console.print(f"{a.name}: rate {a.rate_float:.4f} → {a.rate_quant:.4f}, spike agreement "
                              f"{a.agreement:.4f}{flag}")
            if q.accuracy:
                console.print(f"accuracy float {q.accuracy[0]:.4f} → quantised {q.accuracy[1]:.4f}")
    result["check"] = rep.to_dict()
    for v in rep.violations:
        color = "red" if v.severity == "error" else "yellow"
        console.print(f"[{color}]{v.severity}[/] {v.layer} [{v.rule}] {v.message}\n    fix: {v.fix}\n    source: {v.source}")
    if rep.not_checked:
        console.print(f"not checked (no source found): {', '.join(rep.not_checked)}")
    console.print(f"{t.name}: {len(rep.errors)} error(s), {len(rep.violations) - len(rep.errors)} warning(s)")
    if out is not None:
        with atomic_write(Path(out) / "hw_check.json") as fh:
            json.dump(result, fh, indent=2, default=str)
    if not rep.ok:
        raise HardwareConstraintError(f"{t.name}: {len(rep.errors)} constraint violation(s), listed above")
