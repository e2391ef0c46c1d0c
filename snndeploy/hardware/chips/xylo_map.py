"""Quantise a float LIF MLP onto a Xylo chip: ``map_model(model, calibration_x, target) -> XyloMapping``.

Accepted models: ``[Flatten] (Linear → neuron)+ [Linear]`` in execution order (``snndeploy.models.tree.walk``;
Dropout and Identity are skipped), where a neuron is a folded ``FoldedLIF`` (``exporters.fold.fold``) or an
unfolded ``LIF`` (folded here by ``exporters.fold.rules.fold_lif``, exact). Each float neuron runs, per step
(``LIFSpec``): ``H = a·V + b·(W·s + B) + c``, spike when ``H ≥ θ``, then ``V = H − θ`` (soft) or ``V_reset``
(hard).

Topology. Xylo has one hidden population, recurrent weights and a readout (``xylo.py``). The neuron layers
before the last one are stacked in the hidden population (layer 1 first); ``W_in`` feeds layer 1, and layer
k → k+1 is a block of ``W_rec``. A recurrent hop costs one step, so chip step t + k holds float step t of
hidden layer k (k = 0 for the first), and the readout lags by the number of hidden layers L. ``encode``
appends L zero steps and ``XyloMapping.align`` undoes the delays. Biases act from chip step 0, i.e. k steps
early in layer k (a warning). The last layer is the readout: a LIF layer → spiking readout neurons (one spike
per step, like the float LIF); a final Linear (no neurons after it) → non-spiking readout neurons read as
``Vmem`` (``readout = "vmem"``: dash_syn = 1, dash_mem = 15 ≈ an integrator, θ = 32767, one scale for all
classes so that their last values compare), whose last value ranks the classes like Σₜ y.

Per neuron j (hidden or readout), in chip units = c_j × float units:
- decay: dash_mem = round(−log₂(1 − a)) (= round(log₂ τ) for LIF; rockpool: dash = log₂(τ/dt), rounded);
  1 ≤ dash ≤ 15, else ``ChipMappingError``; a warning when τ_chip = 2^dash misses τ = 1/(1 − a) by more than
  ``tau_tolerance`` (relative).
- synapse: LIF has none, Xylo always filters its input (dash_syn = 0 wipes it). dash_syn = 1, the fastest
  synapse, halves the current each step; the input gain g is 1 (``synapse="charge"``: the same total charge,
  spread over the next steps) or 2 (``"instant"``: the same first-step response, twice the total); ``"auto"``
  keeps the one with the higher spike agreement on ``calibration_x``.
- scale: c_j = (32767 / headroom) / θ_j, so θ_int ≈ 4096 with the default headroom 8 (states saturate at ±8θ).
- weights: w_int = rint(g·b_j·W·Δ·c_j / 2^shift) (Δ = input scale for W_in, 1 otherwise), one shift per
  matrix: the smallest in [0, ``max_shift``] that keeps every |w_int| ≤ 127; where even ``max_shift`` does
  not, c_j of the neurons concerned is lowered instead (a warning: fewer threshold bits).
- θ_int = rint(θ_j·c_j) ∈ [1, 32767]; bias_int = rint((b_j·B_j + c_leak)·c_j) ∈ int16, else
  ``ChipMappingError``.
Rounding is numpy's ``rint`` (half to even), as rockpool's ``np.round``. The Linear bias goes to the neuron's
membrane bias (Xylo drops biases on weights, rockpool ``weight_nodes_have_no_biases``).

Not exact by construction (each a ``MappingNote`` warning): the synapse above; hidden neurons fire up to 31
spikes per step where the float LIF fires one (each is delivered, n·w); hard reset becomes subtraction; τ
rounding.

``snndeploy.neurons.CubaLIF`` (flavour ``"xylo"``, reset ``"subtract"``) is Xylo's neuron itself: its α and β
give dash_syn and dash_mem (exact when α, β = 1 − 2^−dash, dash 0..15; else rounded as above, with a warning),
the input gain is 1 (no synapse approximation), its ``bias`` is the membrane bias and the Linear before it
must have no bias (it would enter the synaptic current, which the chip cannot bias: ``ChipMappingError``).
With ``lsb`` set the scale is c = 1/lsb for every neuron of the layer (chip units = float / lsb), so a layer
whose weights are integer multiples of lsb·2^shift (|w| ≤ 127), θ and bias multiples of lsb and inputs event
counts maps with no rounding at all and its float spikes equal the chip's (``tests/test_neurons_cubalif.py``);
a cap other than the chip's (31 hidden, 1 readout), ``strict=True`` or ``lsb=None`` (float decays where the
chip rounds) are warnings.

Inputs (``input_mode``, ``xylo_encode.InputCoding``): ``"events"`` (the inputs are event counts 0..15 and pass
unchanged), ``"graded"`` (x ≥ 0 → rint(x/Δ) clipped to 0..15), ``"signed"`` (two channels per feature for the
positive and the negative part, exact through the linear first layer) or ``"auto"``; Δ is folded into W_in.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from exporters.lifspec import format_value

from ...errors import InvalidInputError
from ...models.tree import walk as walk_model
from ...neurons import LIF, CubaLIF
from ...neurons.base import is_neuron
from ...neurons.cubalif import CubaLIFParams, xylo_dash
from ..targets import get_target
from ..views import BATCHNORM
from .base import ChipMapping, ChipMappingError, ChipRun, MappingNote
from .xylo import MAX_HIDDEN_SPIKES, MAX_OUT_SPIKES, XYLO_CHIPS, XyloNetwork
from .xylo_agree import compare_mapping
from .xylo_encode import InputCoding, choose_coding

__all__ = ["MappedLayer", "XyloMapping", "Stage", "map_model", "float_layers", "shift_and_scale"]

_STATE_MAX = 32767


@dataclass(frozen=True)
class MappedLayer:
    """Where float layer ``name`` lives on the chip: ``population`` columns ``start:start+size``, ``delay``
    steps late."""

    name: str
    population: str  # "hidden" | "readout"
    start: int
    size: int
    delay: int
    spiking: bool = True


@dataclass(frozen=True)
class XyloMapping(ChipMapping):
    """``ChipMapping`` plus what relates chip runs to the float model (see the module docstring)."""

    layers: tuple[MappedLayer, ...] = ()
    coding: InputCoding = InputCoding("events", 1.0, (1,))
    readout: str = "spike"
    synapse_gain: float = 1.0

    @property
    def input_mode(self) -> str:
        return self.coding.mode

    @property
    def input_scale(self) -> float:
        return self.coding.scale

    @property
    def delay(self) -> int:
        return self.coding.delay

    def decode(self, counts: np.ndarray) -> torch.Tensor:
        """The float model's input for chip input ``counts`` ``[T + delay, B, N_in]``
        (``InputCoding.decode``)."""
        return self.coding.decode(counts)

    def align(self, run: ChipRun) -> dict[str, np.ndarray]:
        """Spike counts of each spiking float layer ``[T, B, N]`` on the float model's time axis."""
        out = {}
        for layer in self.layers:
            if not layer.spiking:
                continue
            s = run.spikes[0 if layer.population == "hidden" else 1]
            n_t = s.shape[0] - self.delay
            out[layer.name] = s[layer.delay:layer.delay + n_t, :, layer.start:layer.start + layer.size]
        return out

    def predict(self, run: ChipRun) -> np.ndarray:
        """Class per sample: the readout's last ``Vmem`` (``vmem``) or its spike count over time
        (``spike``)."""
        if self.readout == "vmem":
            return np.argmax(run.states["v"][1][-1], axis=-1)
        return np.argmax(run.spikes[1][self.delay:].sum(axis=0), axis=-1)


