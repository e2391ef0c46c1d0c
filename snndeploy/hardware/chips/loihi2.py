"""Intel Loihi 2: a bit-accurate integer model of lava's fixed-point Dense + CUBA LIF chain (``fixed_pt``).

A ``Loihi2Network`` is a chain of layers, each one lava ``Dense`` (weights, ``weight_exp``,
``num_weight_bits``, ``sign_mode``) feeding one lava ``LIF`` population (``du``, ``dv``, ``vth``, per-neuron
``bias_mant``/``bias_exp``). The input ``x`` ``[T, B, N_in]`` enters the first Dense like lava's
``RingBuffer`` source: binary spikes (``input_message_bits = 0``) or graded integer payloads (``> 0``).
``run`` reproduces, per step t and layer, with all arithmetic in the integer types lava uses (numpy ``int32``
arrays wrap modulo 2³²):

Dense (``lava/proc/dense/models.py`` ``AbstractPyDenseModelBitAcc.run_spk``; ``lava/utils/weightutils.py``
``determine_sign_mode``, ``clip_weights``, ``truncate_weights``), once at the first step:

    m      = sign_mode, or from the weights: EXCITATORY if min w ≥ 0, INHIBITORY if max w ≤ 0, else MIXED
    w      = clip(w, −256, 255) (MIXED) | clip(w, 0, 255) (EXC.) | −clip(−w, 0, 255) (INH.)
    k      = 8 − num_weight_bits + [m = MIXED]
    w      = (w >> k) << k    (INHIBITORY: −((−w >> k) << k), i.e. toward 0)

then every step (one step of delay: the value sent at t is the one accumulated at t − 1, zero at t = 0):

    acc[t] = Σ_j w_ij·[x_j[t] ≠ 0]                    binary spikes (int64 sum)
    acc[t] = int32(Σ_j w_ij·x_j[t])                   graded input (int32 dot product)
    a[t+1] = int32(acc << weight_exp)  (weight_exp ≥ 0)  |  int32(acc >> −weight_exp)  (arithmetic, toward −∞)

LIF (``lava/proc/lif/models.py`` ``AbstractPyLifModelFixed.subthr_dynamics``, ``reset_voltage``,
``scale_bias``; ``PyLifModelBitAcc.scale_threshold``, ``spiking_activation``), per step, int32 arithmetic:

    u'   = int32(sgn(y)·(|y| >> 12) + int32(a << 6)),  y = u[t−1]·(4096 − (du + 1))   (+1: ``ds_offset``)
    u[t] = u' − 2²⁴ if u' > 2²³;  u' + 2²⁴ if u' ≤ −2²³;  else u'         (one 24-bit wrap, as lava does it)
    v'   = int32(sgn(z)·(|z| >> 12) + u[t] + (bias_mant << bias_exp)),  z = v[t−1]·(4096 − dv)
    v[t] = clip(v', −(2²³ − 1), 2²³ − 1)
    s[t] = v[t] > (vth << 6)   (strict);   v[t] ← 0 where s[t]   (u is not reset; no refractory period)

So layer l's spikes lag the input by l + 1 steps. A plain LIF (no current state) is ``du = 4095`` (u = a <<
6).

Register widths (refused outside them): du, dv 12-bit unsigned; vth 17-bit unsigned; bias_mant 13-bit signed;
bias_exp 0..7 (``PyLifModelBitAcc`` docstring); weights within [−256, 255] (``weightutils._validate_weights``
for MIXED); num_weight_bits 1..8. Not from lava (its Python models check nothing): weight_exp within [−8, 7]
(a 4-bit signed field; unsourced for Loihi 2) and graded inputs within the 24-bit payload of
``PyLifModelBitAcc.s_out``. lava documents these registers against Loihi 1;
``Loihi2SimCfg(select_tag="fixed_pt")`` selects these models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import InvalidParameterError
from .base import ChipRun
from .loihi2_intmath import (
    as_int_array,
    check_input,
    check_int_range,
    check_int_scalar,
    shift,
    shift_right_trunc,
    wrap_signed,
)

__all__ = [
    "MIXED",
    "EXCITATORY",
    "INHIBITORY",
    "SIGN_MODES",
    "Loihi2Layer",
    "Loihi2Network",
    "determine_sign_mode",
    "effective_weights",
]

#: lava ``SignMode`` values (``lava/utils/weightutils.py``).
MIXED, EXCITATORY, INHIBITORY = 1, 2, 3
SIGN_MODES = {"mixed": MIXED, "excitatory": EXCITATORY, "inhibitory": INHIBITORY}

DECAY_MAX = 4095  # du, dv: 12-bit unsigned
VTH_MAX = 2**17 - 1  # vth: 17-bit unsigned
BIAS_MANT = (-4096, 4095)  # 13-bit signed
BIAS_EXP = (0, 7)  # 3-bit
WEIGHT_RANGE = (-256, 255)
WEIGHT_EXP = (-8, 7)
GRADED_RANGE = (-(2**23), 2**23 - 1)
UV_MAX = 2**23  # lava's max_uv_val
V_LIMIT = UV_MAX - 1


def determine_sign_mode(weights: np.ndarray) -> int:
    """lava's ``determine_sign_mode``: EXCITATORY if min ≥ 0, INHIBITORY if max ≤ 0, else MIXED."""
    if weights.size == 0 or int(weights.min()) >= 0:
        return EXCITATORY
    return INHIBITORY if int(weights.max()) <= 0 else MIXED


