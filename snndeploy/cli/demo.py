"""``snndeploy demo``: the main job on embedded data, in about a minute on 2 CPU cores.

Step 1 (this issue): train a small CLIF VGG (conv → BN → CLIF, 16/32/64 channels) on sklearn digits, T = 4, print
test accuracy and per-layer firing rates, write ``checkpoint.pt``, ``metrics.jsonl`` and ``summary.json`` to --out.
Later steps (fold, export, verify, energy) read ``OUT/checkpoint.pt`` and add their section to ``summary.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["register", "demo", "train_step", "write_summary"]


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        help="Train a small CLIF network on embedded sklearn digits (about a minute on 2 CPU cores); print accuracy "
        "and firing rates; write checkpoint.pt, metrics.jsonl and summary.json to --out.",
    )(demo)


def write_summary(out: Path, section: str, content: dict[str, Any]) -> Path:
    """Set ``summary.json[section] = content`` (atomic rewrite; other sections kept)."""
    import json

    from ..io import atomic_write

    path = Path(out) / "summary.json"
    summary = json.loads(path.read_text()) if path.is_file() else {}
    summary[section] = content
    with atomic_write(path) as fh:
        json.dump(summary, fh, indent=2)
    return path


def train_step(out: Path, epochs: int, seed: int, T: int, neuron: str, console: Any) -> dict[str, Any]:
    """Train the demo network; returns the ``train`` section of the summary."""
    from ..data import load_dataset
    from ..models import ModelConfig
    from ..train import TrainConfig, train
    from .train import print_epoch, print_rates

    data = load_dataset("digits", time_steps=T)
    config = ModelConfig("vgg", data.input_shape, data.num_classes, neuron, width=0.5)
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, seed=seed, progress=False)
    console.print(f"[bold]1. train[/bold] {config.model} (width 0.5) × {neuron} on sklearn digits, T={T}, {epochs} epochs")
    result = train(config, data, cfg, out, on_epoch=lambda r: print_epoch(console, r, epochs))
    last = result.history[-1]
    print_rates(console, last, f"{neuron} firing rates on the digits test set ({len(data.test)} images)")
    console.print(f"test accuracy [bold]{last['test_acc']:.4f}[/bold]")
    return {
        "dataset": "digits", "T": T, "epochs": epochs, "seed": seed, "model_config": config.to_dict(),
        "test_acc": last["test_acc"], "train_acc": last["train_acc"], "firing_rate": last["firing_rate"],
        "mean_firing_rate": last["mean_firing_rate"], "checkpoint": str(result.checkpoint),
        "metrics": str(result.metrics),
    }


def demo(
    out: Path = typer.Option(Path("reports/demo"), help="Output directory."),
    epochs: int = typer.Option(8, help="Training epochs."),
    T: int = typer.Option(4, "--T", help="Time steps (direct encoding)."),
    neuron: str = typer.Option("clif", help="Neuron: lif, clif, klif, ilif."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    from rich.console import Console

    console = Console()
    section = train_step(out, epochs, seed, T, neuron, console)
    path = write_summary(out, "train", section)
    console.print(f"wrote {section['checkpoint']}, {section['metrics']} and {path}")
