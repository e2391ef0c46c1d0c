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
from . import cpu_kernels
from .base import (
    Backend,
    NeuronModule,
    check_finite_number,
    check_seq,
    check_tau,
    check_threshold,
    grad_needed,
    register_impl,
    run_steps,
)
from .dynamics import (
    charge,
    charge_grads,
    charge_into,
    fire,
    grad_buffer,
    reverse_chunks,
)
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
    check_seq(x_seq, state)
    state = state if state is not None else ilif_init_state(x_seq[0])
    return run_steps(ilif_step, x_seq, params, state)


def _forward_eager(x_seq: Tensor, v0: Tensor, m0: Tensor, i0: Tensor, xp0: Tensor, sp0: Tensor,
                   p: ILIFParams) -> tuple[Tensor, ...]:
    """(spikes, H, m, [I > 0], final v, final m, final i): the forward loop in PyTorch ops (any device), the same
    float32 operations as ``ilif_step``."""
    th = p.v_threshold
    x32 = x_seq.float()
    v, i = v0.float().clone(), i0.float().clone()
    xp, sp = xp0.float(), sp0.float()
    shape = x_seq.shape
    h_seq = torch.empty(shape, dtype=torch.float32, device=x_seq.device)
    m_seq = torch.empty_like(h_seq)
    s_seq = torch.empty_like(h_seq)
    ipos_seq = torch.empty(shape, dtype=torch.bool, device=x_seq.device)
    vp = torch.empty_like(v)
    tmp = torch.empty_like(v)
    m = m0.float()
    for t in range(shape[0]):
        x = x32[t]
        if t == 0:  # s_prev of a caller's state may be non-binary: keep the reference's two roundings
            i = (i + xp * sp).mul_(p.inhibition)
        else:  # x_prev·s_prev is exact for a spike s_prev ∈ {0, 1}
            i.addcmul_(xp, sp).mul_(p.inhibition)  # I = γ·(I + x_prev·s_prev)
        h = charge_into(h_seq[t], v, x, p.tau, False, 0.0, tmp)
        h.sub_(torch.clamp(i, min=0.0, out=tmp))  # H = βv + x − max(I, 0)
        torch.gt(i, 0.0, out=ipos_seq[t])
        s = torch.ge(h, th, out=s_seq[t])  # Θ(H − V_th) as H ≥ V_th
        torch.add(h, s, alpha=-th, out=vp)  # v' = H − s·V_th
        m = torch.addcmul(m, s, vp, out=m_seq[t])  # m = m + s·v'
        torch.addcmul(vp, s, torch.sigmoid(m, out=tmp), value=-1.0, out=v)  # v = v' − s·σ(m)
        xp, sp = x, s
    m_out = m.clone() if shape[0] else m0.float().clone()
    return s_seq, h_seq, m_seq, ipos_seq, v, m_out, i


