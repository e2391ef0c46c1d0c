"""Post-training quantisation to a target's formats, per layer, with an activity-collapse alarm per neuron
layer.

For each weight layer (Linear/Conv, in execution order) with weights W:

    s      = max|W| / qmax                      (``scale = "any"``: SpiNNaker2's 127/max|W|, sinabs, rockpool)
    s      = 2^ceil(log2(max|W| / qmax))        (``scale = "power_of_two"``: Loihi's weight exponent)
    W_int  = clamp(step·round(W / (s·step)), min, max)   →   W' = s·W_int   (on the target's grid)
    b'     = s·round(b / s)                      (bias on the same LSB, not range-limited)

and for the neuron layer it feeds (the next neuron module in execution order), in the same LSB units:

    θ' = s·clamp(t_step·round(θ / (s·t_step)), max(t_min, t_step), t_max)     (integer threshold formats)
    V_r' = s·round(V_r / s)                                                      (hard-reset value)
    τ' = 4096 / round(4096/τ)   (Loihi 12-bit decay)   |   τ' = 2^round(log2 τ), 1 ≤ · ≤ 15   (Xylo bit shift)

The returned model is a float copy that runs exactly the quantised parameters (W', θ', τ'); the chip's
integer states (16/24-bit clipping) are not modelled. A model already on the grid comes back unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InvalidInputError
from ..models.record import neuron_outputs
from ..models.tree import walk as walk_model
from ..neurons import CLIF, IAF, ILIF, KLIF, LIF, CubaLIF
from ..neurons.base import is_neuron
from ..verify.compare import compare_spikes
from .targets import HardwareTarget, get_target
from .views import SYNAPTIC as _SYNAPTIC
from .views import neuron_view

__all__ = [
    "LayerQuant",
    "LayerActivity",
    "QuantizationResult",
    "quantize_model",
    "weight_scale",
    "quantize_tau",
    "quantize_decay",
]

_PARAM_SETTERS: dict[type[nn.Module], Callable[[nn.Module, dict[str, Any]], None]] = {}


def _setter(*classes: type[nn.Module]) -> Callable:
    def deco(fn: Callable[[nn.Module, dict[str, Any]], None]) -> Callable:
        for c in classes:
            _PARAM_SETTERS[c] = fn
        return fn

    return deco


def _decay_as_tau(changes: dict[str, Any]) -> dict[str, Any]:
    """The decay a = 1 − 1/τ of the LIF-family records as their τ."""
    changes = dict(changes)
    if "decay" in changes:
        changes["tau"] = 1.0 / (1.0 - changes.pop("decay"))
    return changes


@_setter(LIF, CLIF, ILIF)
def _set_record(neuron: nn.Module, changes: dict[str, Any]) -> None:
    neuron._params = dataclasses.replace(neuron._params, **_decay_as_tau(changes))  # type: ignore[attr-defined]


@_setter(KLIF)
def _set_klif(neuron: nn.Module, changes: dict[str, Any]) -> None:
    neuron._config.update(_decay_as_tau(changes))  # type: ignore[attr-defined]
    neuron.params()  # validate


@_setter(IAF)
def _set_iaf(neuron: nn.Module, changes: dict[str, Any]) -> None:
    """IAF has no decay (a = 1); its threshold is set, and a floor at −θ (Speck's min_v_mem) follows it."""
    new = {k: v for k, v in changes.items() if k != "decay"}
    p = neuron._params  # type: ignore[attr-defined]
    if "v_threshold" in new and p.v_min is not None and p.v_min == -p.v_threshold:
        new["v_min"] = -new["v_threshold"]
    neuron._params = dataclasses.replace(p, **new)  # type: ignore[attr-defined]


@_setter(CubaLIF)
def _set_cubalif(neuron: nn.Module, changes: dict[str, Any]) -> None:
    """CubaLIF: the membrane decay is β, the current decay α (both set directly, no τ).

    A CubaLIF in chip-integer mode (``lsb`` set, a power of two) whose new threshold is off its state grid
    (the quantiser's per-layer scale is not a power of two) computes in float in the quantised copy: that copy
    models the generic weight/threshold grid, and ``handoff.chip_check`` runs the chip's own integer
    arithmetic."""
    new = dict(changes)
    if "decay" in new:
        new["beta"] = new.pop("decay")
    if "current_decay" in new:
        new["alpha"] = new.pop("current_decay")
    p = neuron._params  # type: ignore[attr-defined]
    theta = new.get("v_threshold", p.v_threshold)
    if p.lsb is not None and not float(theta / p.lsb).is_integer():
        new["lsb"] = None
    neuron._params = dataclasses.replace(p, **new)  # type: ignore[attr-defined]


def _set_spec(neuron: nn.Module, changes: dict[str, Any]) -> None:
    """Folded ``FoldedLIF``: the threshold (and a soft reset by the threshold), V_reset and the decay a → τ =
    k/(k − a)."""
    spec = neuron.spec  # type: ignore[attr-defined]
    new: dict[str, Any] = {}
    if "v_threshold" in changes:
        new["v_threshold"] = changes["v_threshold"]
        if spec.subtracts_threshold:
            new["reset_amount"] = changes["v_threshold"]
    if "v_reset" in changes and spec.reset == "hard":
        new["v_reset"] = changes["v_reset"]
    if "decay" in changes:
        new["tau"] = spec.scale / (spec.scale - changes["decay"])
    neuron.spec = dataclasses.replace(spec, **new)  # type: ignore[attr-defined]


def _set_params(neuron: nn.Module, changes: dict[str, Any]) -> None:
    if hasattr(neuron, "spec") and hasattr(neuron.spec, "reset_amount"):
        _set_spec(neuron, changes)
        return
    for klass in type(neuron).__mro__:
        fn = _PARAM_SETTERS.get(klass)
        if fn is not None:
            fn(neuron, changes)
            return
    raise InvalidInputError(
        f"cannot set parameters of {type(neuron).__name__}; known: "
        f"{', '.join(c.__name__ for c in _PARAM_SETTERS)}"
    )


@dataclass
class LayerQuant:
    """What quantisation did to one weight layer and the neuron layer it feeds."""

    name: str
    scale: float
    int_max: float
    clipped: float
    zeroed: float
    neuron: str | None = None
    threshold: tuple[float, float] | None = None
    tau: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class LayerActivity:
    """Firing of one neuron layer, float vs quantised model, on the same data."""

    name: str
    rate_float: float
    rate_quant: float
    agreement: float
    alarm: str | None
    first_divergence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class QuantizationResult:
    """The quantised copy, the per-layer scales and what changed, and (with data) the activity comparison."""

    model: nn.Module
    target: str
    layers: list[LayerQuant]
    activity: list[LayerActivity] = field(default_factory=list)
    accuracy: tuple[float, float] | None = None

    @property
    def scales(self) -> dict[str, float]:
        return {lq.name: lq.scale for lq in self.layers}

    @property
    def alarms(self) -> list[LayerActivity]:
        return [a for a in self.activity if a.alarm]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "layers": [lq.to_dict() for lq in self.layers],
            "activity": [a.to_dict() for a in self.activity],
            "alarms": [a.name for a in self.alarms],
            "accuracy": {"float": self.accuracy[0], "quantised": self.accuracy[1]} if self.accuracy else None,
        }


