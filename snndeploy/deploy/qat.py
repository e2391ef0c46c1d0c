"""Quantisation-aware training onto a chip's integer grid, rounding exactly as the chip's ``map_model`` does.

``ChipQuantizer(recipe, model, calibration_x)`` installs, on every weight layer (``Linear`` / ``Conv2d`` with
a neuron layer after it), a parametrisation that replaces the weights W in the forward pass by the float
values of the integers the chip mapper would write, with a straight-through gradient (Bengio et al. 2013):

    W_q = W + (Q(W) − W).detach()          (forward: Q(W); backward: ∂W_q/∂W = 1)

and a forward pre-hook on the model that rounds its input to the chip's input events (``encode`` → ``decode``
of the chip's input convention). Q is recomputed from the current weights at every forward, per chip:

- **Loihi 2** (``hardware/chips/loihi2_map.py``): per neuron layer with coefficients (a, b, θ) and input unit
  k_in (2^q for the first layer's fixed-point input, else 1): W_u = b·W/k_in;
  r = min(254/max W_u⁺, 256/max W_u⁻) (mixed signs; 255 for one sign), n = ⌊θ·r − 1/64⌋, s = θ/(n + 1/64),
  w = 2·round(W_u/(2s)) on [−256, 254] (one sign: round(W_u/s) on [0, 255] or [−255, 0]); bias_mant =
  round((b·β + c)/s) on [−4096, 4095], which also bounds r (r ≤ 4095.49/max|β_u|). Q(W) = w·s·k_in/b. The
  chip fires at v > 64·n, i.e. at V ≥ (n + 1/64)·s = θ: no threshold rounding. Lava's own neuron,
  ``CubaLIF(flavour="loihi", lsb=…)`` (the recipe's default, ``loihi2_cuba_grid``): lsb = the power of two
  ≥ 1/(64·r) (``adapt_lsb``), s = 64·lsb, w on the same grids, Q(W) = w·s·k_in.
- **Speck** (``speck_map.py``, ``speck_scale.py``, sinabs' ``discretize.py``): per layer, in float32,
  w = W·(pool rescale·b), s = min(scale(w, 8), scale(bias, 8), scale((−θ, θ), 16)), q = round(w·s),
  θ_q = round(θ·s): the chip fires at Σq·x ≥ θ_q ⟺ Σ (q·θ/θ_q)·x ≥ θ, so Q(W) = q·θ/(θ_q·rescale·b).
- **Xylo** (``xylo_map.py``): per neuron c_j = (32767/8)/θ_j, or 1/lsb for a ``CubaLIF`` in chip-integer mode
  (lowered where a matrix's largest shift 7 cannot hold its weights), one left shift per matrix (W_in, W_rec,
  W_out) = the smallest keeping |w| ≤ 127, w = rint(g·b·W·Δ·c_j / 2^shift) (Δ: the input event's float value,
  W_in only; g the synapse gain), θ_int = rint(θ·c_j): Q(W) = w·2^shift·θ/(g·b·Δ·θ_int).
- **SpiNNaker2** (s2_nir ``scale_weights``): per layer w = round(W·127/max|W|), Q(W) = w·max|W|/127 (the
  threshold is scaled by the same factor: no threshold rounding).

All roundings are to nearest, ties to even, in the mapper's precision and operation order (float64 for Loihi
and Xylo, float32 for Speck), so that ``map_model`` of the trained float weights gives exactly the integers
the last QAT forward used (``tests/test_deploy_qat.py`` checks it against each mapper). ``remove()`` takes the
parametrisations off and leaves the float (master) weights, which is what a checkpoint stores.

What QAT does not emulate: the chips' integer membrane arithmetic, Xylo's synaptic current and multi-spike
hidden neurons, Speck's multi-spike IAF and its lower bound −θ. Those are neuron dynamics: the recipes train
the chip's own neuron (``recipes.py``: ``IAF`` for Speck, ``CubaLIF`` in chip-integer mode for Xylo and
Loihi 2, whose ``lsb`` QAT sets per Loihi layer with ``adapt_lsb``), so the float model computes them itself.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..errors import InvalidParameterError
from ..hardware.chips.base import ChipMappingError
from ..hardware.chips.loihi2 import BIAS_MANT, EXCITATORY, INHIBITORY, MIXED, VTH_MAX
from ..hardware.chips.loihi2_encode import InputEncoding, choose_encoding
from ..hardware.chips.loihi2_map import cuba_vth_scale, grid_weights, neuron_coefficients
from ..hardware.chips.speck_map import IAF_TAU_MIN
from ..hardware.chips.speck_scale import discretization_scale
from ..hardware.chips.xylo import XYLO_CHIPS
from ..hardware.chips.xylo_encode import InputCoding, choose_coding
from ..hardware.chips.xylo_map import shift_and_scale
from ..hardware.views import neuron_view
from ..models.tree import walk
from ..neurons import IAF, LIF, CubaLIF
from ..neurons.base import is_neuron
from .recipes import TargetRecipe

__all__ = [
    "ChipQuantizer",
    "LayerGrid",
    "loihi2_grid",
    "loihi2_cuba_grid",
    "speck_grid",
    "xylo_grids",
    "spinnaker2_grid",
    "input_quantizer",
]

_XYLO_STATE = 32767
_XYLO_HEADROOM = 8.0
_XYLO_MAX_SHIFT = 7


@dataclass
class LayerGrid:
    """One weight layer on the chip grid: integer weights (and bias), the float value of one integer per
    output
    row (``unit``; Q(W) = ints·unit), and the layer's scale record."""

    name: str
    ints: np.ndarray
    unit: np.ndarray  # per output row (broadcast over the row)
    bias_ints: np.ndarray | None = None
    bias_unit: np.ndarray | None = None
    info: dict[str, Any] | None = None

    def weight(self, like: Tensor) -> Tensor:
        shape = (-1,) + (1,) * (self.ints.ndim - 1)
        q = self.ints.astype(np.float64) * np.asarray(self.unit, np.float64).reshape(shape)
        return torch.from_numpy(q).to(like.dtype).to(like.device).reshape(like.shape)

    def bias(self, like: Tensor) -> Tensor:
        q = self.bias_ints.astype(np.float64) * np.asarray(self.bias_unit, np.float64)
        return torch.from_numpy(q).to(like.dtype).to(like.device).reshape(like.shape)