@dataclass
class Stage:
    """One Linear (→ neuron) stage of the float model."""

    linear_name: str
    linear: nn.Linear
    neuron_name: str | None = None
    spec: Any = None


def _neuron_spec(name: str, mod: nn.Module) -> Any:
    from exporters.fold.rules import fold_lif
    from exporters.lifspec import LIFSpec

    if isinstance(mod, LIF):
        return fold_lif(mod, name, None)[0].spec
    if isinstance(mod, CubaLIF):
        return mod.params()
    spec = getattr(mod, "spec", None)
    if isinstance(spec, LIFSpec):
        return spec
    raise ChipMappingError(f"layer {name}: {type(mod).__name__} is not a LIF layer; fold the model first "
                           "(exporters.fold.fold(model, x) turns CLIF/KLIF/ILIF into LIF form)")


def float_layers(model: nn.Module) -> list[Stage]:
    """The model's Linear (→ neuron) stages; ``ChipMappingError`` for anything Xylo cannot run."""
    stages: list[Stage] = []
    for name, mod in walk_model(model):
        kind = type(mod).__name__
        if is_neuron(mod):
            if not stages or stages[-1].neuron_name is not None:
                raise ChipMappingError(f"layer {name}: a neuron layer must follow a Linear layer on Xylo "
                                       "(network input goes through W_in; rockpool xylo_drc "
                                       "first_module_is_a_weight)")
            stages[-1].neuron_name, stages[-1].spec = name, _neuron_spec(name, mod)
        elif isinstance(mod, nn.Linear):
            if stages and stages[-1].neuron_name is None:
                raise ChipMappingError(f"layer {name}: Linear follows Linear {stages[-1].linear_name} with "
                                       "no neurons between (rockpool xylo_drc no_consecutive_weights): merge "
                                       "the two matrices")
            stages.append(Stage(name, mod))
        elif isinstance(mod, (nn.Flatten, nn.Dropout, nn.Identity)):
            continue
        elif isinstance(mod, BATCHNORM):
            raise ChipMappingError(f"layer {name}: {kind} must be folded into the Linear before it "
                                   "(exporters.fold)")
        else:
            raise ChipMappingError(f"layer {name}: {kind} cannot be mapped onto Xylo (dense Linear + LIF "
                                   "only; convolutions would have to be unrolled, residual blocks are not "
                                   "supported here)")
    if not stages:
        raise ChipMappingError("model: no Linear layer to map onto Xylo")
    spiking_end = stages[-1].neuron_name is not None
    hidden = len(stages) - (1 if spiking_end else 0)
    if hidden < 1 or (not spiking_end and len(stages) < 2):
        raise ChipMappingError(f"model: {len(stages)} Linear stage(s); Xylo needs a hidden layer and a "
                               "readout (rockpool xylo_drc at_least_two_neuron_layers_needed)")
    return stages


