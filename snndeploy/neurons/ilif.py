"""ILIF: temporal inhibitory leaky integrate-and-fire (Sun et al. 2025, "ILIF: Temporal Inhibitory Leaky
Integrate-and-Fire Neuron for Overactivation in Spiking Neural Networks"). Not spikingjelly's integer
``ILIFNode``.

Equations (Θ(z) = 1 if z ≥ 0; σ the logistic sigmoid; γ = ``inhibition``):

    I[t]  = γ·(I[t−1] + x[t−1]·s[t−1])              (inhibition trace of the last step's spiking input)
    H[t]  = v[t−1] − v[t−1]/τ + x[t] − max(I[t], 0)  (= β·v + x − max(I, 0))
    s[t]  = Θ(H[t] − V_th)
    v'[t] = H[t] − s[t]·V_th
    m[t]  = m[t−1] + s[t]·v'[t]                       (membrane-inhibition memory)
    v[t]  = v'[t] − s[t]·σ(m[t])

then x[t−1] ← x[t], s[t−1] ← s[t]. All states start at 0. Defaults ``tau=1.1, v_threshold=1.0,
inhibition=0.03``, Sigmoid(α=4) surrogate. ``detach_reset`` stops the gradient through the spike factor of the
two reset lines.

BPTT (the hand-written engines ``eager`` and ``numba``: ``ILIFFunction``), per step in reverse; g_v, g_m
arrive at v[t], m[t]; g_P = γ·g_I[t+1] is the gradient of P[t] = I[t] + x[t]·s[t]:
    g_s  = g_spike[t] + g_P·x[t] − g_v·σ(m) ;          g_m* = g_m − g_v·s·σ'(m)
    g_s += g_m*·v' ;  g_v' = g_v + g_m*·s ;  g_s −= g_v'·V_th   (V_th, σ(m) terms dropped with detach_reset)
    g_H  = g_v' + g_s·sg(H − V_th)
    g_x[t] = g_H + g_P·s ;  g_v[t−1] = β·g_H ;  g_m[t−1] = g_m* ;
    g_I[t] = g_P − g_H·[I > 0] ;  g_P[t−1] = γ·g_I[t]
Saved for backward: H and m (float32), [I > 0] (bool) and the input x: 9 bytes per neuron-step plus x.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import InvalidParameterError
from .base import (
    NeuronModule,
    check_finite_number,
    check_seq,
    check_tau,
    check_threshold,
    grad_needed,
    run_steps,
)
from .bptt import BPTTLoops, grad_buffer, name_seq
from .dynamics import charge, fire
from .engine import Backend, SeqFn, deprecated_seq, register_impl
from .surrogate import Sigmoid, Surrogate, get_surrogate

__all__ = [
    "ILIF",
    "ILIFParams",
    "ILIFState",
    "ilif_init_state",
    "ilif_step",
    "ilif_seq",
    "ILIFFunction",
    "make_seq",
    "ilif_seq_bptt",
]


@dataclass(frozen=True)
class ILIFParams:
    """ILIF parameters (validated; τ > 1, V_th > 0, 0 ≤ inhibition < 1)."""

    tau: float = 1.1
    v_threshold: float = 1.0
    inhibition: float = 0.03
    detach_reset: bool = False
    surrogate: Surrogate = field(default_factory=Sigmoid)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", check_tau("tau", self.tau))
        object.__setattr__(self, "v_threshold", check_threshold("v_threshold", self.v_threshold))
        g = check_finite_number("inhibition", self.inhibition)
        if not 0.0 <= g < 1.0:
            raise InvalidParameterError(f"inhibition must lie in [0, 1), got {g}")
        object.__setattr__(self, "inhibition", g)


class ILIFState(NamedTuple):
    v: Tensor
    m: Tensor
    i: Tensor
    x_prev: Tensor
    s_prev: Tensor


def ilif_init_state(x: Tensor) -> ILIFState:
    z = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
    return ILIFState(z, z.clone(), z.clone(), z.clone(), z.clone())


def ilif_step(x: Tensor, state: ILIFState, params: ILIFParams) -> tuple[Tensor, ILIFState]:
    """One ILIF step (reference, autograd through the surrogate). ``x``: [B, *] float32."""
    p = params
    i = p.inhibition * (state.i + state.x_prev * state.s_prev)
    h = charge(state.v, x, p.tau, False) - torch.relu(i)
    s = fire(h, p.v_threshold, p.surrogate)
    s_r = s.detach() if p.detach_reset else s
    vp = h - s_r * p.v_threshold
    m = state.m + s * vp
    v = vp - s_r * torch.sigmoid(m)
    return s, ILIFState(v, m, i, x, s)


@register_impl("ilif", Backend.TORCH)
def ilif_seq(x_seq: Tensor, params: ILIFParams, state: ILIFState | None = None) -> tuple[Tensor, ILIFState]:
    """ILIF over ``x_seq`` [T, B, *] by autograd through a plain loop (the reference)."""
    check_seq(x_seq, state)
    state = state if state is not None else ilif_init_state(x_seq[0])
    return run_steps(ilif_step, x_seq, params, state)


class ILIFFunction(torch.autograd.Function):
    """ILIF sequence with a hand-written reverse-time backward (see the module docstring), on the loops of the
    engine that built the sequence function (``make_seq``): ``eager_loops/ilif.py`` or ``cpu_loops/ilif.py``.
    Both compute the float32 operations of ``ilif_step`` in the same order (bit-identical for a binary s_prev)
    and save the same tensors (H, m, [I > 0] and the input x); states in ``ILIFState`` order (v, m, i, x_prev,
    s_prev):

        loops.forward(x32, v0, m0, i0, xp0, sp0, params, save) -> (S, H, m, [I > 0], v[T−1], m[T−1], i[T−1])
        loops.backward(x, H, m, [I > 0], g_spikes, g_v, g_m, g_i, g_xp, g_sp, params, g_x)
            -> (g_x, g_v0, g_m0, g_P)

    (initial states ``None``: zeros; final-state gradients may be ``None``). g_P is the gradient of
    P[−1] = i0 + xp0·sp0, which feeds I[0]: g_i0 = g_P, g_xp0 = g_P·sp0, g_sp0 = g_P·xp0.
    """

    @staticmethod
    def forward(ctx, x_seq, v0, m0, i0, xp0, sp0, params: ILIFParams, save: bool, loops: BPTTLoops):  # type: ignore[override]
        s_seq, h_seq, m_seq, ipos_seq, v, m, i = loops.forward(
            x_seq.float(), v0, m0, i0, xp0, sp0, params, save
        )
        ctx.save_for_backward(x_seq, h_seq, m_seq, ipos_seq, xp0, sp0)
        ctx.loops, ctx.params, ctx.x_dtype, ctx.has_state = loops, params, x_seq.dtype, v0 is not None
        T = x_seq.shape[0]
        xp = x_seq[T - 1].float().clone()  # T ≥ 1 (check_seq)
        sp = s_seq[T - 1].clone()
        return s_seq.to(x_seq.dtype), v, m, i, xp, sp

    @staticmethod
    def backward(ctx, g_spikes, g_v, g_m, g_i, g_xp, g_sp):  # type: ignore[override]
        x_seq, h_seq, m_seq, ipos_seq, xp0, sp0 = ctx.saved_tensors
        g_x, gv, gm, gp = ctx.loops.backward(
            x_seq, h_seq, m_seq, ipos_seq, g_spikes, g_v, g_m, g_i, g_xp, g_sp, ctx.params, grad_buffer(h_seq)
        )
        if not ctx.has_state:
            return g_x.to(ctx.x_dtype), None, None, None, None, None, None, None, None
        return g_x.to(ctx.x_dtype), gv, gm, gp, gp * sp0.float(), gp * xp0.float(), None, None, None


def make_seq(loops: BPTTLoops) -> SeqFn:
    """The ILIF sequence function of a hand-written BPTT engine (``seq(x_seq, params, state=None)``)."""

    def seq(x_seq: Tensor, params: ILIFParams, state: ILIFState | None = None) -> tuple[Tensor, ILIFState]:
        check_seq(x_seq, state)
        state = state if state is not None else ILIFState(None, None, None, None, None)  # None: zeros
        spikes, *rest = ILIFFunction.apply(x_seq, *state, params, grad_needed(x_seq, *state), loops)
        return spikes, ILIFState(*rest)

    return name_seq(seq, "ilif", loops)


ilif_seq_bptt = deprecated_seq("ilif", "ilif_seq_bptt")


class ILIF(NeuronModule):
    """Temporal-inhibitory LIF neuron layer. ``forward(x_seq)``: [T, B, *] → binary spikes [T, B, *].

    Args:
        tau: membrane time constant in time steps (> 1; the ILIF code uses 1.1).
        v_threshold: firing threshold (> 0).
        inhibition: decay γ of the current-inhibition trace (0.03 in the ILIF code).
        surrogate: a ``Surrogate``, a name, or ``None`` (Sigmoid, α = 4).
        detach_reset: no gradient through the spike factor of the reset lines.
        backend, step_mode, check_inputs: see ``NeuronModule``.
    """

    neuron_name = "ilif"

    def __init__(
        self,
        tau: float = 1.1,
        v_threshold: float = 1.0,
        inhibition: float = 0.03,
        surrogate: Surrogate | str | None = None,
        detach_reset: bool = False,
        backend: str = "auto",
        step_mode: str = "m",
        check_inputs: bool = True,
    ):
        super().__init__(backend, step_mode, check_inputs)
        self._params = ILIFParams(
            tau, v_threshold, inhibition, detach_reset, get_surrogate(surrogate, Sigmoid)
        )

    def params(self) -> ILIFParams:
        return self._params

    def init_state(self, x: Tensor) -> ILIFState:
        return ilif_init_state(x)

    step = staticmethod(ilif_step)
