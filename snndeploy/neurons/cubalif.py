"""CubaLIF: current-based LIF (a synaptic current I with decay α, a membrane V with decay β), in the operation
order of Xylo or of Loihi 2. One class; ``flavour`` ("xylo" | "loihi") picks the order and the defaults.

Equations, one step (θ = V_th > 0; b = ``bias``, a constant membrane input per step; K = ``max_spikes``):

    flavour "xylo":   I[t] = α·(I[t−1] + X[t])            (input enters I, then I decays in the same step)
    flavour "loihi":  I[t] = α·I[t−1] + X[t]              (I decays, then the input is added)
    both:             H[t] = β·V[t−1] + I[t] + b
    reset "subtract": N[t] = min(max(floor(H/θ), 0), K),  V[t] = H − N·θ       (fires at H ≥ θ)
    reset "zero":     S[t] = Θ(H − θ) (``strict``: H > θ),  V[t] = (1 − S)·H    (binary, K = 1)

Sources. Xylo (xylosim 0.1.3 ``src/v2/cpp/XyloLayer.cpp`` ``XyloLayer::evolve``, ``XyloIAFNeuron.cpp``
``decay``/``evolve``; ``docs/hardware_xylo.md``): input events add to the synaptic current, the current decays
by ``dec(i, dash_syn)``, then ``v += −dec(v, dash_mem) + Σ i + bias``;
``while v ≥ θ and n < n_max: n += 1, v −= θ`` with n_max = 31 for hidden neurons and 1 for the readout; decays
α = 1 − 2^−dash_syn, β = 1 − 2^−dash_mem (``xylo_decay``). Loihi 2 (lava 0.10.0 ``lava/proc/lif/models.py``
``AbstractPyLifModelFixed.subthr_dynamics``, ``reset_voltage``; ``PyLifModelBitAcc``;
``docs/hardware_loihi2.md``): ``u = u·(1 − du) + a``, ``v = v·(1 − dv) + u + bias``, spike when ``v > vth``
(strict), ``v ← 0``, ``u`` is not reset; in fixed point the current decays by (4096 − (du + 1))/4096 (lava's
``ds_offset`` = 1) and the voltage by (4096 − dv)/4096 (``loihi_decays``). Flavour defaults: "xylo" → reset
"subtract", ``strict=False``, ``max_spikes=31`` (set 1 for a readout layer); "loihi" → reset "zero",
``strict=True``, ``max_spikes=1``.

Decays are given as time constants in steps (α = 1 − 1/τ_syn, β = 1 − 1/τ_mem: the forward-Euler step of
``exporters.lifspec``, and Xylo's dash = log₂ τ) or directly as ``alpha``/``beta`` (e.g. ``xylo_decay(dash)``,
``loihi_decays(du, dv)``; the class methods ``CubaLIF.xylo`` and ``CubaLIF.loihi`` take the chip's registers).

Float order (one fixed order, so that every runtime gives the same bits): the lines above, left to right, in
float32 (``I + X`` then ``α·``; ``β·V`` then ``+ I`` then ``+ b``).

Chip-integer mode (``lsb`` = the float value of one chip state unit, a power of two). The chips decay in
integer arithmetic; with ``lsb`` set the neuron rounds the decays and limits the states exactly like the chip
of its flavour, in units k = value/lsb (exact in float32 while |k| < 2**24):

    xylo:   I = sat16(I + X);  I = I − dec(I, dash_syn);  dv = sat16(wrap16(−dec(V, dash_mem)) + I);
            dv = sat16(dv + b);  V = sat16(V + dv);  then the reset above
            dec(k, d) = floor(k·2^−d), or sign(k) where that is 0 (an arithmetic shift with xylosim's ±1 rule)
    loihi:  I = wrap24(trunc(I·α) + X);  V = clip(trunc(V·β) + I + b, ±(2**23 − 1));  then the reset above
            (trunc toward 0: lava's sign-magnitude shift sgn(y)·(|y| >> 12); the products in float64, exact)

where sat16 clamps to [−32768, 32767] units and wrap24 is lava's one-step wrap (k − 2**24 if k > 2**23, k +
2**24 if k ≤ −2**23). Then α, β must be the chip's values (1 − 2^−dash; a multiple of 1/4096) and θ and b
multiples of ``lsb``; with inputs X that are multiples of ``lsb`` (weights on the chip grid times integer
spike counts) the float neuron equals the chip's integer neuron spike for spike (``docs/hardware_xylo.md``,
``docs/hardware_loihi2.md``, measured there). Not modelled: the order of xylosim's per-event saturating input
additions (I is saturated once after the whole input; identical unless a partial sum leaves 16 bits), lava's
int32 casts of the Dense output. Gradients pass through the integer rounding, the saturation and the wrap as
through the plain decays (straight-through: ∂I/∂I_prev = α, ∂V/∂V_prev = β).

Gradients: the surrogate of the spike (count) as in ``iaf.py`` (the binary Θ(H − θ) when ``max_spikes`` = 1; a
strict spike is Θ(H − θ) minus a detached correction at H = θ, so its surrogate gradient is sg(H − θ) too).
``detach_reset``: no gradient through the spike in the reset.

Engine: only the reference ``torch``; ``auto`` resolves to it (no hand-written BPTT engine: skipped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..errors import InvalidParameterError
from .base import NeuronModule, check_finite_number, check_seq, check_threshold, run_steps
from .dynamics import fire
from .engine import Backend, register_impl
from .iaf import check_max_spikes, spike_count
from .surrogate import Sigmoid, Surrogate, get_surrogate

__all__ = [
    "CubaLIF",
    "CubaLIFParams",
    "CubaLIFState",
    "FLAVOURS",
    "cubalif_init_state",
    "cubalif_step",
    "cubalif_seq",
    "xylo_decay",
    "loihi_decays",
    "xylo_dash",
    "loihi_registers",
]

FLAVOURS = ("xylo", "loihi")
RESETS = ("subtract", "zero")
#: Per flavour: (reset, strict, max_spikes) when not given.
FLAVOUR_DEFAULTS: dict[str, tuple[str, bool, int | None]] = {
    "xylo": ("subtract", False, 31),
    "loihi": ("zero", True, 1),
}
_XYLO_MAX_DASH = 15  # 4-bit dash registers (xylosim; rockpool's mapper)
_LOIHI_UNITY = 4096  # lava decay_unity = 2**12
_S16 = (-32768.0, 32767.0)
_U24 = 2.0**23
_V24 = 2.0**23 - 1.0


def xylo_decay(dash: int) -> float:
    """Xylo's bit-shift decay 1 − 2^−dash (dash 0..15)."""
    if isinstance(dash, bool) or not isinstance(dash, int) or not 0 <= dash <= _XYLO_MAX_DASH:
        raise InvalidParameterError(f"dash must be an integer in [0, {_XYLO_MAX_DASH}], got {dash!r}")
    return 1.0 - 2.0**-dash


