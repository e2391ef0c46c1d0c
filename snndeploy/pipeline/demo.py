"""The demo's steps on embedded sklearn digits: train a small CLIF VGG, fold + export + verify, estimate
energy.

Each step returns its section of ``summary.json`` (``write_summary`` adds it); the CLI (``snndeploy demo``)
prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data import load_dataset
from ..energy import data_text, missing_text
from ..io import atomic_write
from ..models import ModelConfig
from ..train import TrainConfig, TrainResult, train
from ..verify import VerifyReport
from .energy import energy_of_file
from .verify import verify_checkpoint

__all__ = ["DEMO_PEERS", "write_summary", "demo_train", "demo_verify", "demo_energy", "demo_target"]

#: Peer simulators the demo tries (each reported as unavailable when it cannot run the graph).
DEMO_PEERS = ("norse", "spikingjelly", "snntorch", "sinabs", "rockpool")


def write_summary(out: Path, section: str, content: dict[str, Any]) -> Path:
    """Set ``summary.json[section] = content`` (atomic rewrite; other sections kept)."""
    path = Path(out) / "summary.json"
    summary = json.loads(path.read_text()) if path.is_file() else {}
    summary[section] = content
    with atomic_write(path) as fh:
        json.dump(summary, fh, indent=2)
    return path


def demo_train(
    out: Path, epochs: int, seed: int, T: int, neuron: str,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], TrainResult, ModelConfig, int]:
    """Train the demo network (VGG, width 0.5) on digits; returns
    ``(train section, result, config, test size)``."""
    data = load_dataset("digits", time_steps=T)
    config = ModelConfig("vgg", data.input_shape, data.num_classes, neuron, width=0.5)
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, seed=seed, progress=False)
    result = train(config, data, cfg, out, on_epoch=on_epoch)
    last = result.history[-1]
    section = {
        "dataset": "digits", "T": T, "epochs": epochs, "seed": seed, "model_config": config.to_dict(),
        "test_acc": last["test_acc"], "train_acc": last["train_acc"], "firing_rate": last["firing_rate"],
        "mean_firing_rate": last["mean_firing_rate"], "checkpoint": str(result.checkpoint),
        "metrics": str(result.metrics),
    }
    return section, result, config, len(data.test)


def demo_verify(
    out: Path, seed: int, samples: int = 256, on_batch: Callable[[int, int], None] | None = None
) -> tuple[dict[str, Any], VerifyReport, dict[str, Path]]:
    """Fold, export and verify ``OUT/checkpoint.pt`` on the digits test set; returns
    ``(verify section, report, paths)``."""
    report, paths = verify_checkpoint(Path(out) / "checkpoint.pt", Path(out), data="digits", samples=samples,
                                      peers=list(DEMO_PEERS), seed=seed, on_batch=on_batch)
    section = {"passed": report.passed, "runtimes": [r.to_dict() | {"layers": None} for r in report.runtimes],
               "report": str(paths["markdown"])}
    return section, report, paths


def demo_energy(out: Path, limit: int = 256) -> dict[str, Any]:
    """Count ``OUT/checkpoint.pt`` on the digits test set, write ``OUT/energy/``; returns the ``energy``
    section: the data it was computed on, the totals, and per profile the compute energy, the memory and total
    ranges and a completeness flag (an incomplete total is ``None``; its priced part is a lower bound and
    ``missing`` says what has no price)."""
    report, paths = energy_of_file(Path(out) / "checkpoint.pt", Path(out) / "energy", limit=limit)
    profiles = {}
    for e in report["energy"]:
        p = e["per_sample_pj"]
        profiles[e["profile"]] = {
            "complete": e["complete"],
            "compute_complete": e["compute_complete"],
            "compute_pj": p["compute"],
            "compute_priced_pj": p["compute_priced"],
            "memory_pj": None if p["memory_low"] is None else [p["memory_low"], p["memory_high"]],
            "total_pj": None if p["total_low"] is None else [p["total_low"], p["total_high"]],
            "missing": missing_text(e),
        }
    return {
        "dataset": report["data"]["dataset"],
        "split": report["data"]["split"],
        "samples": report["data"]["samples"],
        "T": report["data"]["T"],
        "batch_size": report["data"]["batch_size"],
        "computed_on": data_text(report),
        "batchnorm_folded": [f["layer"] for f in report["meta"]["batchnorm"]["layers"]],
        "totals": {k: report["totals"][k] for k in ("firing_rate", "effective_acs", "effective_macs",
                                                      "neurobench_acs", "neurobench_macs", "state_updates")},
        "energy_per_sample_pj": {name: v["compute_pj"] for name, v in profiles.items()},
        "profiles": profiles,
        "report": str(paths["markdown"]),
    }


def demo_target(
    out: Path, target: str, seed: int = 0, epochs: int | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], Any, Any]:
    """``snndeploy demo --target T``: train the target's recipe network (Xylo: a CubaLIF MLP on mnist1d's
    first 8 classes; Speck: an IAF conv net on digits; ``snndeploy.deploy.train_for_target``) with
    quantisation in the loop, then hw-check, the integer chip model and the vendor's simulator on the test set
    (``deploy.target_check``), the vendor artifacts and the energy under the target's profile. Writes
    ``checkpoint.pt``, ``metrics.jsonl``, ``artifacts/``, ``energy/`` and the ``target`` section of
    ``summary.json``; returns ``(section, train result, target check)``."""
    from ..deploy import TargetTrainConfig, train_for_target
    from ..deploy.convert import target_energy
    from ..deploy.target_check import check_on_target
    from ..hardware.chips import chips

    step = on_step or (lambda _s: None)
    step("train")
    cfg = TargetTrainConfig(epochs=epochs, seed=seed)
    res = train_for_target(target, out_dir=out, on_epoch=on_epoch, cfg=cfg)
    x, y = res.data.split("test")
    step("chip")
    check = check_on_target(res.model, res.recipe, res.calibration_x, x, y)
    artifacts: list[str] = []
    support = chips().get(res.recipe.hardware.name)
    if support is not None and check.mapping is not None:
        artifacts = [str(p) for p in support.write_artifacts(check.mapping.network, Path(out) / "artifacts")]
    step("energy")
    energy = target_energy(res.model, res.recipe, x[:, :64], Path(out))
    last = res.history[-1]
    section = {
        "target": res.recipe.target, "dataset": res.data.record(), "model_config": res.config.to_dict(),
        "neuron": res.recipe.neuron().note, "epochs": len(res.history), "seed": seed,
        "test_acc_qat": last["test_acc"], "firing_rate": last["firing_rate"],
        "float_accuracy": check.float_accuracy, "chip_accuracy": check.chip_accuracy,
        "spike_agreement": check.spike_agreement, "hw_check": check.hw_dict(),
        "vendor_check": check.vendor_dict(),
        "passed": check.passed, "artifacts": artifacts, "energy": energy, "checkpoint": str(res.checkpoint),
    }
    write_summary(out, "target", section)
    return section, res, check
