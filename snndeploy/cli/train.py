"""``snndeploy train``: train a spiking network on an embedded or local dataset, with checkpoints and metrics.

Multi-GPU / multi-node: launch the same command under torchrun, e.g.
``torchrun --nproc_per_node=4 -m snndeploy.cli.app train --model resnet19 --dataset cifar10 --data-dir D
...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import InvalidParameterError

__all__ = ["register", "train", "parse_neuron_args"]


def register(app: typer.Typer) -> None:
    app.command(
        "train",
        help="Train a spiking network (mlp/vgg/vgg11/resnet18/resnet19 × lif/clif/klif/ilif) on digits, "
        "mnist1d, CIFAR-10/100, N-MNIST or DVS128 Gesture; writes checkpoint.pt and metrics.jsonl to --out.",
    )(train)


def parse_neuron_args(items: list[str]) -> dict[str, Any]:
    """``["tau=2.0", "surrogate=sigmoid:4", "detach_reset=true"]`` → typed kwargs
    (bool/None/int/float/str)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(f"--neuron-arg must look like key=value, got {item!r}")
        low = raw.strip().lower()
        value: Any
        if low in ("true", "false"):
            value = low == "true"
        elif low in ("none", "null"):
            value = None
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw.strip()
        out[key.strip()] = value
    return out


