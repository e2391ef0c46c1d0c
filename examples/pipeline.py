"""train → fold → export → verify for one neuron type, on embedded sklearn digits (CPU, about a minute).

    python examples/pipeline.py --neuron clif [--out reports/pipeline_clif] [--epochs 4]

The per-neuron scripts (``pipeline_lif.py``, ``pipeline_clif.py``, ``pipeline_klif.py``, ``pipeline_ilif.py``)
call ``run`` with their neuron. Outputs in --out: checkpoint.pt, metrics.jsonl, model.nir, model_flat.nir,
model_step.onnx, verify.json, verify.md, agreement.png (and raster_diff.png when spikes diverge).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def run(neuron: str, out: Path, epochs: int = 4, T: int = 4, seed: int = 0) -> int:
    """Train a small MLP with ``neuron`` on digits, then fold, export and verify it; returns 0 when verify
    passes."""
    from rich.console import Console

    from snndeploy.cli.render import print_verify_report
    from snndeploy.data import load_dataset
    from snndeploy.models import ModelConfig
    from snndeploy.pipeline import verify_checkpoint
    from snndeploy.train import TrainConfig, train

    console = Console()
    data = load_dataset("digits", time_steps=T)
    config = ModelConfig("mlp", data.input_shape, data.num_classes, neuron, width=0.5)
    result = train(config, data, TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, seed=seed), out)
    console.print(f"trained {neuron} MLP: test accuracy {result.history[-1]['test_acc']:.4f}")
    report, paths = verify_checkpoint(result.checkpoint, out, data="digits", samples=256,
                                      peers=["norse", "spikingjelly", "snntorch"])
    print_verify_report(console, report, f"{neuron}: spike agreement on {report.samples} digits test images")
    console.print(f"verify {'PASSED' if report.passed else 'FAILED'}: {paths['markdown']}")
    return 0 if report.passed else 1


def main(neuron: str | None = None) -> int:
    parser = argparse.ArgumentParser(description="train → fold → export → verify on digits")
    if neuron is None:
        parser.add_argument("--neuron", default="clif", choices=["lif", "clif", "klif", "ilif"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    neuron = neuron or args.neuron
    return run(neuron, args.out or Path(f"reports/pipeline_{neuron}"), args.epochs, seed=args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