class ILIFFunction(torch.autograd.Function):
    """ILIF sequence with a hand-written reverse-time backward (see module docstring).

    Forward: the same float32 operations as ``ilif_step`` (bit-identical spikes and states for binary s_prev)
    into owned buffers; products with the binary spike are exact, so ``add(alpha=…)``/``addcmul`` give the
    reference's roundings. Backward: the module docstring's recursion regrouped as
        g_m* = g_m − g_v·A;   g_H = P + g_v·C_v + g_m*·C_m + g_P·C_p
        g_x[t] = g_H + g_P·s;   g_v[t−1] = β·g_H;   g_m[t−1] = g_m*;   g_P[t−1] = γ·(g_P − g_H·[I > 0])
    with A = s·σ'(m), P = g_spike·sg, C_v = 1 − (σ(m) + V_th)·sg, C_m = s·(1 − V_th·sg) + v'·sg, C_p = x·sg
    (with detach_reset: C_v = 1, C_m = s + v'·sg) computed for a chunk of steps at once.

    Loops: for CPU tensors the forward and backward run as fused numba loops
    (``snndeploy/neurons/cpu_kernels/ilif.py``: same saved tensors, same float32 operations); the eager PyTorch
    loops below (``_forward_eager`` and the chunked backward) run on other devices, without numba, or with
    ``SNNDEPLOY_FUSED_CPU=0``.
    """

    @staticmethod
    def forward(ctx, x_seq, v0, m0, i0, xp0, sp0, params: ILIFParams, save: bool = True):  # type: ignore[override]
        p = params
        ctx.fused = cpu_kernels.usable(x_seq)
        ctx.has_state = v0 is not None  # None: start from zeros (no state gradient to return)
        if ctx.fused:
            from .cpu_kernels.ilif import ilif_forward

            s_seq, h_seq, m_seq, ipos_seq, v, m_out, i = ilif_forward(x_seq.float(), v0, m0, i0, xp0, sp0, p, save)
        else:
            if v0 is None:
                v0, m0, i0, xp0, sp0 = ilif_init_state(x_seq[0])
            s_seq, h_seq, m_seq, ipos_seq, v, m_out, i = _forward_eager(x_seq, v0, m0, i0, xp0, sp0, p)
        ctx.save_for_backward(x_seq, h_seq, m_seq, ipos_seq, xp0, sp0)
        ctx.params = p
        ctx.x_dtype = x_seq.dtype
        T = x_seq.shape[0]
        xp = x_seq[T - 1].float().clone()  # T ≥ 1 (check_seq)
        sp = s_seq[T - 1].clone()
        return s_seq.to(x_seq.dtype), v, m_out, i, xp, sp

    @staticmethod
    def backward(ctx, g_spikes, g_v, g_m, g_i, g_xp, g_sp):  # type: ignore[override]
        x_seq, h_seq, m_seq, ipos_seq, xp0, sp0 = ctx.saved_tensors
        p: ILIFParams = ctx.params
        if ctx.fused:
            from .cpu_kernels.ilif import ilif_backward

            g_x, gv, gm, gp = ilif_backward(x_seq, h_seq, m_seq, ipos_seq, g_spikes, g_v, g_m, g_i, g_xp, g_sp, p,
                                            grad_buffer(h_seq))
            if not ctx.has_state:
                return g_x.to(ctx.x_dtype), None, None, None, None, None, None, None
            return g_x.to(ctx.x_dtype), gv, gm, gp, gp * sp0.float(), gp * xp0.float(), None, None
        beta, _ = charge_grads(p.tau, False)
        th, gamma = p.v_threshold, p.inhibition
        zeros = torch.zeros_like(h_seq[0])
        g_spikes = g_spikes.float()
        g_v = g_v.float().clone() if g_v is not None else zeros.clone()
        g_m = g_m.float().clone() if g_m is not None else zeros.clone()
        T = h_seq.shape[0]
        g_x = grad_buffer(h_seq)  # may be h_seq itself: a chunk is read before it is written
        g_p = zeros.clone()  # gradient of P[t] = I[t] + x[t]·s[t]
        tmp = torch.empty_like(g_v)
        for t0, t1 in reverse_chunks(T, h_seq[0].numel()):
            h, m, x = h_seq[t0:t1], m_seq[t0:t1], x_seq[t0:t1].float()
            s = torch.ge(h, th, out=torch.empty_like(h))  # float mask: bool tensors are slow on CPU
            sg = p.surrogate.grad_(h - th)
            sig_m = torch.sigmoid(m)
            a_coef = torch.ops.aten.sigmoid_backward(s, sig_m)  # s·σ'(m) = s·(1 − σ)·σ, one fused pass
            vp_sg = torch.add(h, s, alpha=-th).mul_(sg)  # v'·sg
            c_p = x.mul(sg)  # x·sg
            if p.detach_reset:
                c_v = None
                c_m = vp_sg.add_(s)  # s + v'·sg
            else:
                c_m = torch.mul(sg, -th).add_(1.0).mul_(s).add_(vp_sg)  # s·(1 − V_th·sg) + v'·sg
                c_v = sig_m.add_(th).mul_(sg).neg_().add_(1.0)  # 1 − (σ(m) + V_th)·sg
            torch.mul(g_spikes[t0:t1], sg, out=g_x[t0:t1])  # P
            if t1 == T and g_sp is not None:  # the final state's s_prev is s[T−1]
                g_x[T - 1].addcmul_(g_sp.float(), sg[-1])
            ipos = ipos_seq[t0:t1].float()
            s_bin = s
            for t in range(t1 - 1, t0 - 1, -1):
                j = t - t0
                g_m.addcmul_(g_v, a_coef[j], value=-1.0)  # g_m* (also g_m[t−1])
                g_h = g_x[t]
                if c_v is None:
                    g_h.add_(g_v)
                else:
                    g_h.addcmul_(g_v, c_v[j])
                g_h.addcmul_(g_m, c_m[j]).addcmul_(g_p, c_p[j])  # g_H
                torch.mul(g_h, beta, out=g_v)  # g_v[t−1] = β·g_H
                torch.mul(g_h, ipos[j], out=tmp)  # g_H·[I > 0]
                g_h.addcmul_(g_p, s_bin[j])  # g_x[t] = g_H + g_P·s
                if t == T - 1 and g_i is not None:  # the final state's i is I[T−1]
                    g_p.add_(g_i.float())
                g_p.sub_(tmp).mul_(gamma)  # g_P[t−1] = γ·g_I[t]
        if T and g_xp is not None:  # the final state's x_prev is x[T−1]
            g_x[T - 1].add_(g_xp.float())
        # P[-1] = i0 + xp0·sp0 feeds I[0].
        if not ctx.has_state:
            return g_x.to(ctx.x_dtype), None, None, None, None, None, None, None
        return (g_x.to(ctx.x_dtype), g_v, g_m, g_p, g_p * sp0.float(), g_p * xp0.float(), None, None)


@register_impl("ilif", Backend.BPTT)
def ilif_seq_bptt(x_seq: Tensor, params: ILIFParams, state: ILIFState | None = None) -> tuple[Tensor, ILIFState]:
    """ILIF over ``x_seq`` [T, B, *] with the hand-written BPTT Function; same results as ``ilif_seq``."""
    check_seq(x_seq, state)
    state = state if state is not None else ILIFState(None, None, None, None, None)  # None: the Function starts from zeros
    spikes, *rest = ILIFFunction.apply(x_seq, *state, params, grad_needed(x_seq, *state))
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