def _dash(layer: str, a: float, tol: float, notes: list[MappingNote]) -> int:
    if not 0.0 < a < 1.0:
        raise ChipMappingError(f"layer {layer}: decay a = {a:.6g} has no bit-shift decay (needs 0 < a < 1; "
                               "limit 1 <= dash <= 15)")
    tau = 1.0 / (1.0 - a)
    exact = math.log2(tau)
    dash = round(exact)
    if not 1 <= dash <= 15:
        raise ChipMappingError(f"layer {layer}: tau = {tau:.6g} steps needs a bit-shift decay of "
                               f"{exact:.3g}, rounded {dash}; limit 1 <= dash <= 15 (tau from 2**0.5 to "
                               "2**15.5 steps)")
    tau_q = 2.0 ** dash
    if abs(tau_q - tau) > tol * tau:
        notes.append(MappingNote(layer, "tau",
                                 f"tau = {tau:.6g} steps becomes 2**{dash} = {tau_q:g} (dash_mem = "
                                 f"{dash}, error {abs(tau_q - tau) / tau:.1%} > tolerance {tol:.0%})"))
    return dash


def _cuba_dash(layer: str, field: str, a: float, notes: list[MappingNote]) -> int:
    """The dash of a CubaLIF decay: exact when a = 1 − 2^−dash (0..15), else rounded with a warning."""
    exact = xylo_dash(a)
    if exact is not None:
        return exact
    if not 0.0 <= a < 1.0:
        raise ChipMappingError(f"layer {layer}: {field} = {a:.6g} has no bit-shift decay (limit 0 <= dash <= "
                               "15)")
    dash = round(-math.log2(1.0 - a)) if a > 0 else 0
    if not 0 <= dash <= 15:
        raise ChipMappingError(f"layer {layer}: {field} = {a:.6g} needs dash {dash}; limit 0 <= dash <= 15")
    notes.append(MappingNote(layer, field, f"{field} = {a:.6g} becomes 1 - 2**-{dash} = {1 - 2.0**-dash:.6g} "
                             f"(dash {dash}): the float layer decays differently"))
    return dash