# ------------------------------------------------------------------------------------------------ Loihi 2

_LOIHI_GRID = {MIXED: (254.0, 256.0), EXCITATORY: (255.0, 0.0), INHIBITORY: (0.0, 255.0)}


def loihi2_grid(
    name: str,
    w: np.ndarray,
    bias: np.ndarray | None,
    co: dict[str, Any],
    k_in: float,
    used: np.ndarray | None = None,
) -> LayerGrid:
    """Loihi 2's integers of one layer (module docstring; ``loihi2_map._map_layer``'s arithmetic, float64).

    Args:
        w: the layer's weights (any shape, out channel first) in float64; ``used`` masks the entries that
        appear
            in the unrolled dense matrix (a conv kernel's offsets that only ever meet padding do not).
        bias: per output channel (or ``None``); co: ``neuron_coefficients`` (a, b, c, θ).
    """
    b, c, theta = co["b"], co["c"], co["theta"]
    if not theta > 0.0:
        raise ChipMappingError(f"layer {name!r}: threshold {theta:g} must be > 0 (Loihi's vth is unsigned)")
    w_u = b * w / k_in
    seen = w_u if used is None else w_u[np.broadcast_to(used, w_u.shape)]
    pos, neg = float(max(seen.max(initial=0.0), 0.0)), float(max(-seen.min(initial=0.0), 0.0))
    mode = MIXED if pos > 0 and neg > 0 else (INHIBITORY if neg > 0 else EXCITATORY)
    q_pos, q_neg = _LOIHI_GRID[mode]
    r_w = min(q_pos / pos if pos > 0 else math.inf, q_neg / neg if neg > 0 else math.inf)
    beta_u = None if bias is None and c == 0.0 else b * (bias if bias is not None else 0.0) + c
    b_max = 0.0 if beta_u is None else float(np.abs(beta_u).max(initial=0.0))
    r = min(r_w, (BIAS_MANT[1] + 0.49) / b_max if b_max > 0 else math.inf)
    n = math.floor(theta * r - 1.0 / 64.0) if math.isfinite(r) else VTH_MAX
    if n < 0:
        raise ChipMappingError(
            f"layer {name!r}: threshold {theta:g} is below 1/64 of a weight step; raise it"
        )
    n = min(n, VTH_MAX)
    s = theta / (n + 1.0 / 64.0)
    if mode == MIXED:
        ints = np.clip(2.0 * np.round(w_u / (2.0 * s)), -256, 254)
    else:
        lo, hi = (0, 255) if mode == EXCITATORY else (-255, 0)
        ints = np.clip(np.round(w_u / s), lo, hi)
    unit = np.full(w.shape[0], s * k_in / b)
    grid = LayerGrid(name, ints.astype(np.int64), unit, info={"scale": s, "vth": n, "sign_mode": mode})
    if bias is not None:
        bq = np.clip(np.round(beta_u / s), *BIAS_MANT)
        # β_q = b·B_q + c  →  B_q = (β_q − c)/b: the bias the float model needs for the chip's bias_mant
        grid.bias_ints, grid.bias_unit = bq.astype(np.int64), np.full(bq.shape, s / b)
        grid.info["bias_offset"] = -c / b
    return grid


