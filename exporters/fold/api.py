"""``fold(model, calibration_data)``: BatchNorm folding, then one fold rule per neuron layer, in forward order.

Calibration is greedy and sequential: layer ℓ is calibrated on the inputs it receives when layers < ℓ are already
folded, against the source model's spikes of layer ℓ, so each choice also compensates upstream fold error.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from snndeploy.errors import ExportError
from snndeploy.models.layers import TimeDistributed
from snndeploy.models.tree import check_tree, get_module, neuron_paths, set_module

from .bn import fold_batchnorms
from .calibration import LayerData, capture, capture_inputs, output_agreement
from .report import FoldReport
from .rules import get_fold_rule

__all__ = ["fold"]


def _check_data(x: Tensor | None) -> Tensor | None:
    if x is None:
        return None
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ExportError(f"calibration_data must be a floating tensor [T, B, *input_shape], got {shape}")
    return x


@torch.no_grad()
def fold(model: nn.Module, calibration_data: Tensor | None = None) -> tuple[nn.Module, FoldReport]:
    """Fold ``model`` into standard layers + ``SpecLIF`` (LIF-family) neurons.

    Args:
        model: a model tree (``snndeploy.models.layers``); not modified.
        calibration_data: optional inputs ``[T, B, *input_shape]``; used to pick calibrated fold parameters
            (CLIF, ILIF), to measure the KLIF ReLU-floor rate, BN fold differences and spike agreement.

    Returns:
        ``(folded_model, FoldReport)``; the folded model is a new module in eval mode.
    """
    check_tree(model)
    x = _check_data(calibration_data)
    source = model
    was_training = source.training
    source.eval()
    try:
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
                data = LayerData(x=xin, target=targets[path], local_target=local)
            new, record = rule(module, path, data)
            set_module(folded, path, new)
            report.layers.append(record)
        if x is not None:
            report.metrics.update(output_agreement(source, folded, x))
    finally:
        source.train(was_training)
    return folded, report
