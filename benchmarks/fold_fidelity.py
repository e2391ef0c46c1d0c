"""CLIF/ILIF → LIF fold fidelity: reset calibration per layer, channel or neuron, and fold-aware fine-tuning
with logit and/or spike distillation, on the demo model and on mnist1d (3 seeds). Reproduces the table of
``docs/folding.md`` ("Fold fidelity").

Models:
- ``demo``: ``snndeploy demo``'s CLIF VGG (width 0.5) on digits, T = 4, 8 epochs, seed 0 (trained here with
  ``snndeploy.pipeline.demo_train``, or ``--demo-checkpoint``). Inputs exactly as ``snndeploy verify`` takes
  them (``snndeploy.data.evaluation_inputs``): 256 test images, calibration on 256 training images.
- ``mnist1d``: spiking MLP (2 hidden layers of ``128·width``, BatchNorm), T = 40, CLIF and ILIF, seeds 0, 1,
  2, trained with the project trainer (AdamW, lr 3e-3, batch 128); calibration on 256 training samples,
  evaluation on the 1000 test samples. Checkpoints are cached under ``--out``.

Methods (one row each):
- ``fold/layer``: per-layer reset calibration (the fold before per-neuron calibration existed);
- ``fold/channel``, ``fold/neuron``: per-channel / per-neuron reset calibration;
- ``fold/auto``: the granularity ``fold`` picks on 25 % held-out calibration samples (the default);
- ``oracle/neuron``: per-neuron calibration fitted on the evaluation inputs themselves — not a method, an
  upper bound of what any per-neuron constant reset can reach with this greedy calibration;
- ``ft/logits``, ``ft/spikes``, ``ft/both``: ``fold/layer`` then fold-aware fine-tuning on the calibration
  samples (Adam, ``--ft-lr``, ``--ft-epochs``) with the logit MSE, the per-layer spike MSE (surrogate
  gradients through ``FoldedLIF``), or both. The *last* epoch is reported (``keep_best=False``) to show what
  training does; ``finetune`` itself keeps the best epoch by its selection criterion (epoch 0 included).

Columns: spike agreement (identical neuron-steps over all neuron layers against the source, what ``verify``
judges), accuracy drop in points, whether ``verify``'s policy for approximate folds passes (≥ 99.5 % and
≤ 0.5 pt; mnist1d: k of 3 seeds), seconds per model.

Usage: ``python benchmarks/fold_fidelity.py [--out reports/fold_fidelity] [--seeds 0 1 2] [--epochs 15]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from exporters.fold import finetune, fold
from exporters.fold.calibration import total_agreement
from snndeploy.checkpoint import load, model_from_checkpoint, read_checkpoint
from snndeploy.data import load_dataset
from snndeploy.data.select import evaluation_inputs, split_tensors
from snndeploy.models import ModelConfig
from snndeploy.train import TrainConfig, train

POLICY = {"min_spike_agreement": 0.995, "max_accuracy_drop": 0.5}
FOLDS = ("layer", "channel", "neuron", "auto")
FINETUNES = {"logits": (1.0, 0.0), "spikes": (0.0, 1.0), "both": (1.0, 1.0)}


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((model(x).mean(0).argmax(-1) == y).float().mean())


def _row(
    method: str,
    source: nn.Module,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    seconds: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    agree = total_agreement(source, model, x)
    drop = 100.0 * (_accuracy(source, x, y) - _accuracy(model, x, y))
    passed = agree >= POLICY["min_spike_agreement"] and drop <= POLICY["max_accuracy_drop"]
    return {
        "method": method,
        "spike_agreement": agree,
        "accuracy_drop_pt": drop,
        "policy_passes": passed,
        "seconds": seconds,
        **(extra or {}),
    }


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def evaluate(source: nn.Module, cal: Tensor, x: Tensor, y: Tensor, args: argparse.Namespace) -> list[dict]:
    """Every method of the module docstring on one source model."""
    source.eval()
    fold(source, cal[:, :8], granularity="layer")  # warm-up: first calls pay one-off costs, not the method
    rows = []
    layer_fold = None
    for g in FOLDS:
        (folded, report), dt = _timed(lambda g=g: fold(source, cal, granularity=g))
        if g == "layer":
            layer_fold = folded
        rules = [e.rule for e in report.layers if not e.source.startswith("BatchNorm")]
        extra = {"rules": rules, "granularity": report.metrics.get("granularity")}
        rows.append(_row(f"fold/{g}", source, folded, x, y, dt, extra))
    (oracle, _), dt = _timed(lambda: fold(source, x, granularity="neuron"))
    rows.append(_row("oracle/neuron", source, oracle, x, y, dt))
    y_cal = None
    for name, (lw, sw) in FINETUNES.items():
        res, dt = _timed(
            lambda lw=lw, sw=sw: finetune(
                layer_fold,
                source,
                cal,
                y_cal,
                epochs=args.ft_epochs,
                lr=args.ft_lr,
                batch_size=64,
                logit_weight=lw,
                spike_weight=sw,
                select="spikes",
                keep_best=False,
            )
        )
        extra = {"selection_error_per_epoch": res.selection}
        rows.append(_row(f"ft/{name}", source, res.model, x, y, dt, extra))
    return rows


def demo_model(out: Path, checkpoint: Path | None) -> tuple[nn.Module, Tensor, Tensor, Tensor]:
    """The demo's source model and verify's inputs (calibration, test x, test y)."""
    from snndeploy.pipeline import demo_train

    path = checkpoint or out / "demo" / "checkpoint.pt"
    if not path.is_file():
        demo_train(out / "demo", epochs=8, seed=0, T=4, neuron="clif")
    obj = read_checkpoint(path)
    model, config = model_from_checkpoint(obj, path)
    x, y, cal = evaluation_inputs(None, 256, None, config.input_shape, obj.get("train_config") or {}, 0)
    return model, cal, x, y


def mnist1d_model(out: Path, neuron: str, seed: int, epochs: int, width: float) -> nn.Module:
    path = out / f"mnist1d_{neuron}_w{width:g}_e{epochs}_s{seed}" / "checkpoint.pt"
    if not path.is_file():
        bundle = load_dataset("mnist1d")
        config = ModelConfig("mlp", bundle.input_shape, bundle.num_classes, neuron=neuron, width=width)
        train(
            config,
            bundle,
            TrainConfig(epochs=epochs, batch_size=128, lr=3e-3, seed=seed, device="cpu", amp=False),
            path.parent,
        )
    return load(path)[0]


def _fmt_rows(rows: list[dict]) -> tuple[str, str, str]:
    """(agreement, drop, passes) cells over seeds: one value, or mean [min, max] and k/n."""
    agree = [100 * r["spike_agreement"] for r in rows]
    drop = [r["accuracy_drop_pt"] for r in rows]
    k = sum(r["policy_passes"] for r in rows)
    if len(rows) == 1:
        return f"{agree[0]:.2f}", f"{drop[0]:+.2f}", "yes" if k else "no"
    return (
        f"{statistics.mean(agree):.2f} [{min(agree):.2f}, {max(agree):.2f}]",
        f"{statistics.mean(drop):+.2f} [{min(drop):+.2f}, {max(drop):+.2f}]",
        f"{k}/{len(rows)}",
    )


def table(results: dict[str, list[list[dict]]]) -> str:
    lines = [
        "| model | method | spike agreement % | accuracy drop pt | policy passes | s |",
        "|---|---|---|---|---|---|",
    ]
    for model, per_seed in results.items():
        for i, row in enumerate(per_seed[0]):
            rows = [seed_rows[i] for seed_rows in per_seed]
            a, d, p = _fmt_rows(rows)
            secs = statistics.mean(r["seconds"] for r in rows)
            lines.append(f"| {model} | {row['method']} | {a} | {d} | {p} | {secs:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("reports/fold_fidelity"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--neurons", nargs="+", default=["clif", "ilif"])
    ap.add_argument("--epochs", type=int, default=15, help="mnist1d training epochs")
    ap.add_argument("--width", type=float, default=0.5, help="mnist1d MLP width (hidden = 128·width)")
    ap.add_argument("--ft-epochs", type=int, default=3)
    ap.add_argument("--ft-lr", type=float, default=3e-4)
    ap.add_argument("--demo-checkpoint", type=Path, default=None)
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--skip-mnist1d", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[list[dict]]] = {}
    t_start = time.perf_counter()
    if not args.skip_demo:
        model, cal, x, y = demo_model(args.out, args.demo_checkpoint)
        results["demo CLIF VGG (digits, T=4)"] = [evaluate(model, cal, x, y, args)]
        print(table(results), flush=True)
    if not args.skip_mnist1d:
        bundle = load_dataset("mnist1d")
        x_tr, _ = split_tensors(bundle, "train")
        x_te, y_te = split_tensors(bundle, "test")
        for neuron in args.neurons:
            key = f"mnist1d {neuron.upper()} MLP (T=40)"
            results[key] = []
            for seed in args.seeds:
                model = mnist1d_model(args.out, neuron, seed, args.epochs, args.width)
                results[key].append(evaluate(model, x_tr[:, :256], x_te, y_te, args))
                print(f"{key} seed {seed} done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    text = table(results)
    header = (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs ({torch.get_num_threads()} torch threads), "
        f"torch {torch.__version__}, Python {platform.python_version()}; "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d')}; command: "
        + " ".join(["python benchmarks/fold_fidelity.py", *(sys.argv[1:] if argv is None else argv)])
        + f"; {time.perf_counter() - t_start:.0f} s in all"
    )
    (args.out / "fold_fidelity.json").write_text(
        json.dumps(
            {
                "header": header,
                "policy": POLICY,
                "args": {k: str(v) for k, v in vars(args).items()},
                "results": results,
            },
            indent=2,
            default=float,
        )
    )
    (args.out / "fold_fidelity.md").write_text(header + "\n\n" + text + "\n")
    print(header)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
