"""``snndeploy demo``: the main job on embedded data, in about a minute on 2 CPU cores.

1. train a small CLIF VGG (conv → BN → CLIF, 16/32/64 channels) on sklearn digits, T = 4: ``checkpoint.pt``,
   ``metrics.jsonl``;
2. fold it into LIF form (calibrated on training images) and export ``model.nir``, ``model_flat.nir`` and
   ``model_step.onnx``;
3. verify the spikes across the source model, its fused backend, the folded model, ONNX Runtime, nirsim and the
   installed peer simulators: ``verify.json``, ``verify.md``, ``agreement.png`` (``raster_diff.png`` on divergence);
4. estimate energy: ``energy/``.
Every step adds its section to ``summary.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["register", "demo", "train_step", "verify_step", "write_summary"]


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        help="The whole pipeline on embedded sklearn digits in about a minute on 2 CPU cores: train a small CLIF "
        "network, fold it to LIF form, export NIR and ONNX, verify the spikes across runtimes, estimate energy; "
        "everything lands in --out.",
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
    write_summary(out, "train", section)
    write_summary(out, "verify", verify_step(out, seed, console, neuron))
    from .energy import energy_step

    console.print("[bold]4. energy[/bold]")
    write_summary(out, "energy", energy_step(out, console))
    console.print(f"everything is in {out}/ (summary.json, verify.md, agreement.png, energy/)")


def verify_step(out: Path, seed: int, console: Any, neuron: str = "clif", samples: int = 256) -> dict[str, Any]:
    """Fold, export and verify ``OUT/checkpoint.pt`` on the digits test set; returns the ``verify`` section."""
    from .verify import print_report, verify_checkpoint

    console.print("[bold]2. fold + export[/bold] (NIR nested and flat, ONNX step model) and "
                  "[bold]3. verify[/bold] across runtimes")
    report, paths = verify_checkpoint(Path(out) / "checkpoint.pt", Path(out), data="digits", samples=samples,
                                      peers=["norse", "spikingjelly", "snntorch", "sinabs", "rockpool"], seed=seed,
                                      console=console)
    print_report(console, report, f"spike agreement on {report.samples} digits test images, T={report.T}")
    exact_ok = all(r.passed for r in report.runtimes if r.expectation == "exact")
    console.print(f"exact paths (fused backend, ONNX Runtime, NIR graph vs folded model): "
                  f"{'all identical' if exact_ok else 'DIVERGED'}")
    folded = next((r for r in report.runtimes if r.runtime == "folded"), None)
    if folded is not None and folded.expectation == "approximate" and report.source_accuracy is not None:
        console.print(f"approximate {neuron.upper()}→LIF fold: {100 * folded.spike_agreement:.2f}% identical "
                      f"neuron-steps, accuracy {100 * folded.accuracy:.2f}% vs source {100 * report.source_accuracy:.2f}% "
                      f"({100 * (folded.accuracy - report.source_accuracy):+.2f} pt); policy: ≥ "
                      f"{100 * report.policy['min_spike_agreement']:.1f}% spikes and ≤ "
                      f"{report.policy['max_accuracy_drop']} pt drop")
    verdict = "PASSED" if report.passed else "FAILED the policy (see verify.md)"
    console.print(f"verify {verdict}; report {paths['markdown']}")
    return {"passed": report.passed, "runtimes": [r.to_dict() | {"layers": None} for r in report.runtimes],
            "report": str(paths["markdown"])}
