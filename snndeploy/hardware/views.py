"""What the hardware checks and the quantiser read off a model's layers: ``NeuronView`` of a neuron layer, the
synaptic layer types, kernel sizes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from ..neurons import IAF, LIF, CubaLIF

__all__ = ["SYNAPTIC", "BATCHNORM", "NeuronView", "neuron_view", "threshold_of", "kernel_of"]

#: Layers with synapses (weights): what a chip's cores hold.
SYNAPTIC = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class NeuronView:
    """What a hardware check needs to know of a neuron layer.

    ``decay`` is a in H = a·V + b·X + c (``None`` for non-LIF neurons; 1 for the leak-free ``IAF``; β of a
    ``CubaLIF``); ``reset`` is ``"zero"`` (hard to 0), ``"value"`` (hard to V_r ≠ 0), ``"subtract"`` (subtract
    V_th) or ``"subtract_other"`` (subtract another amount). ``current_decay`` is α of a neuron with a
    synaptic current (``CubaLIF``), ``flavour`` its order of operations (``"xylo"`` | ``"loihi"``);
    ``max_spikes`` the cap on spikes per step (``None``: none), ``strict`` whether it fires at V > θ.
    """

    kind: str
    decay: float | None
    reset: str | None
    threshold: float | None
    current_decay: float | None = None
    flavour: str | None = None
    max_spikes: int | None = 1
    strict: bool = False


def neuron_view(mod: nn.Module) -> NeuronView:
    """``NeuronView`` of an snndeploy neuron (LIF, IAF, CubaLIF; others: kind and threshold only) or a folded
    ``FoldedLIF`` (read from its ``LIFSpec``)."""
    if isinstance(mod, LIF):
        p = mod.params()
        reset = "subtract" if not p.hard else ("zero" if p.v_reset == 0.0 else "value")
        return NeuronView("lif", 1.0 - 1.0 / p.tau, reset, p.v_threshold)
    if isinstance(mod, IAF):  # also hardware.chips.speck_iaf.SpeckIAF
        p = mod.params()
        return NeuronView("iaf", 1.0, "subtract", p.v_threshold, max_spikes=p.max_spikes)
    if isinstance(mod, CubaLIF):
        p = mod.params()
        return NeuronView("cubalif", p.beta, p.reset, p.v_threshold, p.alpha, p.flavour, p.max_spikes,
                          p.strict)
    spec = getattr(mod, "spec", None)
    if spec is not None and hasattr(spec, "reset_amount"):
        if spec.reset == "hard":  # v_reset / reset_amount may be per-neuron arrays (per-neuron calibration)
            reset = "zero" if bool(np.all(np.asarray(spec.v_reset) == 0.0)) else "value"
        else:
            reset = "subtract" if spec.subtracts_threshold else "subtract_other"
        return NeuronView("lif", float(spec.decay), reset, float(spec.v_threshold))
    return NeuronView(getattr(mod, "neuron_name", type(mod).__name__.lower()), None, None, threshold_of(mod))


def threshold_of(neuron: nn.Module) -> float | None:
    """The firing threshold of a neuron module (every snndeploy neuron's params record has
    ``v_threshold``)."""
    params = neuron.params() if hasattr(neuron, "params") else None
    return float(params.v_threshold) if params is not None and hasattr(params, "v_threshold") else None


def kernel_of(mod: nn.Module, attr: str) -> tuple[int, ...]:
    """A conv/pool attribute (``kernel_size``, ``stride``, ``padding``) as a 2-tuple."""
    v = getattr(mod, attr)
    return tuple(v) if isinstance(v, tuple) else (int(v),) * 2