def adapt_lsb(neuron: CubaLIF, r: float) -> None:
    """Set a chip-integer ``CubaLIF``'s ``lsb`` to the smallest power of two whose weight unit s = 64·lsb
    holds the layer's largest weight on the 8-bit grid (s ≥ 1/r), as the LIF route's scale s = θ/(n + 1/64)
    follows the weights, rounded up to a power of two (at most 2× coarser). Kept when θ/(64·lsb) would not
    be a whole vth in 1 … 131071 (strict threshold only)."""
    p = neuron.params()
    if p.lsb is None or not p.strict or not math.isfinite(r) or r <= 0:
        return
    theta = p.v_threshold
    lsb = 2.0 ** math.ceil(math.log2(1.0 / (64.0 * r)))
    finest = 2.0 ** math.ceil(math.log2(theta / (64.0 * VTH_MAX)))  # vth ≤ 131071
    coarsest = 2.0 ** math.floor(math.log2(theta / 64.0))  # vth ≥ 1
    lsb = min(max(lsb, finest), coarsest)
    vth = theta / (64.0 * lsb)
    if vth.is_integer() and 1 <= vth <= VTH_MAX and lsb != p.lsb:
        neuron._params = dataclasses.replace(p, lsb=lsb)


def loihi2_cuba_grid(name: str, w: np.ndarray, bias: np.ndarray | None, neuron: CubaLIF, k_in: float,
                     used: np.ndarray | None = None, adapt: bool = False) -> LayerGrid:
    """Loihi 2's integers of a layer feeding lava's own neuron, ``CubaLIF(flavour="loihi")``
    (``loihi2_map._map_cuba_layer``): W_u = W/k_in; with ``lsb`` (chip-integer mode) s = 64·lsb, else s from
    the weights' range as for a LIF; w on the sign mode's 8-bit grid; Q(W) = w·s·k_in. ``adapt``: first set
    the neuron's ``lsb`` from the weights (``adapt_lsb``). No bias (it would enter lava's synaptic current):
    ``ChipMappingError``."""
    if bias is not None and np.any(bias != 0):
        raise ChipMappingError(
            f"layer {name!r}: the weight layer before a CubaLIF has a bias, which would enter the synaptic "
            "current (lava's Dense has none): build it with bias=False"
        )
    w_u = w / k_in
    seen = w_u if used is None else w_u[np.broadcast_to(used, w_u.shape)]
    pos, neg = float(max(seen.max(initial=0.0), 0.0)), float(max(-seen.min(initial=0.0), 0.0))
    mode = MIXED if pos > 0 and neg > 0 else (INHIBITORY if neg > 0 else EXCITATORY)
    q_pos, q_neg = _LOIHI_GRID[mode]
    r = min(q_pos / pos if pos > 0 else math.inf, q_neg / neg if neg > 0 else math.inf)
    if adapt:
        adapt_lsb(neuron, r)
    vth, step = cuba_vth_scale(name, neuron.params(), r, [])
    ints = grid_weights(w_u, step, mode)
    return LayerGrid(name, ints, np.full(w.shape[0], step * k_in),
                     info={"scale": step, "vth": vth, "sign_mode": mode})


