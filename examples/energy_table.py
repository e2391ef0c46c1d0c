"""Energy table of the four neurons on mnist1d: train one small MLP per neuron, count ops on the test
set, price them.

Usage::

    python examples/energy_table.py --epochs 5 --width 0.5 --limit 1000 --out reports/energy_table

Prints a markdown table (the one in docs/energy.md) and writes ``table.md`` and ``table.json`` plus one full
energy report per neuron (``<neuron>/energy.json|md|png``) under ``--out``. Counts are per test sample
(T = 40). A profile that cannot price every term shows the priced part as a lower bound, marked.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from snndeploy.data import load_dataset
from snndeploy.energy import energy_report, missing_text, write_report
from snndeploy.io import atomic_write
from snndeploy.models import ModelConfig
from snndeploy.train.trainer import TrainConfig, train

PROFILES = ["cmos45_fp32", "cmos45_int8", "loihi", "truenorth"]


def row(neuron: str, acc: float, report: dict) -> dict:
    t = report["totals"]
    e = {x["profile"]: x for x in report["energy"]}
    fp32 = e["cmos45_fp32"]["per_sample_pj"]
    ops = sum(t["neuron_ops"].values())
    out = {
        "neuron": neuron,
        "test_acc": acc,
        "firing_rate": t["firing_rate"],
        "acs": t["effective_acs"],
        "macs": t["effective_macs"],
        "neuron_ops": ops,
        "state_updates": t["state_updates"],
        "fp32_synaptic_nj": fp32["synaptic"] / 1e3,
        "fp32_compute_nj": fp32["compute"] / 1e3,
        "fp32_memory_nj": [fp32["memory_low"] / 1e3, fp32["memory_high"] / 1e3],
        "fp32_paper_nj": fp32["paper_convention"] / 1e3,
        "fp32_ann_nj": fp32["ann_equivalent"] / 1e3,
        "int8_compute_nj": e["cmos45_int8"]["per_sample_pj"]["compute"] / 1e3,
    }
    # None when the profile cannot price everything; the priced part beside
    for chip in ("loihi", "truenorth"):
        p = e[chip]["per_sample_pj"]
        out[f"{chip}_compute_nj"] = None if p["compute"] is None else p["compute"] / 1e3
        out[f"{chip}_priced_nj"] = p["compute_priced"] / 1e3
        out[f"{chip}_missing"] = missing_text(e[chip])
    return out


def _chip(r: dict, chip: str) -> str:
    if r[f"{chip}_compute_nj"] is not None:
        return f"{r[f'{chip}_compute_nj']:.1f} nJ"
    return f"≥ {r[f'{chip}_priced_nj']:.1f} nJ*"


def markdown(rows: list[dict], note: str) -> str:
    head = ("| neuron | test acc | firing rate | ACs | MACs | neuron ops | fp32 synaptic | fp32 compute | "
            "fp32 memory (range) | fp32 papers' T·r·FLOPs | fp32 equivalent ANN | int8 compute | "
            "Loihi compute | TrueNorth compute |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        lo, hi = r["fp32_memory_nj"]
        lines.append(
            f"| {r['neuron']} | {r['test_acc']:.3f} | {r['firing_rate']:.4f} | {r['acs']:,.0f} | "
            f"{r['macs']:,.0f} | {r['neuron_ops']:,.0f} | {r['fp32_synaptic_nj']:.2f} nJ | "
            f"{r['fp32_compute_nj']:.2f} nJ | {lo:.1f} – {hi:,.0f} nJ | {r['fp32_paper_nj']:.2f} nJ | "
            f"{r['fp32_ann_nj']:.2f} nJ | {r['int8_compute_nj']:.3f} nJ | {_chip(r, 'loihi')} | "
            f"{_chip(r, 'truenorth')} |"
        )
    return "\n".join(lines) + "\n\n" + note + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--limit", type=int, default=1000, help="test samples to count on")
    ap.add_argument("--neurons", default="lif,clif,klif,ilif")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("reports/energy_table"))
    args = ap.parse_args()

    bundle = load_dataset("mnist1d")
    test = torch.utils.data.Subset(bundle.test, range(min(args.limit, len(bundle.test))))
    rows = []
    for neuron in args.neurons.split(","):
        t0 = time.time()
        config = ModelConfig(model="mlp", input_shape=bundle.input_shape, num_classes=bundle.num_classes,
                             neuron=neuron, width=args.width)
        cfg = TrainConfig(epochs=args.epochs, batch_size=128, lr=3e-3, amp=False, device="cpu",
                          seed=args.seed)
        model = train(config, bundle, cfg).model.eval()
        loader = torch.utils.data.DataLoader(test, batch_size=250)
        batches, correct = [], 0
        with torch.no_grad():
            for x, y in loader:
                xs = bundle.to_time_major(x)
                correct += int((model(xs).mean(0).argmax(-1) == y).sum())  # argmax of the mean logits over T
                batches.append(xs)
        acc = correct / len(test)
        report = energy_report(model, batches, PROFILES, fold_batchnorm=True,
                               meta={"neuron": neuron, "width": args.width, "epochs": args.epochs},
                               data_info={"dataset": "mnist1d", "split": "test"})
        write_report(report, args.out / neuron)
        rows.append(row(neuron, acc, report))
        print(f"{neuron}: {time.time() - t0:.0f} s", flush=True)  # noqa: T201 (an example script prints)
    note = (f"mnist1d test set ({args.limit} samples, T = 40, one value per step, batches of 250), MLP "
            f"width {args.width} (hidden {int(128 * args.width)}, 2 hidden layers, BatchNorm folded into the "
            f"weights first), {args.epochs} epochs, seed {args.seed}. Counts per sample. *Incomplete: Loihi "
            "and TrueNorth cannot price the MACs of the first layer (real-valued input); the number is the "
            "priced part, a lower bound; each report's `missing` lists what is left out.")
    table = markdown(rows, note)
    print(table)  # noqa: T201
    with atomic_write(args.out / "table.md") as fh:
        fh.write(table)
    with atomic_write(args.out / "table.json") as fh:
        json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