def loihi_decays(du: int, dv: int) -> tuple[float, float]:
    """(α, β) of lava's fixed-point CUBA LIF: ((4095 − du)/4096, (4096 − dv)/4096), du, dv 12-bit."""
    for name, d in (("du", du), ("dv", dv)):
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= _LOIHI_UNITY - 1:
            raise InvalidParameterError(f"{name} must be an integer in [0, 4095] (12-bit), got {d!r}")
    return (_LOIHI_UNITY - 1 - du) / _LOIHI_UNITY, (_LOIHI_UNITY - dv) / _LOIHI_UNITY


def xylo_dash(decay: float) -> int | None:
    """The dash with 1 − 2^−dash = ``decay`` exactly (0..15), else ``None``."""
    if decay >= 1.0:
        return None
    d = -math.log2(1.0 - decay) if decay > 0.0 else 0.0
    k = round(d)
    return k if 0 <= k <= _XYLO_MAX_DASH and 1.0 - 2.0**-k == decay else None


def loihi_registers(alpha: float, beta: float) -> tuple[int | None, int | None]:
    """(du, dv) with ``loihi_decays(du, dv) == (alpha, beta)`` exactly, each ``None`` when there is none."""
    a, b = alpha * _LOIHI_UNITY, beta * _LOIHI_UNITY
    du = _LOIHI_UNITY - 1 - int(a) if a == int(a) and 0 <= a <= _LOIHI_UNITY - 1 else None
    dv = _LOIHI_UNITY - int(b) if b == int(b) and 1 <= b <= _LOIHI_UNITY else None
    return du, dv