@dataclass(frozen=True)
class _NeuronMap:
    """One float neuron layer in chip terms: weight gain, dashes, θ, membrane bias, chip units per float."""

    gain: float
    dash_syn: int
    dash_mem: int
    theta: float
    bias: np.ndarray
    scale: float
    lif: bool  # a LIF approximated with Xylo's fastest synapse (else a CubaLIF: the chip's own neuron)


def _lif_neuron(st: Stage, g: float, bias: np.ndarray, tol: float, headroom: float,
                notes: list[MappingNote]) -> _NeuronMap:
    spec, name = st.spec, st.neuron_name
    if spec.v_threshold <= 0:
        raise ChipMappingError(f"layer {name}: threshold {spec.v_threshold:g} must be > 0 (limit 1..32767)")
    dash_mem = _dash(name, spec.decay, tol, notes)
    _reset_note(name, spec, notes)
    return _NeuronMap(g * spec.input_gain, 1, dash_mem, spec.v_threshold, spec.input_gain * bias + spec.leak,
                      (_STATE_MAX / headroom) / spec.v_threshold, True)


def _cuba_neuron(st: Stage, bias: np.ndarray, headroom: float, readout: bool,
                 notes: list[MappingNote]) -> _NeuronMap:
    p: CubaLIFParams = st.spec
    name = st.neuron_name
    if p.flavour != "xylo" or p.reset != "subtract":
        raise ChipMappingError(f"layer {name}: CubaLIF flavour {p.flavour!r} with reset {p.reset!r} is not "
                               "Xylo's neuron (input into the current, which decays in the same step; "
                               "subtract θ per spike): use CubaLIF(flavour='xylo')")
    if np.any(bias != 0):
        raise ChipMappingError(f"layer {st.linear_name}: Linear bias before CubaLIF {name} enters its "
                               "synaptic current, which Xylo cannot bias (its bias is on the membrane): "
                               "train with bias=False and use CubaLIF(bias=...)")
    cap = MAX_OUT_SPIKES if readout else MAX_HIDDEN_SPIKES
    if p.max_spikes != cap:
        where = "readout" if readout else "hidden"
        notes.append(MappingNote(name, "max_spikes", f"CubaLIF max_spikes = {p.max_spikes}; Xylo's {where} "
                                 f"neurons fire up to {cap} spike(s) per step"))
    if p.strict:
        notes.append(MappingNote(name, "threshold", "strict=True (fires at V > θ); Xylo fires at v >= θ"))
    if p.lsb is None:
        notes.append(MappingNote(name, "lsb", "CubaLIF without lsb: its decays are float multiplies where "
                                 "the chip rounds them in integers (set lsb for chip-integer arithmetic)"))
    d_syn = _cuba_dash(name, "alpha", p.alpha, notes)
    d_mem = _cuba_dash(name, "beta", p.beta, notes)
    scale = 1.0 / p.lsb if p.lsb is not None else (_STATE_MAX / headroom) / p.v_threshold
    return _NeuronMap(1.0, d_syn, d_mem, p.v_threshold, np.full(bias.shape, p.bias), scale, False)


def _stage_neuron(st: Stage, g: float, tol: float, headroom: float, readout: bool,
                  notes: list[MappingNote]) -> _NeuronMap:
    n = st.linear.out_features
    bias = st.linear.bias.detach().double().numpy() if st.linear.bias is not None else np.zeros(n)
    if isinstance(st.spec, CubaLIFParams):
        return _cuba_neuron(st, bias, headroom, readout, notes)
    return _lif_neuron(st, g, bias, tol, headroom, notes)


