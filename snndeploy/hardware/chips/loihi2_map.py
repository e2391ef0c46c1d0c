"""Map a float LIF-family model onto Loihi 2's integer parameters (``map_model``), layer by layer.

Accepted models: ``snndeploy.models.tree.walk`` units in execution order, where every neuron layer is a folded
``FoldedLIF`` (``exporters.fold``; H = a·V + b·X + c) or an unfolded ``snndeploy.neurons.LIF``
(a = 1 − 1/τ, b = 1/τ with ``decay_input`` else 1, c = 0), and the stateless layers between two neuron layers
are affine (``Linear``, ``Conv1d``/``Conv2d``, ``AvgPool1d``/``AvgPool2d``, ``Flatten``, ``Unflatten``,
``Dropout`` in eval, ``Identity``). Each such segment is unrolled, in float64, into one dense matrix W and
bias β (W = f(I) − f(0), β = f(0)): one lava Dense per neuron layer; no segment means W = I. Layers after the
last neuron layer are the host readout.

Per neuron layer, with the input unit k_in (input steps: x = x_int / k_in; spikes: k_in = 1):

    W_u = b·W / k_in,   β_u = b·β + c                         (float; per integer input unit)
    sign mode of W_u:   MIXED: w ∈ 2ℤ ∩ [−256, 254];  EXCITATORY: ℤ ∩ [0, 255];  INHIBITORY: ℤ ∩ [−255, 0]
    n   = floor(θ·r − 1/64),  r = min(q₊/max W_u⁺, q₋/max W_u⁻)   (q = the grid's largest magnitude per sign)
    s   = θ / (n + 1/64)                                           (the float value of one Dense output unit)
    w   = round(W_u / s) on the grid (MIXED: 2·round(W_u/(2s)));   weight_exp = 0, num_weight_bits = 8
    vth = n:   the chip fires at v > 64·n ⟺ v ≥ 64n + 1 ⟺ V ≥ (n + 1/64)·s = θ   (v counts s/64: exact ≥)
    dv  = round(4096·(1 − a)) in [0, 4095],  du = 4095 (no current state: u = a << 6)
    bias_mant = round(β_u / s) in [−4096, 4095],  bias_exp = 6 (netx's fixed exponent: one weight unit)

Rounding is to nearest (ties to even, numpy). The chip resets v to 0: a hard reset to 0 maps exactly; a soft
reset or another V_reset raises ``ChipMappingError`` unless ``approximate_reset=True`` (then a warning note).

``snndeploy.neurons.CubaLIF`` (flavour ``"loihi"``, reset ``"zero"``) is lava's CUBA LIF itself (I ← α·I + X,
V ← β·V + I + b, spike at V > θ, V ← 0, I kept):

    du  = 4095 − round(4096·α),   dv = round(4096·(1 − β))          (exact when α, β are multiples of 1/4096)
    s   = 64·lsb                                    (``lsb`` set: one Dense output unit = 64 state units)
    s   = θ/n, n = floor(θ·r) (strict) | θ/(n + 1/64), n = floor(θ·r − 1/64) (≥)     (``lsb=None``)
    vth = θ/s (strict) or (θ/lsb − 1)/64 (≥: v > 64·vth ⟺ v ≥ 64·vth + 1), rounded with a warning if not whole
    w   = W/(s·k_in) on the sign mode's grid;   bias_mant = b/s, bias_exp = 6

With ``lsb`` and the parameters on that grid (W = w·64·lsb, w on the sign mode's grid, θ = 64·vth·lsb, b =
m·64·lsb, α, β multiples of 1/4096) nothing is rounded and the float spikes equal the chip's
(``tests/test_neurons_cubalif.py``). The Linear before a CubaLIF must have no bias (it would enter the
current; lava's Dense has none): ``ChipMappingError``. ``lsb=None`` (float decays where the chip truncates) is
a warning. ``ChipMappingError`` also names a threshold ≤ 0, a threshold below one grid step (weights would
saturate), a bias beyond 13 bits and unsupported layers; every lossy rounding (weights, bias, decay, a capped
threshold) is a ``MappingNote`` warning with its size. Inputs (``Loihi2Mapping.encode``): see
``loihi2_encode``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from exporters.lifspec import format_value

from ...neurons import LIF, CubaLIF
from ...neurons.cubalif import CubaLIFParams
from .base import ChipMapping, ChipMappingError, MappingNote
from .loihi2 import BIAS_MANT, EXCITATORY, INHIBITORY, MIXED, VTH_MAX, Loihi2Layer, Loihi2Network
from .loihi2_encode import InputEncoding, choose_encoding
from .loihi2_unroll import probe_input, split_segments, unroll

__all__ = [
    "Loihi2Mapping", "LayerScale", "map_model", "neuron_coefficients", "grid_weights", "cuba_vth_scale",
]

_GRID = {MIXED: (254.0, 256.0), EXCITATORY: (255.0, 0.0), INHIBITORY: (0.0, 255.0)}


@dataclass(frozen=True)
class LayerScale:
    """How one neuron layer was mapped: the float value ``scale`` of one Dense output unit, the decays."""

    name: str
    weights_from: tuple[str, ...]
    scale: float
    sign_mode: int
    decay: float
    decay_q: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights_from": list(self.weights_from),
            "scale": self.scale,
            "sign_mode": self.sign_mode,
            "decay": self.decay,
            "decay_q": self.decay_q,
        }


@dataclass(frozen=True)
class Loihi2Mapping(ChipMapping):
    """``ChipMapping`` plus what Loihi 2 needs to compare with the float model.

    ``encoding`` turns model inputs into integer input events and back (``decode``: the float input the model
    sees for the same events); ``layers`` the per-layer scales; ``neuron_names`` the model's neuron paths in
    chip order; ``readout`` the host-side affine readout ``(W [C, N_last], b [C])`` of layers after the last
    neuron layer.
    """

    encoding: InputEncoding | None = None
    layers: tuple[LayerScale, ...] = ()
    neuron_names: tuple[str, ...] = ()
    readout: tuple[np.ndarray, np.ndarray] | None = None

    def decode(self, x_int: np.ndarray) -> Tensor:
        return self.encoding.decode(x_int)


def neuron_coefficients(name: str, mod: nn.Module) -> dict[str, Any]:
    """(a, b, c, θ, reset) of a ``FoldedLIF`` (its ``LIFSpec``) or a ``LIF``; else ``ChipMappingError``."""
    spec = getattr(mod, "spec", None)
    if spec is not None and hasattr(spec, "reset_amount"):
        # v_reset / reset_amount may be per-neuron arrays (per-neuron fold calibration):
        # only "all 0" is Loihi's
        zero = bool(np.all(np.asarray(spec.v_reset) == 0.0))
        reset = ("zero" if zero else "value") if spec.reset == "hard" else "subtract"
        return {
            "a": float(spec.decay),
            "b": float(spec.input_gain),
            "c": float(spec.leak),
            "theta": float(spec.v_threshold),
            "reset": reset,
            "v_reset": 0.0 if zero else format_value(spec.v_reset, "g"),
        }
    if isinstance(mod, LIF):
        p = mod.params()
        v_r = 0.0 if p.v_reset is None else float(p.v_reset)
        reset = "subtract" if p.v_reset is None else ("zero" if v_r == 0.0 else "value")
        return {
            "a": 1.0 - 1.0 / p.tau,
            "b": 1.0 / p.tau if p.decay_input else 1.0,
            "c": v_r / p.tau if p.v_reset is not None else 0.0,
            "theta": float(p.v_threshold),
            "reset": reset,
            "v_reset": v_r,
        }
    kind = type(mod).__name__
    raise ChipMappingError(
        f"layer {name!r}: {kind} is not a LIF layer; fold the model first "
        "(exporters.fold turns CLIF/KLIF/ILIF into FoldedLIF) or train with LIF"
    )


def grid_weights(w_u: np.ndarray, s: float, mode: int) -> np.ndarray:
    if mode == MIXED:
        return np.clip(2.0 * np.round(w_u / (2.0 * s)), -256, 254).astype(np.int64)
    lo, hi = (0, 255) if mode == EXCITATORY else (-255, 0)
    return np.clip(np.round(w_u / s), lo, hi).astype(np.int64)


def _map_layer(
    name: str, w: np.ndarray, beta: np.ndarray, k_in: float, co: dict[str, Any], notes: list[MappingNote]
) -> tuple[Loihi2Layer, float, int, float]:
    a, b, c, theta = co["a"], co["b"], co["c"], co["theta"]
    if not theta > 0.0:
        raise ChipMappingError(f"layer {name!r}: threshold {theta:g} must be > 0 (Loihi's vth is unsigned)")
    w_u = b * w / k_in
    beta_u = b * beta + c
    pos, neg = float(max(w_u.max(initial=0.0), 0.0)), float(max(-w_u.min(initial=0.0), 0.0))
    mode = MIXED if pos > 0 and neg > 0 else (INHIBITORY if neg > 0 else EXCITATORY)
    q_pos, q_neg = _GRID[mode]
    r_w = min(q_pos / pos if pos > 0 else math.inf, q_neg / neg if neg > 0 else math.inf)
    b_max = float(np.abs(beta_u).max(initial=0.0))
    r_b = (BIAS_MANT[1] + 0.49) / b_max if b_max > 0 else math.inf
    r = min(r_w, r_b)
    if r_b < r_w:
        notes.append(
            MappingNote(
                name,
                "bias",
                f"bias {b_max:g} needs a coarser step than the weights: the largest "
                f"weight uses {r_b / r_w:.1%} of the 8-bit grid (13-bit bias_mant, bias_exp = 6)",
            )
        )
    n = math.floor(theta * r - 1.0 / 64.0) if math.isfinite(r) else VTH_MAX
    if n < 0:
        raise ChipMappingError(
            f"layer {name!r}: threshold {theta:g} is {theta * r:.3g} weight steps; the largest weight "
            f"({max(pos, neg) * k_in:g} per input unit) would exceed the 8-bit weight range (limit: "
            f"threshold >= "
            f"{(1 / 64) / r:.3g} for these weights); raise the threshold relative to the weights"
        )
    if n > VTH_MAX:
        notes.append(
            MappingNote(
                name,
                "vth",
                f"threshold {theta:g} needs {theta * r:.6g} weight steps > "
                f"{VTH_MAX} (17-bit vth): weights use {VTH_MAX / (theta * r):.3g} of the grid",
            )
        )
        n = VTH_MAX
    s = theta / (n + 1.0 / 64.0)
    w_int = grid_weights(w_u, s, mode)
    err = np.abs(w_int * s - w_u)
    if w_u.size and err.max() > 1e-9 * max(pos, neg, 1e-300):
        lost = float(np.mean(w_int[w_u != 0] == 0)) if np.any(w_u != 0) else 0.0
        notes.append(
            MappingNote(
                name,
                "weights",
                f"weights rounded to the {mode_name(mode)} 8-bit grid: max error "
                f"{err.max() / s:.3g} steps of {s:.4g} ({err.max() / theta:.2%} of the threshold); "
                f"{lost:.1%} of the non-zero weights became 0",
            )
        )
    bias_q = np.clip(np.round(beta_u / s), *BIAS_MANT)  # within range by the choice of r (clip: float safety)
    if np.any(np.abs(bias_q * s - beta_u) > 1e-9 * theta):
        notes.append(
            MappingNote(
                name,
                "bias",
                f"bias rounded to whole weight steps of {s:.4g}: max error "
                f"{np.abs(bias_q * s - beta_u).max() / theta:.2%} of the threshold per step",
            )
        )
    if not 0.0 < a < 1.0 + 1e-12:
        raise ChipMappingError(
            f"layer {name!r}: decay a = {a:g} is not in (0, 1]; Loihi's voltage decay is "
            "1 - dv/4096 with dv in [0, 4095]"
        )
    dv = min(max(round(4096.0 * (1.0 - a)), 0), 4095)
    a_q = 1.0 - dv / 4096.0
    if abs(a_q - a) > 1e-12:
        tau = 1.0 / (1.0 - a) if a < 1.0 else math.inf
        notes.append(
            MappingNote(
                name,
                "dv",
                f"decay a = {a:.6g} (tau = {tau:.6g} steps) becomes dv = {dv}: a = "
                f"{a_q:.6g} (tau = {4096 / dv if dv else math.inf:.6g}); limit: 12-bit dv",
            )
        )
    layer = Loihi2Layer(name, w_int, vth=n, du=4095, dv=dv, bias_mant=bias_q.astype(np.int64), bias_exp=6)
    return layer, s, mode, a_q


def cuba_vth_scale(name: str, p: CubaLIFParams, r: float, notes: list[MappingNote]) -> tuple[int, float]:
    """(vth, s) of a CubaLIF layer (module docstring): from ``lsb``, or from the weights' range ``r``."""
    theta = p.v_threshold
    if p.lsb is not None:
        s = 64.0 * p.lsb
        units = theta / p.lsb if p.strict else theta / p.lsb - 1.0  # fires at v > 64·vth
        vth = units / 64.0
    else:
        if not math.isfinite(r):  # no weights: any step will do
            n = VTH_MAX
        else:
            n = math.floor(theta * r) if p.strict else math.floor(theta * r - 1.0 / 64.0)
        if n < (1 if p.strict else 0):
            raise ChipMappingError(
                f"layer {name!r}: threshold {theta:g} is {theta * r:.3g} weight steps; the largest weight "
                "would exceed the 8-bit weight range; raise the threshold relative to the weights"
            )
        n = min(n, VTH_MAX)
        s = theta / n if p.strict else theta / (n + 1.0 / 64.0)
        vth = float(n)
    q = round(vth)
    if q != vth or not 0 <= q <= VTH_MAX:
        q = min(max(q, 0), VTH_MAX)
        notes.append(MappingNote(name, "vth", f"threshold {theta:g} is {vth:.6g} threshold units of "
                                 f"{64 * s:.4g}; vth = {q} (17-bit, fires at v > 64·vth)"))
    return q, s