def _conv_used(conv: nn.Conv2d, in_hw: tuple[int, int]) -> np.ndarray:
    """[1, 1, kh, kw] mask of the kernel offsets that meet at least one input pixel (not only padding)."""
    masks = []
    for axis in (0, 1):
        k, s, p, d = conv.kernel_size[axis], conv.stride[axis], conv.padding[axis], conv.dilation[axis]
        n_out = (in_hw[axis] + 2 * p - d * (k - 1) - 1) // s + 1
        masks.append(
            np.array([any(0 <= o * s - p + j * d < in_hw[axis] for o in range(n_out)) for j in range(k)])
        )
    return (masks[0][:, None] & masks[1][None, :])[None, None]


# ------------------------------------------------------------------------------------------------ Speck


def speck_grid(
    name: str,
    weight: Tensor,
    bias: Tensor | None,
    theta: float,
    min_v_mem: float,
    gain: float = 1.0,
    rescale: float = 1.0,
) -> LayerGrid:
    """Speck's integers of one layer (``speck_map._quantise``: float32, sinabs' rule)."""
    f32 = torch.float32
    w = weight.detach().to("cpu", f32) * torch.tensor(rescale * gain, dtype=f32)
    b = None if bias is None else bias.detach().to("cpu", f32) * torch.tensor(gain, dtype=f32)
    s = discretization_scale(w, b, theta, min_v_mem)
    if not math.isfinite(s):
        raise ChipMappingError(f"layer {name!r}: no finite scale (all weights and thresholds are 0)")
    st = torch.tensor(s, dtype=f32)
    qw = torch.round(w * st).to(torch.int64).numpy()
    qth = int(torch.round(torch.tensor([theta], dtype=f32) * st)[0])
    if qth < 1:
        raise ChipMappingError(f"layer {name!r}: threshold {theta:g} × scale {s:.6g} rounds to {qth}")
    unit = np.full(weight.shape[0], theta / (qth * rescale * gain))
    grid = LayerGrid(name, qw, unit, info={"scale": s, "threshold": qth})
    if b is not None:
        grid.bias_ints = torch.round(b * st).to(torch.int64).numpy()
        grid.bias_unit = np.full(grid.bias_ints.shape, theta / (qth * gain))
    return grid


# ------------------------------------------------------------------------------------------------ Xylo


def _xylo_shifts(mats: list[np.ndarray], c: np.ndarray) -> tuple[list[int], np.ndarray]:
    """``xylo_map.shift_and_scale`` at the mapper's largest shift (its notes are the mapper's to report)."""
    return shift_and_scale("qat", mats, c, _XYLO_MAX_SHIFT, [])