def effective_weights(weights: np.ndarray, num_weight_bits: int, sign_mode: int | None) -> np.ndarray:
    """The weights lava's bit-accurate Dense uses: clipped to the sign mode's 8-bit range, then the low
    ``8 − num_weight_bits + [MIXED]`` bits dropped (``clip_weights`` then ``truncate_weights``)."""
    mode = determine_sign_mode(weights) if sign_mode is None else sign_mode
    w = np.asarray(weights, dtype=np.int64)
    neg = mode == INHIBITORY
    if neg:
        w = -w
    w = np.clip(w, -256 if mode == MIXED else 0, 255)
    k = 8 - num_weight_bits + (mode == MIXED)
    w = np.left_shift(np.right_shift(w, k), k)
    return -w if neg else w


@dataclass(frozen=True, eq=False)
class Loihi2Layer:
    """One lava ``Dense`` → ``LIF`` pair with the parameters lava's processes take (integers; module
    docstring).

    Args:
        name: layer name (used in every error message).
        weights: ``[N_out, N_in]`` integer weights as passed to ``Dense(weights=...)``, within [−256, 255].
        vth: threshold mantissa (17-bit); the neuron fires when v > vth << 6.
        du, dv: current and voltage decays (12-bit; du = 4095 removes the current state).
        bias_mant, bias_exp: per-neuron bias mantissa (13-bit signed) and exponent (0..7); scalars broadcast.
        weight_exp, num_weight_bits, sign_mode: the Dense's shared exponent, weight precision and sign mode
            (``None``: lava determines it from the weights).
    """

    name: str
    weights: np.ndarray
    vth: int
    du: int = DECAY_MAX
    dv: int = 0
    bias_mant: Any = 0
    bias_exp: Any = 0
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: int | None = None

    def __post_init__(self) -> None:
        where = f"loihi2 layer {self.name!r}"
        w = as_int_array(self.weights, where, "weights")
        if w.ndim != 2:
            raise InvalidParameterError(f"{where}: weights must be [N_out, N_in], got shape {w.shape}")
        check_int_range(w, where, "weights", *WEIGHT_RANGE, "lava's 8-bit weight field with sign")
        n = (w.shape[0],)
        bm = as_int_array(self.bias_mant, where, "bias_mant", n)
        check_int_range(bm, where, "bias_mant", *BIAS_MANT, "13-bit signed mantissa")
        be = as_int_array(self.bias_exp, where, "bias_exp", n)
        check_int_range(be, where, "bias_exp", *BIAS_EXP, "3-bit exponent")
        mode = self.sign_mode
        if mode is not None:
            mode = check_int_scalar(
                SIGN_MODES.get(mode, mode) if isinstance(mode, str) else mode,
                where,
                "sign_mode",
                MIXED,
                INHIBITORY,
                "1 mixed, 2 excitatory, 3 inhibitory",
            )
        scalars = {
            "vth": (0, VTH_MAX, "17-bit mantissa"),
            "du": (0, DECAY_MAX, "12-bit decay"),
            "dv": (0, DECAY_MAX, "12-bit decay"),
            "weight_exp": (*WEIGHT_EXP, "unsourced 4-bit exponent"),
            "num_weight_bits": (1, 8, "weight precision"),
        }
        for f, (lo, hi, what) in scalars.items():
            object.__setattr__(self, f, check_int_scalar(getattr(self, f), where, f, lo, hi, what))
        for f, value in (("weights", w), ("bias_mant", bm), ("bias_exp", be), ("sign_mode", mode)):
            object.__setattr__(self, f, value)

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    @property
    def resolved_sign_mode(self) -> int:
        return determine_sign_mode(self.weights) if self.sign_mode is None else int(self.sign_mode)

    @property
    def effective_weights(self) -> np.ndarray:
        """``[N_out, N_in]`` weights after lava's clipping and truncation (before ``weight_exp``)."""
        return effective_weights(self.weights, self.num_weight_bits, self.sign_mode)

    @property
    def effective_bias(self) -> np.ndarray:
        """``bias_mant << bias_exp`` per neuron (lava's ``scale_bias``)."""
        return np.left_shift(self.bias_mant, self.bias_exp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights": self.weights.tolist(),
            "vth": self.vth,
            "du": self.du,
            "dv": self.dv,
            "bias_mant": self.bias_mant.tolist(),
            "bias_exp": self.bias_exp.tolist(),
            "weight_exp": self.weight_exp,
            "num_weight_bits": self.num_weight_bits,
            "sign_mode": self.sign_mode,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Loihi2Layer:
        try:
            return cls(
                **{
                    k: d[k]
                    for k in (
                        "name",
                        "weights",
                        "vth",
                        "du",
                        "dv",
                        "bias_mant",
                        "bias_exp",
                        "weight_exp",
                        "num_weight_bits",
                        "sign_mode",
                    )
                }
            )
        except KeyError as exc:
            raise InvalidParameterError(f"loihi2 layer record is missing field {exc.args[0]!r}") from None


@dataclass(frozen=True, eq=False)
class Loihi2Network:
    """A chain of ``Loihi2Layer``s fed by binary spikes (``input_message_bits = 0``) or graded integers."""

    layers: tuple[Loihi2Layer, ...]
    input_message_bits: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers or not all(isinstance(layer, Loihi2Layer) for layer in layers):
            raise InvalidParameterError("Loihi2Network needs a non-empty sequence of Loihi2Layer")
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"Loihi2Network: layer names must be unique, got {names}")
        for prev, nxt in zip(layers, layers[1:], strict=False):
            if nxt.n_in != prev.n_out:
                raise InvalidParameterError(
                    f"loihi2 layer {nxt.name!r}: weights take {nxt.n_in} inputs but layer "
                    f"{prev.name!r} has {prev.n_out} neurons"
                )
        object.__setattr__(self, "layers", layers)
        object.__setattr__(
            self,
            "input_message_bits",
            check_int_scalar(
                self.input_message_bits,
                "Loihi2Network",
                "input_message_bits",
                0,
                24,
                "0: binary spikes, else graded",
            ),
        )
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def delays(self) -> tuple[int, ...]:
        """Steps by which each layer's spikes lag the input (one per Dense)."""
        return tuple(range(1, len(self.layers) + 1))

    def check_input(self, x: Any) -> np.ndarray:
        """``x`` validated as ``[T, B, N_in]`` integers: 0/1 spikes, or 24-bit graded values."""
        if self.input_message_bits == 0:
            return check_input(
                x,
                self.n_in,
                "Loihi2Network",
                0,
                1,
                "binary spikes; graded input needs input_message_bits > 0",
            )
        return check_input(x, self.n_in, "Loihi2Network", *GRADED_RANGE, "24-bit graded payload")

    def run(self, x: Any, states: bool = True) -> ChipRun:
        """Simulate ``x`` ``[T, B, N_in]`` with lava's fixed-point arithmetic (module docstring), bit for bit.

        Returns spikes ``[T, B, N]`` per layer and, with ``states``, ``u`` and ``v`` per layer after each step
        (after the reset), as lava's ``Monitor`` reads them.
        """
        x = self.check_input(x)
        t_steps, batch = x.shape[:2]
        graded = self.input_message_bits > 0
        spikes: list[np.ndarray] = []
        us: list[np.ndarray] = []
        vs: list[np.ndarray] = []
        inp = x
        for li, layer in enumerate(self.layers):
            w = layer.effective_weights
            bias = layer.effective_bias
            vth6 = np.int64(layer.vth) << 6
            u = np.zeros((batch, layer.n_out), np.int64)
            v = np.zeros((batch, layer.n_out), np.int64)
            a = np.zeros((batch, layer.n_out), np.int64)
            s_out = np.zeros((t_steps, batch, layer.n_out), np.int64)
            u_out = np.zeros_like(s_out) if states else None
            v_out = np.zeros_like(s_out) if states else None
            for t in range(t_steps):
                # LIF step on the Dense output accumulated at t - 1 (``a``); then the Dense takes in step t.
                cur = wrap_signed(
                    shift_right_trunc(u * (4096 - (layer.du + 1)), 12) + wrap_signed(a << 6, 32), 32
                )
                u = np.where(cur > UV_MAX, cur - 2 * UV_MAX, np.where(cur <= -UV_MAX, cur + 2 * UV_MAX, cur))
                vol = wrap_signed(shift_right_trunc(v * (4096 - layer.dv), 12) + u + bias, 32)
                v = np.clip(vol, -V_LIMIT, V_LIMIT)
                s = v > vth6
                v = np.where(s, 0, v)
                s_out[t] = s
                if states:
                    u_out[t] = u
                    v_out[t] = v
                if li == 0 and graded:
                    acc = wrap_signed(inp[t] @ w.T, 32)
                else:
                    acc = (inp[t] != 0).astype(np.int64) @ w.T
                a = wrap_signed(shift(acc, layer.weight_exp), 32)
            spikes.append(s_out)
            if states:
                us.append(u_out)
                vs.append(v_out)
            inp = s_out
        return ChipRun(tuple(spikes), {"u": tuple(us), "v": tuple(vs)} if states else {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "chip": "loihi2",
            "input_message_bits": self.input_message_bits,
            "layers": [layer.to_dict() for layer in self.layers],
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Loihi2Network:
        if d.get("chip", "loihi2") != "loihi2":
            raise InvalidParameterError(f"not a Loihi 2 network record (chip = {d.get('chip')!r})")
        return cls(
            tuple(Loihi2Layer.from_dict(layer) for layer in d.get("layers", [])),
            d.get("input_message_bits", 0),
            d.get("meta", {}),
        )