def _is_power_of_two(x: float) -> bool:
    m, _ = math.frexp(x)
    return m == 0.5


def _check_multiple(name: str, value: float, lsb: float) -> None:
    k = value / lsb
    if k != math.floor(k) or abs(k) >= 2**24:
        raise InvalidParameterError(
            f"{name} = {value!r} is not an integer multiple of lsb = {lsb!r} below 2**24 units (chip-integer "
            f"mode needs it on the chip grid: {name}/lsb = {k!r})"
        )


@dataclass(frozen=True)
class CubaLIFParams:
    """CubaLIF parameters (validated; see the module docstring). α ∈ [0, 1), β ∈ [0, 1]."""

    alpha: float = 0.5
    beta: float = 0.5
    v_threshold: float = 1.0
    flavour: str = "xylo"
    reset: str = "subtract"
    strict: bool = False
    max_spikes: int | None = 31
    bias: float = 0.0
    lsb: float | None = None
    detach_reset: bool = False
    surrogate: Surrogate = field(default_factory=Sigmoid)

    def __post_init__(self) -> None:
        if self.flavour not in FLAVOURS:
            raise InvalidParameterError(f"flavour must be one of {', '.join(FLAVOURS)}, got {self.flavour!r}")
        alpha = check_finite_number("alpha", self.alpha)
        if not 0.0 <= alpha < 1.0:
            raise InvalidParameterError(f"alpha (the current decay) must lie in [0, 1), got {alpha}")
        beta = check_finite_number("beta", self.beta)
        if not 0.0 <= beta <= 1.0:
            raise InvalidParameterError(f"beta (the membrane decay) must lie in [0, 1], got {beta}")
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "beta", beta)
        object.__setattr__(self, "v_threshold", check_threshold("v_threshold", self.v_threshold))
        object.__setattr__(self, "bias", check_finite_number("bias", self.bias))
        if self.reset not in RESETS:
            raise InvalidParameterError(f"reset must be one of {', '.join(RESETS)}, got {self.reset!r}")
        if not isinstance(self.strict, bool):
            raise InvalidParameterError(f"strict must be a bool, got {self.strict!r}")
        object.__setattr__(self, "max_spikes", check_max_spikes("max_spikes", self.max_spikes))
        if (self.reset == "zero" or self.strict) and self.max_spikes != 1:
            why = "reset 'zero'" if self.reset == "zero" else "strict=True"
            raise InvalidParameterError(
                f"max_spikes must be 1 with {why} (binary spikes: Loihi's neuron), got {self.max_spikes!r}"
            )
        if not isinstance(self.detach_reset, bool):
            raise InvalidParameterError(f"detach_reset must be a bool, got {self.detach_reset!r}")
        if not isinstance(self.surrogate, Surrogate):
            raise InvalidParameterError(f"surrogate must be a Surrogate, got {type(self.surrogate).__name__}")
        if self.lsb is not None:
            self._check_grid()

    def _check_grid(self) -> None:
        lsb = check_finite_number("lsb", self.lsb)
        if lsb <= 0 or not _is_power_of_two(lsb):
            raise InvalidParameterError(
                f"lsb must be a power of two > 0 (so that float32 holds the chip's integers exactly), got "
                f"{lsb!r}"
            )
        object.__setattr__(self, "lsb", lsb)
        _check_multiple("v_threshold", self.v_threshold, lsb)
        _check_multiple("bias", self.bias, lsb)
        if self.flavour == "xylo":
            for name, d in (("alpha", self.alpha), ("beta", self.beta)):
                if xylo_dash(d) is None:
                    near = round(-math.log2(1.0 - d)) if 0 < d < 1 else 0
                    raise InvalidParameterError(
                        f"{name} = {d!r} is not a Xylo decay 1 - 2**-dash (dash 0..15) as chip-integer mode "
                        f"(lsb set) needs; nearest dash {near}: {1 - 2.0 ** -min(max(near, 0), 15)!r}"
                    )
        else:
            du, dv = loihi_registers(self.alpha, self.beta)
            for name, d, reg, what in (("alpha", self.alpha, du, "(4095 - du)/4096"),
                                       ("beta", self.beta, dv, "(4096 - dv)/4096")):
                if reg is None:
                    raise InvalidParameterError(
                        f"{name} = {d!r} is not a Loihi decay {what} with a 12-bit register as chip-integer "
                        f"mode (lsb set) needs; nearest: {round(d * 4096) / 4096!r}"
                    )

    @property
    def dashes(self) -> tuple[int | None, int | None]:
        """(dash_syn, dash_mem) when α, β are Xylo decays, else ``None`` entries."""
        return xylo_dash(self.alpha), xylo_dash(self.beta)