def xylo_grids(stages: list[tuple[str, Tensor, float, float, float]], coding: InputCoding) -> list[LayerGrid]:
    """Xylo's integers of an MLP whose last stage has output neurons (``xylo_map._build``, spiking readout).

    Args:
        stages: (name, Linear weight ``[out, in]``, weight gain, θ, chip units per float unit c) per stage, in
            order; the gain is g·b for a LIF (synapse gain × input gain) and 1 for a ``CubaLIF`` (Xylo's own
            neuron); c = (32767/8)/θ, or 1/lsb for a ``CubaLIF`` with ``lsb`` (chip-integer mode).
        coding: the input convention (``xylo_encode.InputCoding``): W_in rows per channel, Δ.
    """
    hidden, (out_name, w_out_t, out_gain, out_theta, out_c) = stages[:-1], stages[-1]
    sizes = [int(w.shape[0]) for _, w, _, _, _ in hidden]
    offs = np.cumsum([0, *sizes])
    n_hid, n_in = int(offs[-1]), coding.channels
    f_in, f_rec = np.zeros((n_in, n_hid)), np.zeros((n_hid, n_hid))
    theta, c_hid = np.zeros(n_hid), np.zeros(n_hid)
    for k, (_, w_t, gain, th, c) in enumerate(hidden):
        w = w_t.detach().double().numpy()
        cols = slice(offs[k], offs[k + 1])
        if k == 0:
            f_in[:, cols] = coding.input_rows(gain * w.T)
        else:
            f_rec[offs[k - 1] : offs[k], cols] = gain * w.T
        theta[cols] = th
        c_hid[cols] = c
    (s_in, s_rec), c_hid = _xylo_shifts([f_in, f_rec], c_hid)
    w_out = w_out_t.detach().double().numpy().T
    n_out = w_out.shape[1]
    f_out = np.zeros((n_hid, n_out))
    f_out[offs[-2] :] = out_gain * w_out
    c_out = np.full(n_out, out_c)
    (s_out,), c_out = _xylo_shifts([f_out], c_out)
    q_in = np.rint(f_in * c_hid / 2.0**s_in)
    q_rec = np.rint(f_rec * c_hid / 2.0**s_rec)
    q_out = np.rint(f_out * c_out / 2.0**s_out)
    th_hid = np.rint(theta * c_hid)
    th_out = np.rint(out_theta * c_out)
    grids = []
    step = 2 if coding.mode == "signed" else 1
    for k, (name, _, gain, _, _) in enumerate(hidden):
        cols = slice(offs[k], offs[k + 1])
        if k == 0:
            ints, sh, delta = q_in[0::step, cols].T, s_in, coding.scale
        else:
            ints, sh, delta = q_rec[offs[k - 1] : offs[k], cols].T, s_rec, 1.0
        unit = 2.0**sh * theta[cols] / (gain * delta * th_hid[cols])
        grids.append(
            LayerGrid(
                name,
                ints.astype(np.int64),
                unit,
                info={"shift": sh, "threshold": th_hid[cols].astype(np.int64)},
            )
        )
    unit = 2.0**s_out * out_theta / (out_gain * th_out)
    grids.append(
        LayerGrid(
            out_name,
            q_out[offs[-2] :].T.astype(np.int64),
            unit,
            info={"shift": s_out, "threshold": th_out.astype(np.int64)},
        )
    )
    return grids


# ------------------------------------------------------------------------------------------------ SpiNNaker2


def spinnaker2_grid(name: str, weight: Tensor) -> LayerGrid:
    """int8 in [−127, 127] with w_scale = 127/max|W| per population (s2_nir ``scale_weights=True``)."""
    w = weight.detach().double().numpy()
    top = float(np.abs(w).max())
    if top == 0.0:
        raise ChipMappingError(f"layer {name!r}: all weights are 0")
    return LayerGrid(
        name,
        np.rint(w * (127.0 / top)).astype(np.int64),
        np.full(w.shape[0], top / 127.0),
        info={"w_scale": 127.0 / top},
    )