def shift_and_scale(name: str, mats: list[np.ndarray], c: np.ndarray, max_shift: int,
                     notes: list[MappingNote]) -> tuple[list[int], np.ndarray]:
    """One shift per matrix (rows: sources, columns: targets with scale ``c``) and the possibly lowered
    ``c`` (also QAT's, ``deploy/qat.py``, so that training rounds as the mapper does)."""
    shifts = []
    c = c.copy()
    for m in mats:
        col_max = np.abs(m).max(axis=0) if m.size else np.zeros(c.shape)
        need = float((col_max * c).max()) / 127.49 if col_max.size else 0.0
        shifts.append(int(min(max(0, math.ceil(math.log2(need))) if need > 0 else 0, max_shift)))
    for m, s in zip(mats, shifts, strict=True):
        col_max = np.abs(m).max(axis=0) if m.size else np.zeros(c.shape)
        with np.errstate(divide="ignore"):
            cap = np.where(col_max > 0, 127.49 * 2.0 ** s / np.where(col_max > 0, col_max, 1.0), np.inf)
        low = cap < c
        if low.any():
            notes.append(MappingNote(name, "threshold",
                                     f"{int(low.sum())} neuron(s) have weights too large for the "
                                     f"threshold at shift {max_shift}: their threshold gets fewer bits"))
            c = np.minimum(c, cap)
    return shifts, c


def _quantise(name: str | list[str], fld: str, x: np.ndarray, lo: int, hi: int,
              notes: list[MappingNote]) -> np.ndarray:
    """``rint(x)``; outside [lo, hi] → ``ChipMappingError`` naming the layer (``name`` per element or one
    name)."""
    q = np.rint(x)
    bad = np.flatnonzero((q < lo) | (q > hi))
    if bad.size:
        where = name[bad[0]] if isinstance(name, list) else name
        raise ChipMappingError(f"layer {where}: {fld} = {q.flat[bad[0]]:g} in chip units is outside [{lo}, "
                               f"{hi}] (relative to the layer's weights and threshold)")
    name = "hidden" if isinstance(name, list) else name
    nz = x != 0
    zeroed = float((q[nz] == 0).mean()) if nz.any() else 0.0
    if zeroed > 0.05:
        notes.append(MappingNote(name, fld,
                                 f"{zeroed:.0%} of the non-zero values round to 0 on the chip grid"))
    return q.astype(np.int64)


def map_model(model: nn.Module, calibration_x: Any = None, target: str = "xylo_audio2", *,
              headroom: float = 8.0, tau_tolerance: float = 0.05, synapse: str = "auto",
              input_mode: str = "auto", max_shift: int = 7) -> XyloMapping:
    """Map a float LIF MLP onto ``target`` (``xylo_audio2`` | ``xylo_audio3`` | ``xylo_imu``): module
    docstring."""
    name = target if isinstance(target, str) else getattr(target, "name", "")
    chip = XYLO_CHIPS.get(get_target(name).name if name else "")
    if chip is None:
        raise ChipMappingError(f"map_model: target {target!r} is not a Xylo chip ({', '.join(XYLO_CHIPS)})")
    if synapse not in ("auto", "charge", "instant"):
        raise ChipMappingError(f"map_model: synapse {synapse!r}; known: auto, charge, instant")
    if not (headroom >= 1.0 and math.isfinite(headroom)) or not 0 <= max_shift <= 15:
        raise ChipMappingError(f"map_model: headroom {headroom} must be >= 1 and max_shift {max_shift} "
                               "in [0, 15]")
    x = None
    if calibration_x is not None:
        x = (calibration_x.detach().cpu().double().numpy() if isinstance(calibration_x, torch.Tensor)
             else np.asarray(calibration_x, dtype=np.float64))
        if x.ndim < 3 or not np.all(np.isfinite(x)):
            raise InvalidInputError(f"map_model: calibration_x must be finite [T, B, *], got shape {x.shape}")
    cuba_only = all(isinstance(st.spec, CubaLIFParams) for st in float_layers(model) if st.neuron_name)
    if synapse == "auto" and (x is None or cuba_only):
        synapse = "charge"  # no calibration data, or no LIF layer to approximate: gain 1
    gains = {"charge": [1.0], "instant": [2.0], "auto": [1.0, 2.0]}[synapse]
    candidates = [_build(model, x, chip.name, g, headroom, tau_tolerance, input_mode, max_shift)
                  for g in gains]
    if len(candidates) == 1:
        return candidates[0]
    scored = [(compare_mapping(m, model, torch.from_numpy(x).float()).score, m) for m in candidates]
    best = max(scored, key=lambda sm: sm[0])[1]
    summary = ", ".join(f"gain {m.synapse_gain:g}: {s:.4f}" for s, m in scored)
    note = MappingNote("model", "synapse", f"synapse gain chosen on the calibration data by spike agreement "
                       f"({summary})", "info")
    return dataclasses.replace(best, notes=(*best.notes, note))