class CubaLIFState(NamedTuple):
    i: Tensor
    v: Tensor


def cubalif_init_state(x: Tensor) -> CubaLIFState:
    """Zero state (I, V) shaped like one time step ``x`` ([B, *]), float32."""
    z = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
    return CubaLIFState(z, z.clone())


def _ste(plain: Tensor, exact: Tensor) -> Tensor:
    """``exact``'s value, bit for bit, with ``plain``'s gradient (straight-through: plain − plain is +0)."""
    return exact.detach() + (plain - plain.detach())


def _trunc(y: Tensor) -> Tensor:
    """Truncation toward zero of an integer-valued-range float by a cast (ONNX: Cast; exact below 2**63)."""
    return y.to(torch.int64).to(y.dtype)


def _xylo_dec(k: Tensor, dash: int) -> Tensor:
    """dec(k, d) = floor(k·2^−d), or sign(k) where that is 0 (xylosim ``decay``), on integer-valued floats.

    floor(y) = trunc(y) − [trunc(y) > y]; f = 0 with k ≠ 0 only happens for 0 < k < 2^d (a negative k
    floors to ≤ −1), where the decrement is 1. Written with the ops snndeploy's ONNX files may hold (no
    Floor/Sign)."""
    y = k * (2.0**-dash)
    t = _trunc(y)
    f = t - (t > y).to(k.dtype)
    return f + (k > 0).to(k.dtype) * (1.0 - (f > 0).to(k.dtype))


def _sat16(k: Tensor) -> Tensor:
    return torch.clamp(k, *_S16)


def _xylo_integer(x: Tensor, i: Tensor, v: Tensor, p: CubaLIFParams) -> tuple[Tensor, Tensor]:
    lsb = p.lsb
    d_syn, d_mem = p.dashes
    ki = _sat16((i + x) / lsb)
    ki = ki - _xylo_dec(ki, d_syn)
    kv = v / lsb
    dv = -_xylo_dec(kv, d_mem)
    dv = torch.where(dv > _S16[1], dv - 65536.0, dv)  # int16_t dv_mem = −decay(...): wraps only at −(−32768)
    dv = _sat16(_sat16(dv + ki) + p.bias / lsb)
    kv = _sat16(kv + dv)
    i_plain = p.alpha * (i + x)
    return _ste(i_plain, ki * lsb), _ste(p.beta * v + i_plain + p.bias, kv * lsb)


