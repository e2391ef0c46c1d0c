"""Bit-accurate integer model of the SynSense Xylo SNN core (Audio 2 = SYNS61201, Audio 3 = SYNS65302,
IMU = SYNS63300).

The network is xylosim's one-hidden-population form: input channels → hidden neurons (recurrent) → readout
neurons. All three chips run the same simulator (rockpool's ``syns61201.XyloSim`` and ``syns63300.XyloSim``,
which ``syns65302`` re-exports, both build ``xylosim.v2.XyloLayer``); they differ in sizes and synapses per
neuron.

One time step t (xylosim 0.1.3 ``src/v2/cpp/XyloLayer.cpp`` ``XyloLayer::evolve``; ``sat`` clamps to int16
[−32768, 32767]; every state is int16):

1. Input events (``deliver_spikes``): channel c (in order c = 0, 1, …) sends n = min(x[t, c], 15) events; each
   adds ``w_in[c, j, k] << shift_in`` to synaptic current k of hidden neuron j with a saturating add
   (``XyloIAFNeuron::receiveSpike`` → ``safe_add``). The shifted weight is passed as ``int16_t``, so it wraps
   to 16 bits when ``|w| << shift`` does not fit (possible only for shift ≥ 8).
2. Recurrent events: hidden neuron h (in order) sends its spike count of step t − 1 (≤ 31), adding
   ``w_rec[h, j, k] << shift_rec`` to hidden neuron j; then the same counts add ``w_out[h, o] << shift_out``
   to readout neuron o. Saturating adds do not commute, so the order above is part of the arithmetic
   (``xylo_intops.saturating_accumulate``).
3. Each neuron (``XyloIAFNeuron::evolve``; hidden neurons first, then readout neurons):
   - i_k ← i_k − dec(i_k, dash_syn_k)                       (no saturation needed: |dec(i)| ≤ |i|)
   - dv  ← wrap16(−dec(v, dash_mem))                        (``int16_t dv_mem = -decay(...)``)
   - dv  ← sat(dv + Σ_k i_k);   dv ← sat(dv + bias);   v ← sat(v + dv)
   - n ← 0; while v ≥ θ and n < n_max: n ← n + 1, v ← v − θ        (n_max = 31 hidden, 1 readout)
   with dec(x, d) = x >> d (arithmetic shift), or sign(x) when that is 0 (``decay`` in ``XyloIAFNeuron.cpp``).
   The hidden counts n are step 2's events at t + 1; readout counts are the output.

So a chain input → hidden → readout takes one step per recurrent hop: a readout spike at t answers input at
t − 1 at the earliest. States start at 0 (``reset_all``). xylosim records, per step after 3., i_1 (``Isyn``),
i_2 (``Isyn2``, hidden only), v (``Vmem``) and the spike counts; ``run`` returns the same.

Not modelled: alias connections (xylosim's ``aliases``: the mapper never creates them here), hibernation mode
(xylosim only records it; it changes no state), the analog/digital front-ends (AFE, IMU IF), timing and power.
Parameter ranges: weights int8; dashes 0..15 (4-bit register); thresholds 1..32767 (xylosim takes int16; θ ≤ 0
is refused as meaningless); bias int16 (silicon bias width: unsourced); weight shifts 0..15 (the CTRL1 fields
are 4 bits wide but rockpool's decoder reads 3: unsourced; xylosim wraps shifted weights as in 1.).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from .base import ChipMappingError, ChipRun
from .xylo_intops import int_range, saturate, saturating_accumulate, shift_decay, wrap

__all__ = ["XYLO_CHIPS", "XyloChip", "XyloNetwork", "MAX_INPUT_EVENTS", "MAX_HIDDEN_SPIKES", "MAX_OUT_SPIKES"]

MAX_INPUT_EVENTS = 15  # XyloIAFNeuron.h MAX_NUM_INP_SPIKES
MAX_HIDDEN_SPIKES = 31  # MAX_NUM_SPIKES
MAX_OUT_SPIKES = 1  # MAX_NUM_OUT_SPIKES
MAX_INPUT_VALUE = 255  # the simulator's input raster is uint8 (v2.cpp: std::vector<std::vector<uint8_t>>)
STATE_BITS = 16  # BITS_STATE


@dataclass(frozen=True)
class XyloChip:
    """Size limits of one Xylo chip (``snndeploy/hardware/targets/<name>.toml``, rockpool ``xylo_mapper``)."""

    name: str
    part: str
    max_inputs: int
    max_hidden: int
    max_outputs: int
    synapses: int  # synaptic currents per hidden neuron
    input_window: int | None = None  # input weights reach only the first N hidden neurons (IEN)
    output_window: int | None = None  # readout weights come only from the last N hidden neurons (OEN)
    source: str = ""


XYLO_CHIPS: dict[str, XyloChip] = {
    "xylo_audio2": XyloChip("xylo_audio2", "SYNS61201", 16, 1000, 8, 2, None, None,
                            "rockpool syns61201 xylo_mapper.mapper(max_hidden_neurons=1000, "
                            "max_output_neurons=8); xylo-overview device table (2 synapses)"),
    "xylo_audio3": XyloChip("xylo_audio3", "SYNS65302", 16, 992, 32, 2, 128, 128,
                            "rockpool syns65302 xylo_mapper.mapper(992, 32); "
                            "xylo_samna.config_from_specification (weights_in[:, :128], weights_out[-128:], "
                            "'Max of 2 input synapses')"),
    "xylo_imu": XyloChip("xylo_imu", "SYNS63300", 16, 496, 16, 1, 128, 128,
                         "rockpool syns63300 xylo_mapper.mapper(496, 16), "
                         "max_synapses_per_neuron(max_syns=1); xylo_samna.config_from_specification "
                         "(128-neuron input/output windows)"),
}


def _err(layer: str, fld: str, msg: str) -> ChipMappingError:
    return ChipMappingError(f"xylo {layer}.{fld}: {msg}")


def _int_array(name: str, layer: str, value: Any, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.rint(arr)):
            arr = arr.astype(np.int64)
        else:
            raise _err(layer, name, f"must hold integers, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise _err(layer, name, f"shape {arr.shape} does not match the network, expected {shape}")
    arr = arr.astype(np.int64)
    if arr.size:
        bad = np.flatnonzero((arr < lo) | (arr > hi))
        if bad.size:
            idx = np.unravel_index(bad[0], shape)
            raise _err(layer, name,
                       f"value {int(arr[idx])} at {tuple(int(i) for i in idx)} is outside [{lo}, {hi}]")
    arr.setflags(write=False)
    return arr


def _shift(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _err("network", name, f"must be an integer, got {value!r}")
    if not 0 <= int(value) <= 15:
        raise _err("network", name, f"value {int(value)} is outside [0, 15] (4-bit register field)")
    return int(value)


@dataclass(frozen=True, eq=False)
class XyloNetwork:
    """An integer Xylo network (rockpool's specification: the arguments of ``XyloSim.from_specification``).

    Shapes: ``weights_in [N_in, N_hid, S]``, ``weights_rec [N_hid, N_hid, S]``, ``weights_out [N_hid, N_out]``
    (int8); ``dash_syn [N_hid, S]`` (column 1 is rockpool's ``dash_syn_2``), ``dash_mem``, ``threshold``,
    ``bias`` ``[N_hid]``; ``dash_syn_out``, ``dash_mem_out``, ``threshold_out``, ``bias_out`` ``[N_out]``;
    S = 1 or 2 synapses. Validated on construction against ``chip``'s limits; a violation raises
    ``ChipMappingError`` naming the field, the value and the limit. ``run`` is the bit-accurate simulation
    (module docstring).
    """

    chip: str
    weights_in: np.ndarray
    weights_rec: np.ndarray
    weights_out: np.ndarray
    dash_syn: np.ndarray
    dash_mem: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    dash_syn_out: np.ndarray
    dash_mem_out: np.ndarray
    threshold_out: np.ndarray
    bias_out: np.ndarray
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0

    def __post_init__(self) -> None:
        if self.chip not in XYLO_CHIPS:
            raise _err("network", "chip", f"unknown chip {self.chip!r}; known: {', '.join(XYLO_CHIPS)}")
        c = XYLO_CHIPS[self.chip]
        w_in = np.asarray(self.weights_in)
        if w_in.ndim == 2:
            w_in = w_in[:, :, None]
        if w_in.ndim != 3:
            raise _err("input", "weights_in", f"must be [N_in, N_hid, S], got shape {w_in.shape}")
        n_in, n_hid, syn = w_in.shape
        w_out = np.asarray(self.weights_out)
        if w_out.ndim != 2:
            raise _err("readout", "weights_out", f"must be [N_hid, N_out], got shape {w_out.shape}")
        n_out = w_out.shape[1]
        for layer, fld, value, limit in (("input", "N_in", n_in, c.max_inputs),
                                         ("hidden", "N_hid", n_hid, c.max_hidden),
                                         ("readout", "N_out", n_out, c.max_outputs),
                                         ("hidden", "synapses", syn, c.synapses)):
            if not 1 <= value <= limit:
                raise _err(layer, fld, f"{value} is outside [1, {limit}] on {c.name} ({c.part}): {c.source}")
        w_rec = np.asarray(self.weights_rec)
        if w_rec.ndim == 2:
            w_rec = w_rec[:, :, None]
        dash_syn = np.asarray(self.dash_syn)
        if dash_syn.ndim == 1:
            dash_syn = dash_syn[:, None]
        int8, int16 = int_range(8), int_range(16)
        checked = {
            "weights_in": _int_array("weights_in", "input", w_in, (n_in, n_hid, syn), *int8),
            "weights_rec": _int_array("weights_rec", "hidden", w_rec, (n_hid, n_hid, syn), *int8),
            "weights_out": _int_array("weights_out", "readout", w_out, (n_hid, n_out), *int8),
            "dash_syn": _int_array("dash_syn", "hidden", dash_syn, (n_hid, syn), 0, 15),
            "dash_mem": _int_array("dash_mem", "hidden", self.dash_mem, (n_hid,), 0, 15),
            "threshold": _int_array("threshold", "hidden", self.threshold, (n_hid,), 1, int16[1]),
            "bias": _int_array("bias", "hidden", self.bias, (n_hid,), *int16),
            "dash_syn_out": _int_array("dash_syn_out", "readout", self.dash_syn_out, (n_out,), 0, 15),
            "dash_mem_out": _int_array("dash_mem_out", "readout", self.dash_mem_out, (n_out,), 0, 15),
            "threshold_out": _int_array("threshold_out", "readout", self.threshold_out, (n_out,), 1,
                                        int16[1]),
            "bias_out": _int_array("bias_out", "readout", self.bias_out, (n_out,), *int16),
        }
        for name in ("weight_shift_in", "weight_shift_rec", "weight_shift_out"):
            checked[name] = _shift(name, getattr(self, name))
        if c.input_window is not None and np.any(checked["weights_in"][:, c.input_window:]):
            raise _err("input", "weights_in",
                       f"input weights reach hidden neurons >= {c.input_window}; {c.name} "
                       f"connects the input only to the first {c.input_window}: {c.source}")
        if c.output_window is not None and np.any(checked["weights_out"][: max(0, n_hid - c.output_window)]):
            raise _err("readout", "weights_out", f"readout weights come from hidden neurons before the last "
                       f"{c.output_window}; {c.name} reads only the last {c.output_window}: {c.source}")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    # sizes ------------------------------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return int(self.weights_in.shape[0])

    @property
    def n_hidden(self) -> int:
        return int(self.weights_in.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights_out.shape[1])

    @property
    def synapses(self) -> int:
        return int(self.weights_in.shape[2])

    def replace(self, **changes: Any) -> XyloNetwork:
        return dataclasses.replace(self, **changes)

    # rockpool's specification -----------------------------------------------------------------------------
    def to_spec(self) -> dict[str, Any]:
        """The keyword arguments of rockpool's
        ``XyloSim.from_specification`` / ``config_from_specification``."""
        dash2 = self.dash_syn[:, 1] if self.synapses > 1 else self.dash_syn[:, 0]
        return {
            "weights_in": self.weights_in.astype(np.int8), "weights_rec": self.weights_rec.astype(np.int8),
            "weights_out": self.weights_out.astype(np.int8), "dash_mem": self.dash_mem.copy(),
            "dash_mem_out": self.dash_mem_out.copy(), "dash_syn": self.dash_syn[:, 0].copy(),
            "dash_syn_2": dash2.copy(), "dash_syn_out": self.dash_syn_out.copy(),
            "threshold": self.threshold.copy(), "threshold_out": self.threshold_out.copy(),
            "bias": self.bias.copy(), "bias_out": self.bias_out.copy(),
            "weight_shift_in": self.weight_shift_in, "weight_shift_rec": self.weight_shift_rec,
            "weight_shift_out": self.weight_shift_out,
        }

    @classmethod
    def from_spec(cls, chip: str, spec: dict[str, Any]) -> XyloNetwork:
        """Inverse of ``to_spec`` (``dash_syn_2`` is used only when the weights have 2 synapses)."""
        w_in = np.asarray(spec["weights_in"])
        syn = w_in.shape[2] if w_in.ndim == 3 else 1
        cols = [np.asarray(spec["dash_syn"])] + ([np.asarray(spec["dash_syn_2"])] if syn > 1 else [])
        n_hid, n_out = np.asarray(spec["weights_out"]).shape
        return cls(chip, w_in, spec.get("weights_rec", np.zeros((n_hid, n_hid, syn), np.int64)),
                   spec["weights_out"], np.stack(cols, axis=1), spec["dash_mem"], spec["threshold"],
                   spec.get("bias", np.zeros(n_hid, np.int64)), spec["dash_syn_out"], spec["dash_mem_out"],
                   spec["threshold_out"], spec.get("bias_out", np.zeros(n_out, np.int64)),
                   int(spec.get("weight_shift_in", 0)), int(spec.get("weight_shift_rec", 0)),
                   int(spec.get("weight_shift_out", 0)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the chip and the specification as nested lists."""
        spec = self.to_spec()
        return {"chip": self.chip, "spec": {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                            for k, v in spec.items()}}

    # simulation -------------------------------------------------------------------------------------------
    def check_input(self, x: Any) -> np.ndarray:
        """``x`` as int64 ``[T, B, N_in]`` events (0..255, the simulator's uint8); raises
        ``InvalidInputError``."""
        arr = np.asarray(x)
        if arr.dtype.kind not in "iub" and not (arr.dtype.kind == "f" and np.all(np.isfinite(arr))
                                                 and np.all(arr == np.rint(arr))):
            raise InvalidInputError(f"xylo input: events must be integers, got dtype {arr.dtype}")
        if arr.ndim != 3 or arr.shape[2] != self.n_in:
            raise InvalidInputError(f"xylo input: expected [T, B, {self.n_in}] events, got shape {arr.shape}")
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() > MAX_INPUT_VALUE):
            bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
            raise InvalidInputError(f"xylo input: event count {bad} is outside [0, {MAX_INPUT_VALUE}] (uint8 "
                                    f"raster; the chip takes at most {MAX_INPUT_EVENTS} events per channel "
                                    "and step)")
        return arr

    def run(self, x: Any) -> ChipRun:
        """Simulate ``x`` ``[T, B, N_in]`` events bit for bit (module docstring).

        Returns ``ChipRun`` with ``spikes = (hidden [T, B, N_hid], readout [T, B, N_out])`` spike counts and
        ``states = {"v": (hidden, readout), "i": (hidden synapse 1, readout), "i2": (hidden synapse 2,)}`` as
        recorded by xylosim after each step (``i2`` is 0 with one synapse).
        """
        x = np.minimum(self.check_input(x), MAX_INPUT_EVENTS)
        n_t, batch = x.shape[:2]
        lo, hi = int_range(STATE_BITS)
        n_hid, n_out, syn = self.n_hidden, self.n_out, self.synapses
        w_in = wrap(self.weights_in.reshape(self.n_in, n_hid * syn) << self.weight_shift_in, STATE_BITS)
        w_rec = wrap(self.weights_rec.reshape(n_hid, n_hid * syn) << self.weight_shift_rec, STATE_BITS)
        # sources in delivery order: inputs, then hidden neurons
        w_hid = np.concatenate([w_in, w_rec], axis=0)
        w_out = wrap(self.weights_out << self.weight_shift_out, STATE_BITS)
        i_hid = np.zeros((batch, n_hid * syn), np.int64)
        v_hid = np.zeros((batch, n_hid), np.int64)
        s_hid = np.zeros((batch, n_hid), np.int64)
        i_out = np.zeros((batch, n_out), np.int64)
        v_out = np.zeros((batch, n_out), np.int64)
        rec = {k: np.zeros((n_t, batch, n), np.int64) for k, n in (("s", n_hid), ("v", n_hid), ("i", n_hid),
                                                                    ("i2", n_hid), ("so", n_out),
                                                                    ("vo", n_out), ("io", n_out))}
        dash_syn = self.dash_syn.reshape(n_hid * syn)
        for t in range(n_t):
            i_hid = saturating_accumulate(i_hid, np.concatenate([x[t], s_hid], axis=1), w_hid, lo, hi)
            i_out = saturating_accumulate(i_out, s_hid, w_out, lo, hi)
            i_hid = i_hid - shift_decay(i_hid, dash_syn)
            s_hid, v_hid = self._evolve(v_hid, i_hid.reshape(batch, n_hid, syn).sum(-1), self.dash_mem,
                                        self.bias, self.threshold, MAX_HIDDEN_SPIKES)
            i_out = i_out - shift_decay(i_out, self.dash_syn_out)
            s_out, v_out = self._evolve(v_out, i_out, self.dash_mem_out, self.bias_out, self.threshold_out,
                                        MAX_OUT_SPIKES)
            i3 = i_hid.reshape(batch, n_hid, syn)
            rec["s"][t], rec["v"][t], rec["i"][t] = s_hid, v_hid, i3[:, :, 0]
            if syn > 1:
                rec["i2"][t] = i3[:, :, 1]
            rec["so"][t], rec["vo"][t], rec["io"][t] = s_out, v_out, i_out
        return ChipRun(spikes=(rec["s"], rec["so"]),
                       states={"v": (rec["v"], rec["vo"]), "i": (rec["i"], rec["io"]), "i2": (rec["i2"],)})

    @staticmethod
    def _evolve(v: np.ndarray, i_sum: np.ndarray, dash_mem: np.ndarray, bias: np.ndarray, theta: np.ndarray,
                n_max: int) -> tuple[np.ndarray, np.ndarray]:
        """Membrane update and multi-spike subtractive reset of one population (``XyloIAFNeuron::evolve``)."""
        dv = wrap(-shift_decay(v, dash_mem), STATE_BITS)
        dv = saturate(dv + i_sum, STATE_BITS)
        dv = saturate(dv + bias, STATE_BITS)
        v = saturate(v + dv, STATE_BITS)
        n = np.where(v >= theta, np.minimum(v // theta, n_max), 0)
        return n, v - n * theta