# ------------------------------------------------------------------------------------------------ inputs


def input_quantizer(recipe: TargetRecipe, calibration_x: Tensor) -> tuple[Callable[[Tensor], Tensor], dict]:
    """The chip's input convention for ``calibration_x`` ``[T, N, *]``: ``(x ↦ the float input the chip's
    events
    stand for, its record)``; the identity for ``float`` and ``events`` inputs (events are checked
    elsewhere)."""
    shape = tuple(calibration_x.shape[2:])
    if recipe.input_encoding == "fixed":
        enc = choose_encoding(calibration_x, None, 8, shape)
        return (lambda x: enc.decode(enc.encode(x)).to(x.device)), enc.to_dict() | {"kind": "loihi2"}
    if recipe.input_encoding == "xylo":
        chip = XYLO_CHIPS[recipe.target]
        coding = choose_coding(
            calibration_x.detach().double().numpy(), "auto", math.prod(shape), chip.max_inputs, 0, []
        )
        return (lambda x: coding.decode(coding.encode(x)).to(x.device)), {
            "kind": "xylo",
            "mode": coding.mode,
            "scale": coding.scale,
            "channels": coding.channels,
        }
    return (lambda x: x), {"kind": recipe.input_encoding}


# ------------------------------------------------------------------------------------------------ installing


class _Grid(nn.Module):
    """The parametrisation of one weight (or bias): W + (Q − W).detach() with Q set by ``ChipQuantizer``."""

    def __init__(self) -> None:
        super().__init__()
        self.q: Tensor | None = None

    def forward(self, w: Tensor) -> Tensor:
        return w if self.q is None else w + (self.q - w).detach()


def _stages(model: nn.Module, host_readout: bool = False) -> list[tuple[str, nn.Module, str, nn.Module]]:
    """(weight name, weight layer, neuron name, neuron) per weight layer followed by a neuron layer; with
    ``host_readout`` a weight layer after the last neuron layer stays off the grid (it runs on the host)."""
    out, pending = [], None
    for name, mod in walk(model):
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            if pending is not None:
                raise InvalidParameterError(f"layer {name!r}: two weight layers in a row ({pending[0]!r})")
            pending = (name, mod)
        elif is_neuron(mod):
            if pending is None:
                raise InvalidParameterError(
                    f"layer {name!r}: a neuron layer without a weight layer before it"
                )
            out.append((*pending, name, mod))
            pending = None
    if pending is not None and not host_readout:
        raise InvalidParameterError(
            f"layer {pending[0]!r}: the last weight layer has no neuron after it, and the "
            "target reads spikes: add output neurons"
        )
    return out