def weight_scale(wmax: float, t: HardwareTarget) -> float:
    """The float value of one weight LSB so that ``wmax`` lands on the grid's largest magnitude."""
    if wmax <= 0.0:
        return 1.0
    s = wmax / t.weights.qmax
    if t.weights.scale == "power_of_two":
        s = 2.0 ** math.ceil(math.log2(s))
    return s


def quantize_decay(a: float, t: HardwareTarget) -> float:
    """The decay a = 1 − 1/τ after the target's encoding: 1 − dv/4096 (Loihi, dv = round(4096·(1 − a)) in
    1..4095) or 1 − 2^−dash (Xylo, dash = round(−log2(1 − a)) in 1..15); unchanged for float/leak-free
    formats."""
    if not 0.0 < a < 1.0:
        return a
    if t.decay_format == "fraction_4096":
        dv = min(max(round(4096.0 * (1.0 - a)), 1), 4095)
        return 1.0 - dv / 4096.0
    if t.decay_format == "bitshift":
        dash = min(max(round(-math.log2(1.0 - a)), 1), int(t.decay_max))
        return 1.0 - 2.0**-dash
    return a


def quantize_tau(tau: float, t: HardwareTarget) -> float:
    """τ after the target's decay encoding: 1 / (1 − quantize_decay(1 − 1/τ)); unchanged for float/leak-free
    formats."""
    if t.decay_format not in ("fraction_4096", "bitshift"):
        return tau
    return 1.0 / (1.0 - quantize_decay(1.0 - 1.0 / tau, t))


def _on_grid(x: Tensor, s: float, step: float, lo: float, hi: float) -> Tensor:
    q = torch.round(x / (s * step)) * step if step else x / s
    return torch.clamp(q, lo, hi)