def train(
    model: str | None = typer.Option(
        None,
        help="Model: mlp (default), vgg, vgg11, resnet18, resnet19; with "
        "--target chip_mlp or chip_cnn (default: the target's).",
    ),
    neuron: str | None = typer.Option(
        None, help="Neuron: lif, clif (default), klif, ilif; with --target the target's neuron by default."
    ),
    dataset: str | None = typer.Option(
        None,
        help="Dataset: digits, mnist1d (default), cifar10, cifar100, "
        "nmnist, dvs128_gesture; with --target the target's first.",
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Directory of a local dataset."),
    out: Path = typer.Option(Path("runs/train"), help="Output directory (checkpoint.pt, metrics.jsonl)."),
    epochs: int | None = typer.Option(None, help="Epochs (default 10; with --target the target's)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Batch size (per process under torchrun)."),
    lr: float | None = typer.Option(
        None,
        help="Peak learning rate, cosine schedule to 0 (default 1e-3; with "
        "--target the target's, 3e-3 or 1e-2).",
    ),
    optimizer: str = typer.Option("adamw", help="Optimizer: adamw or sgd."),
    momentum: float = typer.Option(0.9, help="SGD momentum."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Weight decay."),
    loss: str = typer.Option(
        "tet", help="Loss: tet (per-step CE + λ·MSE to 1), tet_onehot, ce (mean logits)."
    ),
    loss_lambda: float = typer.Option(0.05, "--loss-lambda", help="λ of the MSE term of the tet losses."),
    T: int | None = typer.Option(
        None, "--T", help="Time steps (default per dataset; mnist1d is fixed at 40)."
    ),
    width: float | None = typer.Option(
        None, help="Channel / hidden-size multiplier (default 1; with --target the target's)."
    ),
    depth: int | None = typer.Option(None, help="MLP hidden layers / small-VGG stages."),
    dropout: float = typer.Option(0.0, help="Dropout probability."),
    neuron_arg: list[str] = typer.Option([], "--neuron-arg", help="Neuron parameter key=value (repeatable)."),
    seed: int = typer.Option(0, help="Random seed."),
    backend: str = typer.Option(
        "auto", help="Neuron backend: auto, torch, eager, numba, triton (bptt: deprecated)."
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda."),
    amp: bool = typer.Option(True, "--amp/--no-amp", help="Mixed precision (CUDA only)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint.pt."),
    limit: int | None = typer.Option(None, help="Use only the first N samples of each split."),
    workers: int = typer.Option(0, help="DataLoader worker processes."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    target: str | None = typer.Option(
        None,
        "--target",
        help="Train a network this hardware target runs as it is (loihi2, xylo, "
        "xylo_audio3, xylo_imu, speck, spinnaker2): its neuron, reset and decay grid, no biases, sum "
        "pooling, output neurons, its size limits, and quantisation-aware training to its integer grid; then "
        "hw-check, the integer chip model and the vendor's simulator. Refused up front (exit 2) when the "
        "target cannot hold the request.",
    ),
    classes: int | None = typer.Option(
        None,
        "--classes",
        help="With --target: train on classes 0..N-1 only (e.g. 8 for Xylo Audio 2's 8 output neurons).",
    ),
    dist_timeout: float = typer.Option(
        600.0,
        "--dist-timeout",
        help="Seconds a process waits in a collective under torchrun before failing "
        "(SNNDEPLOY_DIST_TIMEOUT_S overrides).",
    ),
) -> None:
    import os

    from rich.console import Console

    from ..data import load_dataset
    from ..models import ModelConfig
    from ..train import TrainConfig
    from ..train import train as run_training
    from .render import print_epoch, print_rates

    if target is not None:
        _train_target(
            target,
            model,
            neuron,
            dataset,
            parse_neuron_args(neuron_arg),
            width,
            depth,
            T,
            classes,
            epochs,
            batch_size,
            lr,
            weight_decay,
            seed,
            limit,
            out,
            progress,
        )
        return
    if classes is not None:
        raise InvalidParameterError("--classes needs --target")
    model, neuron, dataset = model or "mlp", neuron or "clif", dataset or "mnist1d"
    epochs, lr, width = epochs or 10, lr if lr is not None else 1e-3, width if width is not None else 1.0
    # under torchrun only rank 0 talks (the trainer calls on_epoch on rank 0 only)
    console = Console(quiet=os.environ.get("RANK", "0") != "0")
    data = load_dataset(dataset, data_dir, T, limit=limit)
    config = ModelConfig(
        model,
        data.input_shape,
        data.num_classes,
        neuron,
        parse_neuron_args(neuron_arg),
        width,
        depth,
        dropout=dropout,
    )
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        momentum=momentum,
        weight_decay=weight_decay,
        loss=loss,
        loss_lambda=loss_lambda,
        seed=seed,
        amp=amp,
        device=device,
        backend=backend,
        num_workers=workers,
        progress=progress,
        dist_timeout_s=dist_timeout,
    )
    console.print(
        f"training {config.model} × {config.neuron} on {data.name} (T={data.time_steps}, "
        f"{len(data.train)} train / {len(data.test)} test) → {out}"
    )
    result = run_training(
        config, data, cfg, out, resume=resume, on_epoch=lambda r: print_epoch(console, r, epochs)
    )
    if result.history:
        print_rates(console, result.history[-1], f"firing rates on the {data.name} test set")
        console.print(f"test accuracy {result.history[-1]['test_acc']:.4f}; checkpoint {result.checkpoint}")
    else:
        console.print(f"nothing to do: the checkpoint already holds {epochs} epochs")


def _train_target(
    target: str,
    model: str | None,
    neuron: str | None,
    dataset: str | None,
    neuron_kwargs: dict[str, Any],
    width: float | None,
    depth: int | None,
    T: int | None,
    classes: int | None,
    epochs: int | None,
    batch_size: int,
    lr: float | None,
    weight_decay: float,
    seed: int,
    limit: int | None,
    out: Path,
    progress: bool,
) -> None:
    """``train --target``: ``snndeploy.deploy.train_for_target``, then hw-check + chip model + vendor
    simulator. Exit code 1 when hw-check finds an error or the vendor's simulator differs from the integer
    model."""
    from rich.console import Console

    from ..deploy import TargetTrainConfig, train_for_target
    from ..deploy.target_check import check_on_target
    from ..errors import HardwareConstraintError
    from .render import print_epoch, print_rates, print_target_check

    console = Console()
    cfg = TargetTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, weight_decay=weight_decay)
    console.print(f"training for [bold]{target}[/bold] → {out}")
    result = train_for_target(
        target,
        dataset,
        model=model,
        neuron=neuron,
        neuron_kwargs=neuron_kwargs or None,
        width=width,
        depth=depth,
        T=T,
        classes=classes,
        limit=limit,
        cfg=cfg,
        out_dir=out,
        on_epoch=lambda r: print_epoch(console, r, r["epochs"]),
    )
    c = result.config
    console.print(
        f"{c.model} × {c.neuron} {c.neuron_kwargs} on {result.data.dataset} "
        f"({result.data.classes} classes, "
        f"T={result.data.bundle.time_steps}); checkpoint {result.checkpoint}"
    )
    if result.history:
        print_rates(console, result.history[-1], f"firing rates on the {result.data.dataset} test set")
    if result.recipe.choice(c.neuron) is None:  # e.g. CLIF in the chip's shape: deploy makes it legal
        _deploy_trained(console, result, out)
        return
    x, y = result.data.split("test")
    with console.status("hw-check, integer chip model, vendor simulator"):
        check = check_on_target(result.model, result.recipe, result.calibration_x, x, y)
    print_target_check(console, check)
    if not check.hw_check.ok:
        n = len(check.hw_check.errors)
        raise HardwareConstraintError(f"{check.target}: {n} hw-check error(s), listed above")
    if check.vendor is not None and check.vendor.ran and check.vendor.mismatches:
        raise HardwareConstraintError(
            f"{check.target}: the integer chip model and {check.vendor.simulator} "
            f"differ on {check.vendor.mismatches} spike counts"
        )


def _deploy_trained(console: Any, result: Any, out: Path) -> None:
    """``train --target T --neuron N`` with a neuron the chip does not run (CLIF, ...): ``deploy`` the trained
    model to its legal form (fold, rewrite, distillation fine-tune with QAT) into ``OUT/deploy``."""
    from ..deploy.convert import deploy_model
    from ..deploy.report import write_deploy
    from ..errors import HardwareConstraintError
    from .render import print_deploy

    target, dest = result.recipe.target, out / "deploy"
    console.print(f"{result.config.neuron} is not {target}'s neuron: deploying it → {dest}")
    with console.status("deploy: fold, rewrite, fine-tune, integer chip model, vendor simulator"):
        res = deploy_model(
            result.model,
            result.recipe,
            result.data,
            out_dir=out / "deploy",
            source_name=str(result.checkpoint),
            source_input_scale=result.data.input_scale,
        )
        paths = write_deploy(res, out / "deploy")
    print_deploy(console, res, paths)
    if not res.passed:
        raise HardwareConstraintError(
            f"deploy → {res.target}: hw-check errors or vendor disagreement (see {paths['markdown']})"
        )