class ChipQuantizer:
    """Fake quantisation of ``model`` onto ``recipe``'s chip grid (module docstring); use as a context manager
    or call ``remove()``. ``calibration_x`` ``[T, N, *]`` fixes the input convention (the same data the chip
    mapper
    must be given)."""

    def __init__(self, recipe: TargetRecipe, model: nn.Module, calibration_x: Tensor, *, inputs: bool = True):
        self.recipe, self.model = recipe, model
        self.stages = _stages(model, recipe.readout_on_host)
        self.quantize_input, self.input_record = input_quantizer(recipe, calibration_x)
        self.k_in = 1.0
        if recipe.input_encoding == "fixed":
            self.k_in = float(self.input_record["scale"])
        self.coding = None
        if recipe.input_encoding == "xylo":
            rec = self.input_record
            shape = tuple(calibration_x.shape[2:])
            self.coding = InputCoding(rec["mode"], rec["scale"], shape, 0)
        self._shapes = self._conv_inputs(calibration_x)
        self._params: list[tuple[nn.Module, str, _Grid]] = []
        for _, mod, _, _ in self.stages:
            for attr in ("weight", "bias"):
                if getattr(mod, attr, None) is not None:
                    g = _Grid()
                    parametrize.register_parametrization(mod, attr, g)
                    self._params.append((mod, attr, g))
        self._hooks = [model.register_forward_pre_hook(self._pre_forward)]
        self._inputs = inputs
        self.grids: list[LayerGrid] = []

    def __enter__(self) -> ChipQuantizer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def _conv_inputs(self, x: Tensor) -> dict[int, tuple[int, int]]:
        convs = [m for _, m, _, _ in self.stages if isinstance(m, nn.Conv2d)]
        if not convs:
            return {}
        found: dict[int, tuple[int, int]] = {}
        hooks = [
            m.register_forward_hook(lambda mod, a, o: found.__setitem__(id(mod), tuple(a[0].shape[-2:])))
            for m in convs
        ]
        was_training = self.model.training
        try:
            with torch.no_grad():
                self.model.eval()(x[:1, :1])
        finally:
            for h in hooks:
                h.remove()
            self.model.train(was_training)
        return found

    @staticmethod
    def _raw(mod: nn.Module, attr: str) -> Tensor | None:
        if parametrize.is_parametrized(mod, attr):
            return getattr(mod.parametrizations, attr).original
        return getattr(mod, attr, None)

    def compute(self) -> list[LayerGrid]:
        """The grid of every weight layer for the current (master) weights."""
        chip = self.recipe.target
        grids = []
        if chip.startswith("xylo"):
            g = 2.0 if self.recipe.map_kwargs.get("synapse") == "instant" else 1.0
            specs = []
            for wname, mod, nname, neuron in self.stages:
                if not isinstance(mod, nn.Linear):
                    raise InvalidParameterError(f"layer {wname!r}: Xylo runs dense layers only")
                specs.append((wname, self._raw(mod, "weight"), *_xylo_neuron(nname, neuron, g)))
            return xylo_grids(specs, self.coding)
        for i, (wname, mod, nname, neuron) in enumerate(self.stages):
            w, b = self._raw(mod, "weight"), self._raw(mod, "bias")
            if chip == "loihi2":
                used = _conv_used(mod, self._shapes[id(mod)]) if isinstance(mod, nn.Conv2d) else None
                w64 = w.detach().double().numpy()
                b64 = None if b is None else b.detach().double().numpy()
                k_in = self.k_in if i == 0 else 1.0
                if isinstance(neuron, CubaLIF):  # lava's own neuron: its lsb follows the weights
                    grids.append(loihi2_cuba_grid(wname, w64, b64, neuron, k_in, used, adapt=True))
                else:
                    grids.append(loihi2_grid(wname, w64, b64, neuron_coefficients(nname, neuron), k_in, used))
            elif chip == "speck":
                theta, gain, floor = _speck_neuron(nname, neuron)
                grids.append(speck_grid(wname, w, b, theta, floor, gain))
            elif chip == "spinnaker2":
                grids.append(spinnaker2_grid(wname, w))
            else:
                raise InvalidParameterError(f"no QAT grid for target {chip!r}")
        return grids

    def _pre_forward(self, _mod: nn.Module, args: tuple) -> tuple | None:
        self.grids = self.compute()
        by_name = {g.name: g for g in self.grids}
        for wname, mod, _, _ in self.stages:
            g = by_name[wname]
            for m, attr, grid in self._params:
                if m is mod:
                    raw = self._raw(mod, attr)
                    grid.q = g.weight(raw) if attr == "weight" else _bias_q(g, raw)
        if self._inputs and args:
            return (self.quantize_input(args[0]), *args[1:])
        return None

    @torch.no_grad()
    def snap(self, max_iter: int = 16) -> list[LayerGrid]:
        """Replace the master weights by their grid values Q(W), repeated until Q(W) = W: a fixed point, so
        that the chip mapper, run on the stored float weights, finds the same scales and integers and the
        float model computes exactly with the chip's weights. Speck, Xylo and SpiNNaker2 reach it in one step
        (the largest weight sits on the grid's edge); Loihi can take a few (its scale s = θ/(n + 1/64) moves
        with n until the
        largest weight lands on ±254/256). Returns the final grids."""
        last: list[tuple] | None = None
        for _ in range(max_iter):
            grids = self.compute()
            key = [(g.name, g.ints.tobytes(), g.unit.tobytes()) for g in grids]
            for g, (_, mod, _, _) in zip(grids, self.stages, strict=True):
                w = self._raw(mod, "weight")
                w.copy_(g.weight(w))
                b = self._raw(mod, "bias")
                if b is not None:
                    b.copy_(_bias_q(g, b))
            if key == last:
                return grids
            last = key
        return self.compute()

    def remove(self) -> None:
        """Take the parametrisations and hooks off; the layers keep their float (master) weights."""
        for h in self._hooks:
            h.remove()
        self._hooks = []
        for mod, attr, _ in self._params:
            if parametrize.is_parametrized(mod, attr):
                parametrize.remove_parametrizations(mod, attr, leave_parametrized=False)
        self._params = []


