"""Measure issue 16's acceptance lines (``docs/deploy.md``): ``train --target`` and ``deploy`` on every
target.

Three parts, each over ``--seeds`` (default 0 1 2):

A. ``train --target T`` (the recipe's network, neuron and QAT): float accuracy, the integer chip model's
accuracy,
   the drop, hw-check errors, the vendor simulator's agreement with the integer model, float-vs-integer spike
   agreement — Loihi 2 (digits, mnist1d), Speck (digits), Xylo Audio 2 (mnist1d, 8 classes), SpiNNaker2
   (digits: no simulator, the int8 float quantiser stands in).
B. Which neuron to train with: the chip's own neuron with QAT (A) against CLIF in the same chip-shaped network
   (no QAT: CLIF is not legal) converted by ``deploy`` — the integer chip accuracy of both.
C. The demo's CLIF model (VGG width 0.5 on digits, T = 4, 8 epochs: ``pipeline.demo_train``'s recipe) deployed
   to Loihi 2, Speck and SpiNNaker2, accuracy at every stage, side by side with the CLIF authors' hard-reset
   deployment and with A's target-trained model; on Xylo the VGG is refused (its message is recorded) and a
   CLIF MLP on mnist1d's first 8 classes stands in.

    python benchmarks/deploy_targets.py --seeds 0 1 2 --out reports/deploy_targets

Writes ``results.json`` (every number), ``tables.md`` (the tables of docs/deploy.md) and ``summary.png``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from snndeploy.data import load_dataset
from snndeploy.deploy import TargetTrainConfig, get_recipe, target_data, train_for_target
from snndeploy.deploy.convert import DeployConfig, deploy_model
from snndeploy.deploy.recipes import DeployRequestError
from snndeploy.deploy.report import write_deploy
from snndeploy.deploy.target_check import check_on_target
from snndeploy.models import ModelConfig
from snndeploy.train import TrainConfig, train

PART_A = [
    ("loihi2", "digits"),
    ("loihi2", "mnist1d"),
    ("speck", "digits"),
    ("xylo_audio2", "mnist1d"),
    ("spinnaker2", "digits"),
]
PART_C = ["loihi2", "speck", "spinnaker2"]


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def part_a(target: str, dataset: str, seed: int) -> tuple[dict[str, Any], Any]:
    t0 = time.perf_counter()
    res = train_for_target(target, dataset, cfg=TargetTrainConfig(seed=seed))
    x, y = res.data.split("test")
    check = check_on_target(res.model, res.recipe, res.calibration_x, x, y, vendor_samples=32)
    return {
        "target": target,
        "dataset": dataset,
        "seed": seed,
        "model": res.config.to_dict(),
        "classes": res.data.classes,
        "float": check.float_accuracy,
        "integer": check.chip_accuracy,
        "drop_pt": None
        if check.chip_accuracy is None
        else 100 * (check.float_accuracy - check.chip_accuracy),
        "hw_errors": len(check.hw_check.errors),
        "hw_warnings": len(check.hw_check.violations) - len(check.hw_check.errors),
        "vendor": check.vendor_dict(),
        "spike_agreement": check.spike_agreement,
        "epochs": len(res.history),
        "seconds": time.perf_counter() - t0,
    }, res


def _deploy(model: torch.nn.Module, target: str, data: Any, seed: int, out: Path | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = deploy_model(
        model,
        get_recipe(target),
        data,
        cfg=DeployConfig(seed=seed, vendor_samples=32, finetune_samples=2048),
        out_dir=out,
    )
    if out is not None:
        write_deploy(result, out)
    check = result.check
    return {
        "target": target,
        "seed": seed,
        "stages": [s.to_dict() for s in result.stages],
        "baseline": result.baseline,
        "hw_errors": len(check.hw_check.errors),
        "vendor": check.vendor_dict(),
        "passed": result.passed,
        "rewrites": [r.to_dict() for r in result.rewrites],
        "finetune_best_epoch": result.finetune.get("best_epoch"),
        "seconds": time.perf_counter() - t0,
    }


def part_b(target: str, dataset: str, seed: int) -> dict[str, Any]:
    """CLIF in the chip-shaped network (no QAT), then ``deploy``: the integer accuracy."""
    # CLIF trains on the dataset's own values (pixels in [0, 1]); deploy scales its first layer for events
    res = train_for_target(
        target, dataset, neuron="clif", neuron_kwargs={}, input_scale=1.0, cfg=TargetTrainConfig(seed=seed)
    )
    recipe = get_recipe(target)
    data = target_data(
        dataset,
        T=res.data.bundle.time_steps,
        classes=res.data.classes,
        input_scale=recipe.dataset_defaults(dataset)["input_scale"],
    )
    d = _deploy(res.model, target, data, seed, None)
    return {
        "target": target,
        "dataset": dataset,
        "seed": seed,
        "clif_float": d["stages"][0]["accuracy"],
        "deployed_integer": d["stages"][-1]["accuracy"],
        "hw_errors": d["hw_errors"],
        "vendor": d["vendor"],
    }


def demo_clif(seed: int) -> tuple[torch.nn.Module, Any]:
    data = load_dataset("digits", time_steps=4)
    config = ModelConfig("vgg", data.input_shape, data.num_classes, "clif", width=0.5)
    res = train(config, data, TrainConfig(epochs=8, batch_size=32, lr=3e-3, seed=seed, progress=False))
    return res.model.eval(), res.history[-1]["test_acc"]


def _ms(values: list[float | None], scale: float = 100.0) -> str:
    v = [scale * x for x in values if x is not None]
    if not v:
        return "n/a"
    if len(v) == 1:
        return f"{v[0]:.2f}"
    return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}"


def tables(r: dict[str, Any]) -> str:
    lines = [
        "### A. `train --target`: float vs integer chip model (test split)",
        "",
        "| target | data | float acc (%) | integer acc (%) | drop (pt) | hw-check errors | vendor agreement |"
        " float↔integer spikes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for target, dataset in PART_A:
        rows = [a for a in r["A"] if a["target"] == target and a["dataset"] == dataset]
        if not rows:
            continue
        vend = [a["vendor"].get("spike_agreement") for a in rows]
        vtxt = (
            "n/a (" + rows[0]["vendor"].get("reason", "no simulator").split(":")[0].split(" (")[0] + ")"
            if vend[0] is None
            else f"{_ms(vend)} ({sum(a['vendor'].get('samples', 0) for a in rows)} samples)"
        )
        lines.append(
            f"| {target} | {dataset} ({rows[0]['classes']} cl.) | {_ms([a['float'] for a in rows])} | "
            f"{_ms([a['integer'] for a in rows])} | {_ms([a['drop_pt'] for a in rows], 1.0)} | "
            f"{max(a['hw_errors'] for a in rows)} | {vtxt} | "
            f"{_ms([a['spike_agreement'] for a in rows])} |"
        )
    if r.get("B"):
        lines += [
            "",
            "### B. Which neuron to train with (integer chip accuracy, %)",
            "",
            "| target | data | chip's neuron + QAT (A) | CLIF, then `deploy` |",
            "|---|---|---|---|",
        ]
        for target, dataset in sorted({(b["target"], b["dataset"]) for b in r["B"]}):
            a = [x["integer"] for x in r["A"] if x["target"] == target and x["dataset"] == dataset]
            b = [x["deployed_integer"] for x in r["B"] if x["target"] == target and x["dataset"] == dataset]
            lines.append(f"| {target} | {dataset} | {_ms(a)} | {_ms(b)} |")
    lines += [
        "",
        "### C. The demo's CLIF model deployed (accuracy %, test split)",
        "",
        "| target | source CLIF | fold | rewrite | fine-tune | quantised | integer | hard-reset LIF float "
        "| hard-reset LIF integer | target-trained integer (A) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for target in [*PART_C, "xylo_audio2"]:
        rows = [c for c in r["C"] if c["target"] == target]
        if not rows:
            continue
        st = {s["name"]: [c["stages"][i]["accuracy"] for c in rows] for i, s in enumerate(rows[0]["stages"])}
        base_f = [c["baseline"]["float_accuracy"] for c in rows]
        base_c = [c["baseline"].get("chip_accuracy") for c in rows]
        data = "mnist1d" if target.startswith("xylo") else "digits"
        a = [x["integer"] for x in r["A"] if x["target"] == target and x["dataset"] == data]
        lines.append(
            f"| {target}{' (CLIF MLP, mnist1d)' if target.startswith('xylo') else ''} | "
            + " | ".join(
                _ms(st.get(k, [None]))
                for k in ("source", "fold", "rewrite", "fine-tune", "quantised", "integer")
            )
            + f" | {_ms(base_f)} | {_ms(base_c)} | {_ms(a)} |"
        )
    if r.get("refused"):
        lines += ["", f"Refused up front (exit 2): `{r['refused']}`"]
    return "\n".join(lines) + "\n"


def summary_plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = [t for t in [*PART_C, "xylo_audio2"] if any(c["target"] == t for c in r["C"])]
    series = {
        "source CLIF": [],
        "deployed CLIF (integer)": [],
        "hard-reset LIF (float)": [],
        "target-trained (integer)": [],
    }
    for t in targets:
        rows = [c for c in r["C"] if c["target"] == t]
        data = "mnist1d" if t.startswith("xylo") else "digits"
        series["source CLIF"].append(statistics.mean(c["stages"][0]["accuracy"] for c in rows))
        series["deployed CLIF (integer)"].append(statistics.mean(c["stages"][-1]["accuracy"] for c in rows))
        series["hard-reset LIF (float)"].append(
            statistics.mean(c["baseline"]["float_accuracy"] for c in rows)
        )
        a = [x["integer"] for x in r["A"] if x["target"] == t and x["dataset"] == data]
        series["target-trained (integer)"].append(statistics.mean(a) if a else 0.0)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    w = 0.2
    for k, (name, vals) in enumerate(series.items()):
        ax.bar([i + (k - 1.5) * w for i in range(len(targets))], [100 * v for v in vals], w, label=name)
    ax.set_xticks(range(len(targets)), targets)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"deploy vs baselines, mean over seeds {r['seeds']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("reports/deploy_targets"))
    ap.add_argument("--skip-b", action="store_true", help="skip part B (the neuron choice)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    r: dict[str, Any] = {
        "seeds": args.seeds,
        "A": [],
        "B": [],
        "C": [],
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "date": datetime.now(timezone.utc).isoformat(timespec="minutes"),
        },
    }
    t_start = time.perf_counter()
    trained: dict[tuple[str, str, int], Any] = {}
    for seed in args.seeds:
        for target, dataset in PART_A:
            _log(f"A {target} {dataset} seed {seed}")
            row, res = part_a(target, dataset, seed)
            r["A"].append(row)
            trained[(target, dataset, seed)] = res
            _log(
                f"  float {row['float']:.4f} integer {row['integer']} "
                f"vendor {row['vendor'].get('spike_agreement')}"
            )
        if not args.skip_b:
            for target, dataset in [("loihi2", "digits"), ("speck", "digits"), ("xylo_audio2", "mnist1d")]:
                _log(f"B {target} {dataset} seed {seed}")
                r["B"].append(part_b(target, dataset, seed))
        _log(f"C demo CLIF VGG seed {seed}")
        model, acc = demo_clif(seed)
        for target in PART_C:
            recipe = get_recipe(target)
            defaults = recipe.dataset_defaults("digits")  # T = 8 (the demo trained at 4; the image is static)
            data = target_data("digits", T=defaults["T"], input_scale=defaults["input_scale"])
            _log(f"C deploy → {target} seed {seed}")
            r["C"].append(_deploy(model, target, data, seed, args.out / f"seed{seed}_{target}"))
        try:
            deploy_model(model, get_recipe("xylo_audio2"), target_data("digits", T=4))
        except DeployRequestError as exc:
            r["refused"] = f"deploy <demo CLIF VGG> --target xylo: {exc}"
        _log(f"C CLIF MLP mnist1d → xylo_audio2 seed {seed}")
        clif = train_for_target(
            "xylo_audio2", "mnist1d", neuron="clif", neuron_kwargs={}, cfg=TargetTrainConfig(seed=seed)
        )
        r["C"].append(
            _deploy(clif.model, "xylo_audio2", clif.data, seed, args.out / f"seed{seed}_xylo_audio2")
        )
        with open(args.out / "results.json", "w") as fh:
            json.dump(r, fh, indent=1, default=str)
    r["seconds"] = time.perf_counter() - t_start
    with open(args.out / "results.json", "w") as fh:
        json.dump(r, fh, indent=1, default=str)
    (args.out / "tables.md").write_text(tables(r))
    summary_plot(r, args.out / "summary.png")
    print(tables(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