def _map_cuba_layer(name: str, w: np.ndarray, beta: np.ndarray, k_in: float, p: CubaLIFParams,
                    notes: list[MappingNote]) -> tuple[Loihi2Layer, float, int, float]:
    """One CubaLIF layer onto lava's Dense + CUBA LIF (module docstring)."""
    if p.flavour != "loihi" or p.reset != "zero":
        raise ChipMappingError(
            f"layer {name!r}: CubaLIF flavour {p.flavour!r} with reset {p.reset!r} is not Loihi's neuron "
            "(the input is added after the current decays; v -> 0 on a spike): use CubaLIF(flavour='loihi')"
        )
    if np.any(beta != 0):
        raise ChipMappingError(
            f"layer {name!r}: the weight layer before this CubaLIF has a bias, which would enter the "
            "synaptic current (lava's Dense has none): train with bias=False and use CubaLIF(bias=...)"
        )
    if not p.strict:
        notes.append(MappingNote(name, "threshold", "strict=False: mapped as v >= θ (v > 64·vth with θ one "
                                 "state unit above 64·vth)", "info"))
    if p.lsb is None:
        notes.append(MappingNote(name, "lsb", "CubaLIF without lsb: its decays are float multiplies where "
                                 "lava truncates them in integers (set lsb for chip-integer arithmetic)"))
    w_u = w / k_in
    pos, neg = float(max(w_u.max(initial=0.0), 0.0)), float(max(-w_u.min(initial=0.0), 0.0))
    mode = MIXED if pos > 0 and neg > 0 else (INHIBITORY if neg > 0 else EXCITATORY)
    q_pos, q_neg = _GRID[mode]
    r = min(q_pos / pos if pos > 0 else math.inf, q_neg / neg if neg > 0 else math.inf)
    vth, s = cuba_vth_scale(name, p, r, notes)
    w_int = grid_weights(w_u, s, mode)
    err = np.abs(w_int * s - w_u)
    if w_u.size and err.max() > 0:
        notes.append(MappingNote(name, "weights", f"weights rounded to the {mode_name(mode)} 8-bit grid: "
                                 f"max error {err.max() / s:.3g} steps of {s:.4g}"))
    bias_q = round(p.bias / s)
    if bias_q * s != p.bias or not BIAS_MANT[0] <= bias_q <= BIAS_MANT[1]:
        bias_q = min(max(bias_q, BIAS_MANT[0]), BIAS_MANT[1])
        notes.append(MappingNote(name, "bias", f"bias {p.bias:g} becomes {bias_q} units of {s:.4g} (13-bit "
                                 "bias_mant, bias_exp = 6)"))
    du = min(max(4095 - round(4096.0 * p.alpha), 0), 4095)
    dv = min(max(round(4096.0 * (1.0 - p.beta)), 0), 4095)
    for field, reg, got, want in (("du", du, (4095 - du) / 4096.0, p.alpha),
                                  ("dv", dv, (4096 - dv) / 4096.0, p.beta)):
        if got != want:
            notes.append(MappingNote(name, field, f"decay {want:.6g} becomes {got:.6g} ({field} = {reg}; "
                                     "12-bit register, multiples of 1/4096)"))
    layer = Loihi2Layer(name, w_int, vth=vth, du=du, dv=dv, bias_mant=bias_q, bias_exp=6)
    return layer, s, mode, (4096 - dv) / 4096.0


