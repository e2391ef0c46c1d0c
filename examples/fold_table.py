"""Spike agreement and accuracy of each neuron before/after folding, calibration and fine-tuning on mnist1d.

For each neuron (LIF, CLIF, KLIF, ILIF): train a spiking MLP on mnist1d (T = 40, one value per step), fold it
with default parameters (no data), with calibration (256 training samples), then fine-tune the calibrated fold
(distilling the source logits + 0.5·CE, 1024 training samples, best epoch kept by distillation error).
Accuracy and the mean per-layer spike agreement with the source model are measured on the test split. Prints a
markdown table (the one in docs/folding.md).

    python examples/fold_table.py --epochs 8 --out docs/fold_table.md
"""

from __future__ import annotations

import argparse
import time

import torch

from exporters.fold import finetune, fold, layer_agreement
from snndeploy.data import load_dataset
from snndeploy.io import atomic_write
from snndeploy.models import ModelConfig
from snndeploy.train import TrainConfig, train


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).mean(0).argmax(-1) == y).float().mean())


def _tensors(ds, n: int, bundle) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*[ds[i] for i in range(min(n, len(ds)))], strict=True)
    return bundle.to_time_major(torch.stack(xs)), torch.as_tensor(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--finetune-epochs", type=int, default=2)
    ap.add_argument("--finetune-lr", type=float, default=3e-4)
    ap.add_argument("--test", type=int, default=1000, help="test samples")
    ap.add_argument("--neurons", default="lif,clif,klif,ilif")
    ap.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = ap.parse_args()

    bundle = load_dataset("mnist1d")
    x_cal, _ = _tensors(bundle.train, 256, bundle)
    x_ft, y_ft = _tensors(bundle.train, 1024, bundle)
    # fine-tuning keeps its best epoch by distillation error on these
    x_val, y_val = x_ft[:, -256:], y_ft[-256:]
    x_te, y_te = _tensors(bundle.test, args.test, bundle)
    rows = ["| neuron | source acc | fold (default) acc / spike agr. | fold (calibrated) acc / spike agr. | "
            "fine-tuned acc / spike agr. | rules (calibrated) | exact |",
            "|---|---|---|---|---|---|---|"]
    for neuron in args.neurons.split(","):
        t0 = time.time()
        config = ModelConfig("mlp", (1,), 10, neuron=neuron)
        result = train(config, bundle, TrainConfig(epochs=args.epochs, batch_size=128, lr=2e-3, seed=0,
                                                   device="cpu", amp=False))
        source = result.model.eval()
        acc_src = _accuracy(source, x_te, y_te)
        cells = []
        for cal in (None, x_cal):
            folded, report = fold(source, cal)
            agree = layer_agreement(source, folded, x_te)
            cells.append((_accuracy(folded, x_te, y_te), sum(agree.values()) / len(agree), folded, report))
        report = cells[1][3]
        if report.exact:
            ft_cell = "n/a (exact fold)"
        else:
            ft = finetune(cells[1][2], source, x_ft, y_ft, epochs=args.finetune_epochs, ce_weight=0.5,
                          lr=args.finetune_lr, eval_inputs=x_val, eval_labels=y_val)
            ft_model = ft.model
            agree = layer_agreement(source, ft_model, x_te)
            ft_cell = f"{_accuracy(ft_model, x_te, y_te):.3f} / {sum(agree.values()) / len(agree):.4f}"
        rules = ", ".join(e.rule for e in report.layers if not e.source.startswith("BatchNorm"))
        rows.append(f"| {neuron.upper()} | {acc_src:.3f} | {cells[0][0]:.3f} / {cells[0][1]:.4f} | "
                    f"{cells[1][0]:.3f} / {cells[1][1]:.4f} | {ft_cell} | {rules} | "
                    f"{'yes' if report.exact else 'no'} |")
        print(f"{neuron}: {time.time() - t0:.0f}s", flush=True)
    table = "\n".join(rows)
    print(table)
    if args.out:
        with atomic_write(args.out) as fh:
            fh.write(table + "\n")


if __name__ == "__main__":
    main()
