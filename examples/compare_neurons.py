"""Train LIF, CLIF, KLIF and ILIF on mnist1d (one value per step, T = 40) with several seeds; write
docs/results.md.

Every neuron gets the same network (spiking MLP 1 → 128 → 128 → 10 with BatchNorm), the same data, optimiser,
schedule and loss, and its own repository defaults (LIF τ=2 soft reset, CLIF τ=2, KLIF τ=2, ILIF τ=1.1
γ=0.03). Reported: final-epoch test accuracy (argmax of the mean logits) and mean test firing rate, mean ±
sample std over seeds.

    python examples/compare_neurons.py --epochs 20 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from snndeploy.data import load_dataset
from snndeploy.io import atomic_write
from snndeploy.models import ModelConfig
from snndeploy.train import TrainConfig, train

NEURONS = ("lif", "clif", "klif", "ilif")

CAVEATS = [
    "",
    "How to read this:",
    "",
    "- Train accuracy ≈ test accuracy: these networks underfit. A feed-forward SNN fed one value per step "
    "keeps its memory of the sequence only in the membranes (τ = 2: decay 0.5 per step; ILIF's default "
    "τ = 1.1: decay 0.09) and in the readout's mean over T, so this compares neurons in a memory-limited "
    "regime, not in the papers' CIFAR / DVS ResNet settings.",
    "- ILIF's lower firing comes with its repository-default τ = 1.1, which also removes most membrane "
    "memory; here the lower rate is paid for in accuracy.",
    "- With 3 seeds, a difference \"within 2 standard errors\" is evidence for neither side.",
]


def _ms(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    m = statistics.mean(values) * scale
    s = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def _verdict(a: list[float], b: list[float]) -> str:
    """Difference of means and whether it exceeds the two standard errors combined (a rough 2-sigma check)."""
    d = statistics.mean(a) - statistics.mean(b)
    se = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5 if len(a) > 1 else 0.0
    sig = "beyond" if abs(d) > 2 * se else "within"
    return f"{d:+.4f} ({sig} 2 standard errors, SE = {se:.4f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--loss", default="tet")
    p.add_argument("--neurons", default=",".join(NEURONS))
    p.add_argument("--out", type=Path, default=Path("docs/results.md"))
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (small tensors: 1 is fastest)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset("mnist1d")
    neurons = [n.strip() for n in args.neurons.split(",") if n.strip()]
    runs: dict[str, list[dict]] = {n: [] for n in neurons}
    t_all, c_all = time.perf_counter(), time.process_time()
    for seed in range(args.seeds):
        for name in neurons:
            config = ModelConfig("mlp", data.input_shape, data.num_classes, name, width=args.width)
            cfg = TrainConfig(
                epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, loss=args.loss, seed=seed,
                backend="auto",
            )
            t0, c0 = time.perf_counter(), time.process_time()
            res = train(
                config, data, cfg,
                on_epoch=lambda r, n=name, s=seed: print(
                    f"  {n} seed {s} epoch {r['epoch']}: test acc {r['test_acc']:.4f} ({r['time_s']:.1f}s)",
                    file=sys.stderr, flush=True,
                ),
            )
            last = res.history[-1]
            run = {
                "seed": seed, "test_acc": last["test_acc"], "train_acc": last["train_acc"],
                "rate": last["mean_firing_rate"], "layer_rates": last["firing_rate"],
                "best_test_acc": max(r["test_acc"] for r in res.history), "time_s": time.perf_counter() - t0,
                "cpu_s": time.process_time() - c0,
            }
            runs[name].append(run)
            print(json.dumps({"neuron": name, **run}), flush=True)
    total, cpu_total = time.perf_counter() - t_all, time.process_time() - c_all

    cmd = "python examples/compare_neurons.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# Neuron comparison on mnist1d",
        "",
        f"Produced by `{cmd.strip()}` ({total / 60:.1f} min wall, {cpu_total / 60:.1f} min CPU on "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}).",
        "",
        "Setting: mnist1d (4,000 train / 1,000 test, generated offline), one value per step, T = 40; "
        f"spiking MLP 1 → {round(128 * args.width)} → {round(128 * args.width)} → 10 with BatchNorm; AdamW "
        f"lr {args.lr}, cosine schedule, {args.epochs} epochs, batch {args.batch_size}, loss `{args.loss}` "
        f"(λ = 0.05); each neuron with its repository defaults; {args.seeds} seeds (0..{args.seeds - 1}). "
        "Accuracy is the final epoch's test accuracy (argmax of the mean logits over T); firing rate is "
        "spikes per neuron per step on the test set, over all neuron layers. Mean ± sample standard "
        "deviation over seeds.",
        "",
        "| neuron | test accuracy (%) | best-epoch test acc (%) | train accuracy (%) | "
        "firing rate | s / run |",
        "|---|---|---|---|---|---|",
    ]
    for name, rs in runs.items():
        lines.append(
            f"| {name.upper()} | {_ms([r['test_acc'] for r in rs], 100)} | "
            f"{_ms([r['best_test_acc'] for r in rs], 100)} | {_ms([r['train_acc'] for r in rs], 100)} | "
            f"{_ms([r['rate'] for r in rs], 1, 4)} | {statistics.mean(r['time_s'] for r in rs):.0f} |"
        )
    lines += ["", "Per seed (test accuracy, firing rate):", ""]
    for name, rs in runs.items():
        lines.append(f"- {name.upper()}: "
                     + ", ".join(f"seed {r['seed']}: {r['test_acc']:.4f} / {r['rate']:.4f}" for r in rs))
    if {"lif", "clif", "ilif"} <= set(runs) and args.seeds > 1:
        acc = {n: [r["test_acc"] for r in rs] for n, rs in runs.items()}
        rate = {n: [r["rate"] for r in rs] for n, rs in runs.items()}
        lines += [
            "",
            "Claims of the papers, checked on this task:",
            "",
            f"- CLIF > LIF in accuracy (CLIF paper): CLIF − LIF = {_verdict(acc['clif'], acc['lif'])}.",
            "- ILIF fires less than LIF (ILIF paper): "
            f"ILIF − LIF firing rate = {_verdict(rate['ilif'], rate['lif'])}; "
            f"ILIF − CLIF = {_verdict(rate['ilif'], rate['clif'])}.",
        ]
    lines += CAVEATS
    with atomic_write(args.out) as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