def _trunc_decay(k: Tensor, decay: float) -> Tensor:
    """trunc(k·decay) exactly: the product in float64 (k < 2**24 units, decay·4096 an integer < 2**13)."""
    return _trunc(k.double() * decay).float()


def _loihi_integer(x: Tensor, i: Tensor, v: Tensor, p: CubaLIFParams) -> tuple[Tensor, Tensor]:
    lsb = p.lsb
    ku = _trunc_decay(i / lsb, p.alpha) + x / lsb
    low = torch.gt(ku.new_tensor(1.0 - _U24), ku)  # k ≤ −2**23 on integers (ONNX: Greater, no LessOrEqual)
    ku = torch.where(ku > _U24, ku - 2 * _U24, torch.where(low, ku + 2 * _U24, ku))
    kv = torch.clamp(_trunc_decay(v / lsb, p.beta) + ku + p.bias / lsb, -_V24, _V24)
    i_plain = p.alpha * i + x
    return _ste(i_plain, ku * lsb), _ste(p.beta * v + i_plain + p.bias, kv * lsb)


def _charge(x: Tensor, state: CubaLIFState, p: CubaLIFParams) -> tuple[Tensor, Tensor]:
    """(I[t], H[t]) in the flavour's order (module docstring)."""
    i, v = state
    if p.lsb is not None:
        return (_xylo_integer if p.flavour == "xylo" else _loihi_integer)(x, i, v, p)
    i = p.alpha * (i + x) if p.flavour == "xylo" else p.alpha * i + x
    h = p.beta * v + i
    if p.bias != 0.0:
        h = h + p.bias
    return i, h


def cubalif_step(x: Tensor, state: CubaLIFState, params: CubaLIFParams) -> tuple[Tensor, CubaLIFState]:
    """One CubaLIF step (reference, autograd through the surrogate). ``x``: [B, *] float32."""
    p = params
    i, h = _charge(x, state, p)
    if p.strict:  # Θ(H − θ) minus the tie H = θ, a detached correction: fires at H > θ, gradient sg(H − θ)
        ge = fire(h, p.v_threshold, p.surrogate)
        s = ge - (1.0 - (h > p.v_threshold).to(h.dtype)) * ge.detach()
    else:
        s = spike_count(h, p.v_threshold, p.max_spikes, p.surrogate)
    s_r = s.detach() if p.detach_reset else s
    v = h - s_r * p.v_threshold if p.reset == "subtract" else (1.0 - s_r) * h
    return s, CubaLIFState(i, v)


@register_impl("cubalif", Backend.TORCH)
def cubalif_seq(
    x_seq: Tensor, params: CubaLIFParams, state: CubaLIFState | None = None
) -> tuple[Tensor, CubaLIFState]:
    """CubaLIF over a sequence ``x_seq`` [T, B, *] by autograd through a plain loop (the reference)."""
    check_seq(x_seq, state)
    state = state if state is not None else cubalif_init_state(x_seq[0])
    return run_steps(cubalif_step, x_seq, params, state)


def _decay(tau_name: str, decay: float | None, tau: float) -> float:
    """``decay`` when given, else 1 − 1/τ (τ ≥ 1 step)."""
    if decay is not None:
        return decay
    tau = check_finite_number(tau_name, tau)
    if tau < 1.0:
        raise InvalidParameterError(f"{tau_name} must be >= 1 step (decay 1 - 1/{tau_name} >= 0), got {tau}")
    return 1.0 - 1.0 / tau


