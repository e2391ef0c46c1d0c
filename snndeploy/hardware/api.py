"""``check_file``: a checkpoint (folded first) or a NIR graph against a hardware target, optionally quantised.

What ``snndeploy hw-check`` runs; the CLI only prints the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from exporters.fold.api import fold
from exporters.nir import read_nir

from ..checkpoint import model_from_checkpoint, read_checkpoint
from ..data import checkpoint_dataset, default_dataset
from .check import CheckReport, check_model
from .handoff import ChipCheck, chip_check
from .nir_check import check_nir
from .quantize import QuantizationResult, quantize_model
from .targets import HardwareTarget, get_target

__all__ = ["HardwareCheck", "check_file"]


@dataclass
class HardwareCheck:
    """The result of ``check_file``: the target, the constraint report and, with ``quantize``, the
    quantisation."""

    source: str
    target: HardwareTarget
    report: CheckReport
    fold: dict[str, Any] | None = None
    quantization: QuantizationResult | None = None
    chip: ChipCheck | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "target": self.target.name}
        if self.fold is not None:
            out["fold"] = self.fold
        if self.quantization is not None:
            out["quantization"] = self.quantization.to_dict()
        if self.chip is not None:
            out["chip"] = self.chip.to_dict()
        out.update(self.extra)
        out["check"] = self.report.to_dict()
        return out


def check_file(
    source: Path,
    target: str | HardwareTarget,
    *,
    fold_model: bool = True,
    quantize: bool = False,
    data: str | None = None,
    data_dir: Path | None = None,
    limit: int = 64,
    vendor: bool = True,
) -> HardwareCheck:
    """Check ``source`` (a checkpoint or a ``.nir`` file) against ``target``.

    A checkpoint is folded first (``fold_model``; calibrated on ``limit`` test samples of ``data``, by default
    the embedded dataset matching its input shape), then checked with those samples for shapes and activity;
    with ``quantize`` its copy on the target's grid is compared spike for spike, and the model is mapped onto
    the chip's integer model (``handoff.chip_check``): float vs integer agreement and, with ``vendor`` and the
    vendor's venv built, the integer model vs the vendor's own simulator.
    """
    t = target if isinstance(target, HardwareTarget) else get_target(target)
    if str(source).endswith(".nir"):
        return HardwareCheck(str(source), t, check_nir(read_nir(source), t))
    obj = read_checkpoint(source)
    model, config = model_from_checkpoint(obj, source)
    train_config = obj.get("train_config") or {}
    name = data or default_dataset(config.input_shape)
    x = y = None
    if (
        name is not None
    ):  # a `train --target` checkpoint's data as it was trained on (class subset, input scale)
        bundle = checkpoint_dataset(name, data_dir, train_config, limit=limit)
        xb, y = next(iter(torch.utils.data.DataLoader(bundle.test, batch_size=limit)))
        x = bundle.to_time_major(xb)
    fold_metrics = None
    if fold_model:
        model, fold_report = fold(model, x)
        fold_metrics = getattr(fold_report, "metrics", {})
    result = HardwareCheck(str(source), t, check_model(model, t, x), fold=fold_metrics)
    if quantize:
        result.quantization = quantize_model(model, t, x, y)
        if x is not None:
            result.chip = chip_check(model, t, x, y, vendor=vendor)
    return result