def _reset_note(name: str, spec: Any, notes: list[MappingNote]) -> None:
    if spec.reset == "hard":
        notes.append(MappingNote(name, "reset",
                                 f"hard reset to {format_value(spec.v_reset, 'g')} becomes Xylo's "
                                 "subtraction of the threshold (the only reset on chip)"))
    elif not spec.subtracts_threshold:
        notes.append(MappingNote(name, "reset",
                                 f"soft reset by {format_value(spec.reset_amount, 'g')} becomes "
                                 f"subtraction of the threshold {spec.v_threshold:g}"))


def _float_readout_max(model: nn.Module, x: np.ndarray, n_out: int) -> np.ndarray | None:
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            y = model(torch.from_numpy(x).float())
    finally:
        model.train(was)
    y = y.detach().double().numpy().reshape(y.shape[0], y.shape[1], -1)
    return np.abs(y.sum(axis=0)).max(axis=0) if y.shape[-1] == n_out else None


def _build(model: nn.Module, x: np.ndarray | None, chip_name: str, g: float, headroom: float, tol: float,
           input_mode: str, max_shift: int) -> XyloMapping:
    chip, notes = XYLO_CHIPS[chip_name], []
    limits = get_target(chip_name)
    stages = float_layers(model)
    hidden, readout = stages[:-1], stages[-1]
    spiking = readout.neuron_name is not None
    sizes = [st.linear.out_features for st in hidden]
    n_feat, n_hid, n_out = stages[0].linear.in_features, sum(sizes), readout.linear.out_features
    coding = choose_coding(x, input_mode, n_feat, chip.max_inputs, len(hidden), notes)
    n_in = coding.channels
    for what, value, limit in (("input channels", n_in, chip.max_inputs),
                               ("hidden neurons", n_hid, chip.max_hidden),
                               ("output neurons", n_out, chip.max_outputs),
                               ("first hidden layer (input window)", sizes[0], chip.input_window or n_hid),
                               ("last hidden layer (output window)", sizes[-1], chip.output_window or n_hid)):
        if value > limit:
            raise ChipMappingError(f"model: {what} = {value} > {limit} on {chip.name} ({chip.part}): "
                                   f"{chip.source}")
    offs = np.cumsum([0, *sizes])
    f_in, f_rec = np.zeros((n_in, n_hid)), np.zeros((n_hid, n_hid))
    theta, beta, c_hid = np.zeros(n_hid), np.zeros(n_hid), np.zeros(n_hid)
    dash_mem, dash_syn = np.zeros(n_hid, np.int64), np.ones((n_hid, 1), np.int64)
    layers, any_lif = [], False
    for k, st in enumerate(hidden):
        cols = slice(offs[k], offs[k + 1])
        nm = _stage_neuron(st, g, tol, headroom, False, notes)
        any_lif |= nm.lif
        w = st.linear.weight.detach().double().numpy()
        dash_mem[cols], dash_syn[cols] = nm.dash_mem, nm.dash_syn
        if k == 0:
            f_in[:, cols] = coding.input_rows(nm.gain * w.T)
        else:
            f_rec[offs[k - 1]:offs[k], cols] = nm.gain * w.T
        beta[cols] = nm.bias
        if k > 0 and np.any(beta[cols] != 0):
            notes.append(MappingNote(st.neuron_name, "bias",
                                     f"stacked hidden layer {k + 1}: its bias acts from chip "
                                     f"step 0, {k} step(s) before its first input (the chip has no "
                                     "per-layer start)"))
        theta[cols] = nm.theta
        c_hid[cols] = nm.scale
        layers.append(MappedLayer(st.neuron_name, "hidden", int(offs[k]), sizes[k], k))
    (s_in, s_rec), c_hid = shift_and_scale("hidden", [f_in, f_rec], c_hid, max_shift, notes)
    w_out = readout.linear.weight.detach().double().numpy().T
    b_out = (readout.linear.bias.detach().double().numpy() if readout.linear.bias is not None
             else np.zeros(n_out))
    f_out = np.zeros((n_hid, n_out))
    dash_syn_out = np.ones(n_out, np.int64)
    if spiking:
        nm = _stage_neuron(readout, g, tol, headroom, True, notes)
        any_lif |= nm.lif
        f_out[offs[-2]:] = nm.gain * w_out
        dash_out, dash_syn_out = np.full(n_out, nm.dash_mem), np.full(n_out, nm.dash_syn)
        theta_out, beta_out = np.full(n_out, nm.theta), nm.bias
        c_out = np.full(n_out, nm.scale)
        (s_out,), c_out = shift_and_scale("readout", [f_out], c_out, max_shift, notes)
    else:
        f_out[offs[-2]:] = w_out  # gain 1: the readout integrates the total charge
        dash_out, beta_out = np.full(n_out, 15), b_out
        col = np.abs(f_out).max(axis=0)
        # one scale for all classes: the readout is compared across classes (argmax of the last Vmem)
        scale = 127.49 / float(col.max()) if col.max() > 0 else 1.0
        ymax = _float_readout_max(model, x, n_out) if x is not None else None
        if ymax is None:
            notes.append(MappingNote(readout.linear_name, "readout",
                                     "no calibration data: the Vmem readout scale "
                                     "comes from the weights alone and may saturate"))
        elif ymax.max() > 0:
            scale = min(scale, (_STATE_MAX / 2) / float(ymax.max()))
        c_out = np.full(n_out, scale)
        s_out = 0
        theta_out = _STATE_MAX / c_out  # the largest threshold: the readout integrates, read as Vmem
    layers.append(MappedLayer(readout.neuron_name or readout.linear_name, "readout", 0, n_out, len(hidden),
                              spiking))
    owner = [la.name for la in layers[:-1] for _ in range(la.size)]
    net = XyloNetwork(
        chip.name,
        _quantise("input", "weights_in", f_in * c_hid / 2.0 ** s_in, -128, 127, notes)[:, :, None],
        _quantise("hidden", "weights_rec", f_rec * c_hid / 2.0 ** s_rec, -128, 127, notes)[:, :, None],
        _quantise("readout", "weights_out", f_out * c_out / 2.0 ** s_out, -128, 127, notes),
        dash_syn, dash_mem,
        _quantise(owner, "threshold", theta * c_hid, 1, _STATE_MAX, notes),
        _quantise(owner, "bias", beta * c_hid, -32768, 32767, notes),
        dash_syn_out, dash_out,
        _quantise(layers[-1].name, "threshold_out", theta_out * c_out, 1, _STATE_MAX, notes),
        _quantise(layers[-1].name, "bias_out", beta_out * c_out, -32768, 32767, notes),
        s_in, s_rec, s_out)
    _fan_out_note(net, limits, notes)
    if any_lif:
        notes.append(MappingNote("model", "synapse", f"LIF has no synaptic current; Xylo's fastest "
                                 f"synapse (dash_syn = 1) halves it each step, input gain {g:g}; hidden "
                                 "neurons may fire up to 31 spikes per step (the float LIF fires one)"))
    return XyloMapping(chip.name, net, coding.encode, tuple(notes), tuple(layers), coding,
                       "spike" if spiking else "vmem", g)


def _fan_out_note(net: XyloNetwork, target: Any, notes: list[MappingNote]) -> None:
    lim = target.limit("max_fan_out")
    if lim is None:
        return
    fan = (net.weights_rec != 0).sum(axis=(1, 2)) + (net.weights_out != 0).sum(axis=1)
    if fan.size and fan.max() > lim.value:
        notes.append(MappingNote("hidden", "fan_out", f"a hidden neuron reaches {int(fan.max())} targets > "
                                 f"{lim.value:g} (max fan-out; xylosim does not check it): {lim.source}"))