class CubaLIF(NeuronModule):
    """Current-based LIF layer, Xylo or Loihi 2 order (module docstring). ``forward(x_seq)``: [T, B, *] →
    spikes (counts for ``reset="subtract"`` with ``max_spikes`` > 1) [T, B, *].

    Args:
        tau_syn, tau_mem: time constants in steps (≥ 1): α = 1 − 1/τ_syn, β = 1 − 1/τ_mem.
        v_threshold: θ > 0.
        flavour: ``"xylo"`` (input decays with the current in its step) or ``"loihi"`` (input added after).
        alpha, beta: the decays themselves (override ``tau_syn``/``tau_mem``); ``CubaLIF.xylo`` /
            ``CubaLIF.loihi`` take the chips' registers.
        reset: ``"subtract"`` (θ per spike, Xylo) or ``"zero"`` (Loihi); ``None``: the flavour's.
        strict: fire at H > θ (Loihi) instead of H ≥ θ; ``None``: the flavour's.
        max_spikes: spikes per step (int ≥ 1, or ``None`` for no cap); ``"auto"``: the flavour's (Xylo 31,
            Loihi 1). Use 1 for a Xylo readout layer.
        bias: constant added to the membrane every step (the chips' per-neuron bias, one value per layer).
        lsb: chip-integer mode (module docstring): the float value of one chip state unit, a power of two.
        surrogate, detach_reset, backend, step_mode, check_inputs: as for ``LIF`` (engine: ``torch`` only).
    """

    neuron_name = "cubalif"

    def __init__(
        self,
        tau_syn: float = 2.0,
        tau_mem: float = 2.0,
        v_threshold: float = 1.0,
        flavour: str = "xylo",
        alpha: float | None = None,
        beta: float | None = None,
        reset: str | None = None,
        strict: bool | None = None,
        max_spikes: int | str | None = "auto",
        bias: float = 0.0,
        lsb: float | None = None,
        surrogate: Surrogate | str | None = None,
        detach_reset: bool = False,
        backend: str = "auto",
        step_mode: str = "m",
        check_inputs: bool = True,
    ):
        super().__init__(backend, step_mode, check_inputs)
        if flavour not in FLAVOURS:
            raise InvalidParameterError(f"flavour must be one of {', '.join(FLAVOURS)}, got {flavour!r}")
        d_reset, d_strict, d_max = FLAVOUR_DEFAULTS[flavour]
        if isinstance(max_spikes, str) and max_spikes != "auto":
            raise InvalidParameterError(
                f"max_spikes must be 'auto', None or an integer >= 1, got {max_spikes!r}"
            )
        self._params = CubaLIFParams(
            _decay("tau_syn", alpha, tau_syn),
            _decay("tau_mem", beta, tau_mem),
            v_threshold,
            flavour,
            d_reset if reset is None else reset,
            d_strict if strict is None else strict,
            d_max if max_spikes == "auto" else max_spikes,
            bias,
            lsb,
            detach_reset,
            get_surrogate(surrogate, Sigmoid),
        )

    @classmethod
    def xylo(cls, dash_syn: int, dash_mem: int, v_threshold: float = 1.0, **kwargs: Any) -> CubaLIF:
        """Xylo's registers: α = 1 − 2^−dash_syn, β = 1 − 2^−dash_mem (other arguments as ``__init__``)."""
        return cls(v_threshold=v_threshold, flavour="xylo", alpha=xylo_decay(dash_syn),
                   beta=xylo_decay(dash_mem), **kwargs)

    @classmethod
    def loihi(cls, du: int, dv: int, v_threshold: float = 1.0, **kwargs: Any) -> CubaLIF:
        """Loihi's registers: α = (4095 − du)/4096, β = (4096 − dv)/4096 (other arguments as ``__init__``)."""
        alpha, beta = loihi_decays(du, dv)
        return cls(v_threshold=v_threshold, flavour="loihi", alpha=alpha, beta=beta, **kwargs)

    def params(self) -> CubaLIFParams:
        return self._params

    def init_state(self, x: Tensor) -> CubaLIFState:
        return cubalif_init_state(x)

    step = staticmethod(cubalif_step)
