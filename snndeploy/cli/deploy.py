"""``snndeploy deploy CKPT --target T --out DIR``: a trained model → a target-legal, quantised model.

fold → rewrite (each rewrite says whether it is exact) → distillation fine-tune with the chip grid in the loop
→ quantise, the integer chip model and the vendor's simulator → hw-check → energy. Writes ``DIR/deploy.json``,
``deploy.md``, ``accuracy_per_stage.png``, the vendor artifacts and ``energy/``. Exit code 0 when hw-check has
no error and the vendor's simulator equals the integer model on 100 % of spikes; 1 otherwise; 2 on unusable
input (e.g. a request the target cannot hold, refused before anything runs, with the limit and a fix).
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "deploy"]


def register(app: typer.Typer) -> None:
    app.command(
        "deploy",
        help="Convert a trained checkpoint (CLIF/KLIF/ILIF/LIF, BatchNorm, average pooling) into a model "
        "that Loihi 2, Xylo, Speck or SpiNNaker2 runs as it is: fold, rewrite, distillation fine-tune with "
        "quantisation in the loop, integer chip model + vendor simulator, hw-check, energy. Writes "
        "deploy.json, deploy.md, a plot and the vendor artifacts to --out. Exit 0: no hw-check error and "
        "100% vendor agreement; 1: otherwise; 2: unusable input.",
    )(deploy)


def deploy(
    checkpoint: Path = typer.Argument(..., help="Checkpoint from `snndeploy train`."),
    target: str = typer.Option(
        ..., "--target", help="loihi2 | xylo | xylo_audio3 | xylo_imu | speck | spinnaker2."
    ),
    out: Path = typer.Option(Path("reports/deploy"), "--out", help="Output directory."),
    data: str | None = typer.Option(None, "--data", help="Dataset (default: the checkpoint's)."),
    epochs: int | None = typer.Option(
        None,
        "--epochs",
        help="Distillation fine-tune epochs (0: none; default: the target's, 32 on Speck, else 16).",
    ),
    lr: float | None = typer.Option(
        None, "--lr", help="Fine-tune learning rate (default: the target's, 1e-3 on Speck, else 3e-3)."
    ),
    T: int | None = typer.Option(
        None, "--T", help="Time steps (default: the target's for the dataset, else the checkpoint's)."
    ),
    samples: int = typer.Option(
        2048, "--samples", help="Training samples for the fine-tune (and calibration)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Use only the first N samples of each split."),
    vendor: bool = typer.Option(
        True, "--vendor/--no-vendor", help="Cross-check with the vendor's simulator."
    ),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..deploy.convert import DeployConfig, deploy_checkpoint
    from ..deploy.report import write_deploy
    from ..errors import HardwareConstraintError
    from .render import print_deploy

    console = Console()
    cfg = DeployConfig(finetune_epochs=epochs, lr=lr, finetune_samples=samples, vendor=vendor, seed=seed)
    steps = ["refuse", "fold", "rewrite", "fine-tune", "chip", "energy"]
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"deploy → {target}", total=len(steps))

        def on_step(name: str) -> None:
            done = steps.index(name) if name in steps else 0
            progress.update(task, completed=done, description=f"deploy → {target}: {name}")

        result = deploy_checkpoint(
            checkpoint, target, out, data=data, T=T, cfg=cfg, limit=limit, on_step=on_step
        )
        progress.update(task, description=f"deploy → {target}: writing {out}")
        paths = write_deploy(result, out)
    print_deploy(console, result, paths)
    if not result.passed:
        check = result.check
        why = (
            f"{len(check.hw_check.errors)} hw-check error(s)"
            if check is not None and not check.hw_check.ok
            else "the vendor simulator did not run or differs from the integer chip model"
        )
        raise HardwareConstraintError(f"deploy → {result.target}: {why} (see {paths['markdown']})")
