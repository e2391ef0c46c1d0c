"""ILIF: temporal inhibitory leaky integrate-and-fire (Sun et al. 2025, "ILIF: Temporal Inhibitory Leaky
Integrate-and-Fire Neuron for Overactivation in Spiking Neural Networks"). Not spikingjelly's integer ``ILIFNode``.

Equations (Θ(z) = 1 if z ≥ 0; σ the logistic sigmoid; γ = ``inhibition``):

    I[t]  = γ·(I[t−1] + x[t−1]·s[t−1])                 (current-inhibition trace of the last step's spiking input)
    H[t]  = v[t−1] − v[t−1]/τ + x[t] − max(I[t], 0)     (= β·v + x − max(I, 0))
    s[t]  = Θ(H[t] − V_th)
    v'[t] = H[t] − s[t]·V_th
    m[t]  = m[t−1] + s[t]·v'[t]                          (membrane-inhibition memory)
    v[t]  = v'[t] − s[t]·σ(m[t])

then x[t−1] ← x[t], s[t−1] ← s[t]. All states start at 0. Defaults ``tau=1.1, v_threshold=1.0, inhibition=0.03``,
Sigmoid(α=4) surrogate. ``detach_reset`` stops the gradient through the spike factor of the two reset lines.

BPTT (backend "bptt"), per step in reverse; g_v, g_m arrive at v[t], m[t]; g_P = γ·g_I[t+1] is the gradient of
P[t] = I[t] + x[t]·s[t]:
    g_s  = g_spike[t] + g_P·x[t] − g_v·σ(m) ;          g_m* = g_m − g_v·s·σ'(m)
    g_s += g_m*·v' ;  g_v' = g_v + g_m*·s ;  g_s −= g_v'·V_th   (the V_th and σ(m) terms dropped with detach_reset)
    g_H  = g_v' + g_s·sg(H − V_th)
    g_x[t] = g_H + g_P·s ;  g_v[t−1] = β·g_H ;  g_m[t−1] = g_m* ;  g_I[t] = g_P − g_H·[I > 0] ;  g_P[t−1] = γ·g_I[t]
Saved for backward: H and m (float32), [I > 0] (bool) and the input x: 9 bytes per neuron-step plus x.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import InvalidParameterError
from .base import Backend, NeuronModule, check_finite_number, check_tau, check_threshold, register_impl, run_steps
from .dynamics import charge, charge_grads, fire
from .surrogate import Sigmoid, Surrogate, get_surrogate

__all__ = ["ILIF", "ILIFParams", "ILIFState", "ilif_step", "ilif_seq", "ilif_seq_bptt", "ILIFFunction"]


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
    state = state if state is not None else ilif_init_state(x_seq[0])
    return run_steps(ilif_step, x_seq, params, state)


class ILIFFunction(torch.autograd.Function):
    """ILIF sequence with a hand-written reverse-time backward (see module docstring)."""

    @staticmethod
    def forward(ctx, x_seq, v0, m0, i0, xp0, sp0, params: ILIFParams):  # type: ignore[override]
        p = params
        v, m, i, xp, sp = v0.float(), m0.float(), i0.float(), xp0.float(), sp0.float()
        shape = x_seq.shape
        h_seq = torch.empty(shape, dtype=torch.float32, device=x_seq.device)
        m_seq = torch.empty_like(h_seq)
        s_seq = torch.empty_like(h_seq)
        ipos_seq = torch.empty(shape, dtype=torch.bool, device=x_seq.device)
        for t in range(shape[0]):
            x = x_seq[t].float()
            i = p.inhibition * (i + xp * sp)
            h = charge(v, x, p.tau, False) - torch.relu(i)
            s = fire(h, p.v_threshold, None)
            vp = h - s * p.v_threshold
            m = m + s * vp
            v = vp - s * torch.sigmoid(m)
            xp, sp = x, s
            h_seq[t], m_seq[t], s_seq[t], ipos_seq[t] = h, m, s, i > 0
        ctx.save_for_backward(x_seq, h_seq, m_seq, ipos_seq, xp0, sp0)
        ctx.params = p
        ctx.x_dtype = x_seq.dtype
        return s_seq.to(x_seq.dtype), v, m, i, xp.clone(), sp

    @staticmethod
    def backward(ctx, g_spikes, g_v, g_m, g_i, g_xp, g_sp):  # type: ignore[override]
        x_seq, h_seq, m_seq, ipos_seq, xp0, sp0 = ctx.saved_tensors
        p: ILIFParams = ctx.params
        beta, _ = charge_grads(p.tau, False)
        th = p.v_threshold
        zeros = torch.zeros_like(h_seq[0])
        g_spikes = g_spikes.float()
        g_v = g_v.float() if g_v is not None else zeros
        g_m = g_m.float() if g_m is not None else zeros
        # Gradients reaching the final state's i, x_prev (= x[T-1]) and s_prev (= s[T-1]).
        g_i_end = g_i.float() if g_i is not None else zeros
        g_x_end = g_xp.float() if g_xp is not None else zeros
        g_s_end = g_sp.float() if g_sp is not None else zeros
        g_x = torch.empty_like(h_seq)
        g_p = zeros  # gradient of P[t] = I[t] + x[t]·s[t]
        T = h_seq.shape[0]
        for t in range(T - 1, -1, -1):
            last = t == T - 1
            x = x_seq[t].float()
            h, m = h_seq[t], m_seq[t]
            z = h - th
            s = (z >= 0).float()
            vp = h - s * th
            sig_m = torch.sigmoid(m)
            g_s = g_spikes[t] + g_p * x + (g_s_end if last else 0.0)
            g_m = g_m - g_v * s * sig_m * (1.0 - sig_m)
            g_vp = g_v + g_m * s
            g_s = g_s + g_m * vp
            if not p.detach_reset:
                g_s = g_s - g_v * sig_m - g_vp * th
            g_h = g_vp + g_s * p.surrogate.grad(z)
            g_x[t] = g_h + g_p * s + (g_x_end if last else 0.0)
            g_v = g_h * beta
            g_it = g_p + (g_i_end if last else 0.0) - g_h * ipos_seq[t].float()
            g_p = p.inhibition * g_it
        # P[-1] = i0 + xp0·sp0 feeds I[0].
        return (g_x.to(ctx.x_dtype), g_v, g_m, g_p, g_p * sp0.float(), g_p * xp0.float(), None)


@register_impl("ilif", Backend.BPTT)
def ilif_seq_bptt(x_seq: Tensor, params: ILIFParams, state: ILIFState | None = None) -> tuple[Tensor, ILIFState]:
    """ILIF over ``x_seq`` [T, B, *] with the hand-written BPTT Function; same results as ``ilif_seq``."""
    state = state if state is not None else ilif_init_state(x_seq[0])
    spikes, *rest = ILIFFunction.apply(x_seq, *state, params)
    return spikes, ILIFState(*rest)


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
        self._params = ILIFParams(tau, v_threshold, inhibition, detach_reset, get_surrogate(surrogate, Sigmoid))

    def params(self) -> ILIFParams:
        return self._params

    def init_state(self, x: Tensor) -> ILIFState:
        return ilif_init_state(x)

    step = staticmethod(ilif_step)