def mode_name(mode: int) -> str:
    return {MIXED: "mixed-sign", EXCITATORY: "excitatory", INHIBITORY: "inhibitory"}[mode]


def _check_reset(name: str, co: dict[str, Any], approximate: bool, notes: list[MappingNote]) -> None:
    if co["reset"] == "zero":
        return
    what = (
        "a soft reset (subtract the threshold)"
        if co["reset"] == "subtract"
        else f"a hard reset to {co['v_reset']}"
    )
    if not approximate:
        raise ChipMappingError(
            f"layer {name!r}: {what} does not exist on Loihi 2 (lava's LIF resets v to 0); "
            "retrain or fine-tune with a hard reset to 0 (LIF(v_reset=0.0)), or pass "
            "approximate_reset=True to map it as reset-to-0 and measure the agreement"
        )
    notes.append(
        MappingNote(
            name,
            "reset",
            f"{what} mapped as Loihi's reset to 0 (approximate_reset=True): "
            "spikes will differ; check the agreement",
        )
    )


def map_model(
    model: nn.Module,
    calibration_x: Tensor | np.ndarray | None = None,
    target: str = "loihi2",
    *,
    approximate_reset: bool = False,
    input_mode: str | None = None,
    input_bits: int = 8,
) -> Loihi2Mapping:
    """Map ``model`` (float, LIF-family, see module docstring) onto a ``Loihi2Network``.

    Args:
        model: folded (``FoldedLIF``) or unfolded-``LIF`` model; not modified.
        calibration_x: optional input ``[T, B, *input_shape]``: chooses the input encoding (``loihi2_encode``)
        and
            gives the layer shapes (required when the first weight layer is not ``Linear``).
        target: ``"loihi2"``.
        approximate_reset: map soft / non-zero resets as reset-to-0 with a warning instead of raising.
        input_mode: ``"binary"``, ``"integer"`` or ``"fixed"`` (default: from ``calibration_x``).
        input_bits: graded payload bits for ``"fixed"`` inputs (≤ 24).
    """
    if target != "loihi2":
        raise ChipMappingError(f"map_model of the Loihi 2 chip model got target {target!r}")
    x = None if calibration_x is None else torch.as_tensor(np.asarray(calibration_x), dtype=torch.float32)
    probe = probe_input(model, x)
    encoding = choose_encoding(x, input_mode, input_bits, tuple(probe.shape[2:]))
    pairs, readout_seg, shapes = split_segments(model, probe)
    notes: list[MappingNote] = []
    layers: list[Loihi2Layer] = []
    scales: list[LayerScale] = []
    for i, (seg, (name, mod), n_in) in enumerate(pairs):
        cuba = mod.params() if isinstance(mod, CubaLIF) else None
        co = neuron_coefficients(name, mod) if cuba is None else {"a": cuba.beta}
        if cuba is None:
            _check_reset(name, co, approximate_reset, notes)
        n_out = int(math.prod(shapes[id(mod)][2]))
        if seg:
            w, beta = unroll(seg, shapes, n_in)
        elif n_in == n_out:
            w, beta = np.eye(n_out), np.zeros(n_out)
        else:
            raise ChipMappingError(
                f"layer {name!r}: no weights before it and {n_in} inputs for {n_out} neurons"
            )
        if w.shape[0] != n_out:
            raise ChipMappingError(f"layer {name!r}: weights give {w.shape[0]} outputs for {n_out} neurons")
        k_in = encoding.scale if i == 0 else 1.0
        if cuba is not None:
            layer, s, mode, a_q = _map_cuba_layer(name, w, beta, k_in, cuba, notes)
            if cuba.bias != 0.0:
                notes.append(MappingNote(name, "bias", f"the bias acts from chip step 0, {i + 1} step(s) "
                                         "before the layer's first input (each Dense delays by one step): "
                                         "early spikes differ"))
        else:
            layer, s, mode, a_q = _map_layer(name, w, beta, k_in, co, notes)
        layers.append(layer)
        scales.append(LayerScale(name, tuple(n for n, _ in seg), s, mode, co["a"], a_q))
    for layer in layers:
        if not layer.weights.any():
            notes.append(
                MappingNote(
                    layer.name,
                    "weights",
                    "all weights are 0 after rounding (netx cannot load an all-zero matrix)",
                )
            )
    readout = None
    if readout_seg:
        readout = unroll(readout_seg, shapes, layers[-1].n_out)
        notes.append(
            MappingNote(
                readout_seg[0][0],
                "readout",
                f"{', '.join(n for n, _ in readout_seg)} after the "
                "last neuron layer run on the host (float) from the chip's spikes",
                "info",
            )
        )
    network = Loihi2Network(
        tuple(layers), input_message_bits=encoding.message_bits, meta={"input_encoding": encoding.to_dict()}
    )
    return Loihi2Mapping(
        chip="loihi2",
        network=network,
        encode=encoding.encode,
        notes=tuple(notes),
        encoding=encoding,
        layers=tuple(scales),
        neuron_names=tuple(n for _, (n, _), _ in pairs),
        readout=readout,
    )
