"""``fold(model, calibration_data)``: BatchNorm folding, then one fold rule per neuron layer in forward order.

Calibration is greedy and sequential: layer ℓ is calibrated on the inputs it receives when layers < ℓ are
already folded, against the source model's spikes of layer ℓ, so each choice also compensates upstream fold
error.

Reset granularity (``granularity``): CLIF/ILIF reset parameters are chosen per layer, per channel or per
neuron (``calibration.choose_per_neuron``). A finer choice never has more mismatches on the data it was chosen
on, but it can fit noise, and it can move a layer's errors to earlier time steps, where they reach more of the
downstream network (measured in ``docs/folding.md``). ``"auto"`` therefore decides on held-out data: every
granularity is calibrated on the first ``1 − holdout`` of the calibration samples, the one with the highest
spike agreement over all layers on the remaining samples wins (ties: the coarser), and it is then calibrated
again on all samples.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from snndeploy.errors import ExportError
from snndeploy.models.layers import TimeDistributed
from snndeploy.models.tree import check_tree, get_module, neuron_paths, set_module

from .bn import fold_batchnorms
from .calibration import GRANULARITIES, LayerData, capture, capture_inputs, output_agreement, total_agreement
from .report import FoldReport
from .rules import get_fold_rule

__all__ = ["fold", "DEFAULT_GRANULARITY", "MIN_AUTO_SAMPLES"]

#: ``fold``'s default reset granularity. ``"auto"`` measures better or equal (docs/folding.md, "Fold
#: fidelity") but can produce per-neuron arrays, which several ``LIFSpec`` readers outside the fold do not
#: accept yet (the hardware views, quantiser and Xylo mapping, and some peer export profiles); per layer until
#: they do.
DEFAULT_GRANULARITY = "layer"
#: ``"auto"`` needs at least this many calibration samples (else it stays per layer).
MIN_AUTO_SAMPLES = 8


def _check_data(x: Tensor | None) -> Tensor | None:
    if x is None:
        return None
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ExportError(f"calibration_data must be a floating tensor [T, B, *input_shape], got {shape}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ExportError(f"calibration_data needs T ≥ 1 and at least one sample, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ExportError("calibration_data contains NaN or infinite values")
    return x


def _check_options(granularity: str, holdout: float) -> None:
    if granularity != "auto" and granularity not in GRANULARITIES:
        raise ExportError(f"granularity must be 'auto' or one of {GRANULARITIES}, got {granularity!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0.0 < holdout < 1.0:
        raise ExportError(f"holdout must be a fraction in (0, 1), got {holdout!r}")


@torch.no_grad()
def fold(
    model: nn.Module,
    calibration_data: Tensor | None = None,
    *,
    granularity: str = DEFAULT_GRANULARITY,
    holdout: float = 0.25,
) -> tuple[nn.Module, FoldReport]:
    """Fold ``model`` into standard layers + ``FoldedLIF`` (LIF-family) neurons.

    Args:
        model: a model tree (``snndeploy.models.layers``); not modified.
        calibration_data: optional inputs ``[T, B, *input_shape]``; used to pick calibrated fold parameters
            (CLIF, ILIF), to measure the KLIF ReLU-floor rate, BN fold differences and spike agreement.
        granularity: ``"layer"`` (default, ``DEFAULT_GRANULARITY``), ``"channel"``, ``"neuron"`` (how finely
            CLIF/ILIF reset parameters are chosen) or ``"auto"`` (decided on held-out calibration samples;
            module docstring).
        holdout: the fraction of calibration samples ``"auto"`` holds out.

    Returns:
        ``(folded_model, FoldReport)``; the folded model is a new module in eval mode. With ``"auto"`` the
        report's ``metrics["granularity"]`` records the held-out agreement of every granularity and the
        choice.
    """
    check_tree(model)
    x = _check_data(calibration_data)
    _check_options(granularity, holdout)
    source = model
    was_training = source.training
    source.eval()
    try:
        chosen, selection = granularity, None
        if x is None:
            chosen = "layer"
        elif granularity == "auto":
            chosen, selection = _choose_granularity(source, x, holdout)
        folded, report = _fold_once(source, x, chosen)
        if selection is not None:
            report.metrics["granularity"] = selection
        if x is not None:
            report.metrics.update(output_agreement(source, folded, x))
    finally:
        source.train(was_training)
    return folded, report


def _choose_granularity(source: nn.Module, x: Tensor, holdout: float) -> tuple[str, dict]:
    """The granularity with the best held-out spike agreement (ties: the coarser), and the measurements."""
    n = x.shape[1]
    n_val = int(round(n * holdout))
    if n < MIN_AUTO_SAMPLES or n_val < 1 or n - n_val < 1:
        return "layer", {
            "mode": "auto",
            "chosen": "layer",
            "reason": f"{n} calibration samples < {MIN_AUTO_SAMPLES}: per layer",
        }
    fit, val = x[:, : n - n_val], x[:, n - n_val :]
    scores: dict[str, float] = {}
    for g in GRANULARITIES:  # coarse to fine: a finer one must beat the best so far strictly
        folded, _ = _fold_once(source, fit, g)
        scores[g] = total_agreement(source, folded, val)
    chosen = max(GRANULARITIES, key=lambda g: (scores[g], -GRANULARITIES.index(g)))
    return chosen, {
        "mode": "auto",
        "chosen": chosen,
        "fit_samples": n - n_val,
        "holdout_samples": n_val,
        "holdout_agreement": scores,
    }


def _fold_once(source: nn.Module, x: Tensor | None, granularity: str) -> tuple[nn.Module, FoldReport]:
    """One calibrated fold of ``source`` (eval mode) on ``x`` with one granularity (module docstring)."""
    folded = copy.deepcopy(source).eval()
    captured = None
    if x is not None:
        weighted = [p for p, m in source.named_modules() if isinstance(m, TimeDistributed)]
        captured = {p: v.flatten(0, 1) for p, v in capture_inputs(source, x, weighted).items()}
    report = FoldReport(layers=fold_batchnorms(folded, captured))
    paths = [p for p, _ in neuron_paths(folded)]
    targets: dict[str, Tensor] = {}
    if x is not None:
        with capture(source, paths) as targets_store:
            source(x)
        targets = dict(targets_store)
    for path in paths:
        module = get_module(folded, path)
        rule = get_fold_rule(module, path)
        data = None
        if x is not None:
            xin = capture_inputs(folded, x, [path])[path]
            local = module(xin)
            data = LayerData(x=xin, target=targets[path], local_target=local, granularity=granularity)
        new, record = rule(module, path, data)
        set_module(folded, path, new)
        report.layers.append(record)
    return folded, report