def _bias_q(g: LayerGrid, raw: Tensor) -> Tensor:
    if g.bias_ints is None:
        return raw
    q = g.bias(raw)
    offset = (g.info or {}).get("bias_offset", 0.0)
    return q + offset if offset else q


def _xylo_neuron(name: str, neuron: nn.Module, g: float) -> tuple[float, float, float]:
    """(weight gain, θ, c) of a Xylo layer (``xylo_map._stage_neuron``): a ``CubaLIF`` is the chip's neuron
    (gain 1; c = 1/lsb in chip-integer mode); a LIF (or folded ``FoldedLIF``) is approximated with the fastest
    synapse
    (gain g·b); otherwise c = (32767/8)/θ (θ about 4096 chip units)."""
    from exporters.fold.rules import fold_lif
    from exporters.lifspec import LIFSpec

    if isinstance(neuron, CubaLIF):
        p = neuron.params()
        c = 1.0 / p.lsb if p.lsb is not None else (_XYLO_STATE / _XYLO_HEADROOM) / p.v_threshold
        return 1.0, float(p.v_threshold), c
    spec = fold_lif(neuron, name, None)[0].spec if isinstance(neuron, LIF) else getattr(neuron, "spec", None)
    if not isinstance(spec, LIFSpec):
        raise InvalidParameterError(f"layer {name!r}: {type(neuron).__name__} has no Xylo form")
    return g * spec.input_gain, float(spec.v_threshold), (_XYLO_STATE / _XYLO_HEADROOM) / spec.v_threshold


def _speck_neuron(name: str, neuron: nn.Module) -> tuple[float, float, float]:
    """(θ, input gain, V_min) of a neuron mapped as Speck's IAF (``speck_map._neuron_params``; an IAF without
    ``v_min`` scales with −θ, as the mapper does)."""
    if isinstance(neuron, IAF):
        p = neuron.params()
        return float(p.v_threshold), 1.0, float(-p.v_threshold if p.v_min is None else p.v_min)
    p = neuron.params() if hasattr(neuron, "params") else None
    view = neuron_view(neuron)
    if view.kind != "lif" or view.decay is None or view.threshold is None:
        raise InvalidParameterError(f"layer {name!r}: a {view.kind} neuron has no Speck grid")
    if view.decay < 1.0 and 1.0 / (1.0 - view.decay) < IAF_TAU_MIN:
        raise InvalidParameterError(
            f"layer {name!r}: leaky neuron (tau < {IAF_TAU_MIN:g}) cannot run on Speck"
        )
    spec = getattr(neuron, "spec", None)
    gain = (
        float(spec.input_gain)
        if spec is not None
        else (1.0 / p.tau if getattr(p, "decay_input", False) else 1.0)
    )
    return float(view.threshold), gain, -float(view.threshold)


_ = InputEncoding  # re-exported type of the Loihi input record
