"""``fold_checkpoint``: load a training checkpoint, fold it calibrated on its data, measure, optionally
fine-tune."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from snndeploy.checkpoint import load
from snndeploy.data import calibration_inputs
from snndeploy.errors import InvalidParameterError

from .api import DEFAULT_GRANULARITY, fold
from .calibration import output_agreement
from .finetune import finetune
from .report import FoldReport

__all__ = ["fold_checkpoint"]


def fold_checkpoint(
    checkpoint: Path,
    *,
    data: str | None = None,
    data_dir: Path | None = None,
    limit: int = 256,
    calibrate: bool = True,
    finetune_epochs: int = 0,
    granularity: str = DEFAULT_GRANULARITY,
) -> tuple[nn.Module, FoldReport]:
    """``(folded model, FoldReport)`` of ``checkpoint``.

    With ``calibrate``, the fold is calibrated on ``limit`` training samples of ``data`` (default: the
    embedded dataset matching the model's input shape) with reset ``granularity`` (``fold``), and the report's
    metrics gain the source-vs-folded output agreement; ``finetune_epochs`` > 0 then runs fold-aware
    fine-tuning on the same samples (it needs data; logit distillation, the variant that measured best, and
    the epoch kept is the one with the highest spike agreement with the source, epoch 0 included, so it never
    lowers what ``verify`` judges on those samples) and returns the fine-tuned model.
    """
    model, config = load(checkpoint)
    cal = calibration_inputs(config.input_shape, data, data_dir, limit) if calibrate else None
    if finetune_epochs and cal is None:
        raise InvalidParameterError("--finetune-epochs needs calibration data (--data)")
    folded, report = fold(model, cal[0] if cal is not None else None, granularity=granularity)
    if cal is not None:
        report.metrics.update(output_agreement(model, folded, cal[0], cal[1]))
    if finetune_epochs and cal is not None:
        res = finetune(folded, model, cal[0], cal[1], epochs=finetune_epochs, select="spikes")
        report.metrics["finetune"] = {
            **{k: v for k, v in res.after.items() if not isinstance(v, dict)},
            "best_epoch": res.best_epoch,
            "selection": "spikes",
        }
        folded = res.model
    return folded, report