def _quantize_weights(name: str, mod: nn.Module, t: HardwareTarget) -> LayerQuant:
    w = mod.weight.data
    wmax = float(w.abs().max()) if w.numel() else 0.0
    s = weight_scale(wmax, t)
    fmt = t.weights
    rounded = _on_grid(w, s, fmt.step, -math.inf, math.inf)
    q = torch.clamp(rounded, fmt.min, fmt.max)
    clipped = float((rounded != q).float().mean()) if w.numel() else 0.0
    nz = w != 0
    zeroed = float((q[nz] == 0).float().mean()) if bool(nz.any()) else 0.0
    mod.weight.data = (q * s).to(w.dtype)
    if getattr(mod, "bias", None) is not None:
        mod.bias.data = (torch.round(mod.bias.data / s) * s).to(mod.bias.dtype)
    return LayerQuant(name, s, float(q.abs().max()) if q.numel() else 0.0, clipped, zeroed)


def _quantize_neuron(
    name: str, neuron: nn.Module, lq: LayerQuant | None, t: HardwareTarget
) -> LayerQuant | None:
    view = neuron_view(neuron)
    params = neuron.params() if hasattr(neuron, "params") else None
    changes: dict[str, Any] = {}
    if view.decay is not None and t.decay_format in ("fraction_4096", "bitshift"):
        a_q = quantize_decay(view.decay, t)
        if a_q != view.decay:
            changes["decay"] = a_q
        if view.current_decay is not None and quantize_decay(view.current_decay, t) != view.current_decay:
            changes["current_decay"] = quantize_decay(view.current_decay, t)
    theta = view.threshold
    if lq is not None and theta is not None and t.threshold.step:
        f = t.threshold
        k = _on_grid(torch.tensor(theta, dtype=torch.float64), lq.scale, f.step, max(f.min, f.step), f.max)
        changes["v_threshold"] = float(k) * lq.scale
        v_reset = getattr(params, "v_reset", None)
        if v_reset is not None:
            changes["v_reset"] = float(round(v_reset / lq.scale)) * lq.scale
    if changes:
        _set_params(neuron, changes)
    if lq is not None:
        lq.neuron = name
        after = neuron_view(neuron)
        if theta is not None:
            lq.threshold = (theta, after.threshold if after.threshold is not None else theta)
        if view.decay is not None and after.decay is not None and view.decay < 1.0 and after.decay < 1.0:
            lq.tau = (1.0 / (1.0 - view.decay), 1.0 / (1.0 - after.decay))  # (IAF: decay 1, no τ)
    return lq


# : ``(spikes by neuron-layer path, output)`` of one eval forward (kept under its old private name for
# callers).
_spikes = neuron_outputs


def quantize_model(
    model: nn.Module,
    target: str | HardwareTarget,
    data: Tensor | None = None,
    labels: Tensor | None = None,
    saturation: float = 0.99,
) -> QuantizationResult:
    """Quantise a copy of ``model`` to ``target``'s weight, threshold and decay formats (module docstring).

    Args:
        model: the float model (left untouched).
        target: a target name, TOML path or ``HardwareTarget``.
        data: optional input [T, B, *]; with it, each neuron layer's firing rate and spike agreement (float vs
            quantised, exact equality via ``snndeploy.verify.compare.compare_spikes``, with the first
            divergence) are reported, and a layer whose rate drops to 0 (``collapsed``) or reaches
            ``saturation`` (``saturated``) while the float one did not raises an alarm.
        labels: optional [B] class labels; with ``data``, accuracy of both models (argmax of the output summed
            over T).

    Returns:
        ``QuantizationResult`` with the quantised copy and per-layer scales.
    """
    t = get_target(target)
    qmodel = copy.deepcopy(model)
    layers: list[LayerQuant] = []
    current: LayerQuant | None = None
    with torch.no_grad():
        for name, mod in walk_model(qmodel):
            if isinstance(mod, _SYNAPTIC):
                current = _quantize_weights(name, mod, t)
                layers.append(current)
            elif is_neuron(mod):
                _quantize_neuron(name, mod, current, t)
                current = None
    result = QuantizationResult(qmodel, t.name, layers)
    if data is not None:
        fs, fy = _spikes(model, data)
        qs, qy = _spikes(qmodel, data)
        for name, s_f in fs.items():
            s_q = qs[name]
            rf, rq = float(s_f.float().mean()), float(s_q.float().mean())
            alarm = None
            if rq == 0.0 and rf > 0.0:
                alarm = "collapsed"
            elif rq >= saturation > rf:
                alarm = "saturated"
            cmp = compare_spikes(
                s_f, s_q, layer=name
            )  # the verify machinery: exact, first (t, sample, neuron)
            first = cmp.first.to_dict() if cmp.first is not None else None
            result.activity.append(LayerActivity(name, rf, rq, cmp.agreement, alarm, first))
        if labels is not None:

            def acc(y: Tensor) -> float:
                return float((y.sum(0).argmax(-1) == labels).float().mean())

            result.accuracy = (acc(fy), acc(qy))
    return result
