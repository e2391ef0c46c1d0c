"""CLIF: complementary leaky integrate-and-fire (Huang et al., "CLIF: Complementary Leaky Integrate-and-Fire
Neuron for Spiking Neural Networks", ICML 2024; reference: spikingjelly 2.0 ``ComplementaryLIFNode``).

Equations (Θ(z) = 1 if z ≥ 0; σ the logistic sigmoid):

    u'[t] = u[t−1] − u[t−1]/τ + x[t]                 (= β·u + x, β = 1 − 1/τ)
    m'[t] = m[t−1]·σ(u'[t]/τ)
    s[t]  = Θ(u'[t] − V_th)
    m[t]  = m'[t] + s[t]
    u[t]  = u'[t] − s[t]·(V_th + σ(m[t]))

The complementary potential m remembers recent spikes and raises the effective reset. No learnable parameter;
defaults ``tau=2.0, v_threshold=1.0``, Rectangle(α=1) surrogate. ``detach_reset`` stops the gradient through the
spike factor of the reset (not through σ(m)).

BPTT (backend "bptt"), per step in reverse with g_u, g_m arriving at u[t], m[t]:
    g_m* = g_m − g_u·s·σ'(m[t])
    g_s  = g_spike[t] + g_m* − g_u·(V_th + σ(m[t]))          (last term dropped with detach_reset)
    g_u' = g_s·sg(u' − V_th) + g_u + g_m*·m[t−1]·σ'(u'/τ)/τ
    g_x[t] = g_u';  g_u[t−1] = β·g_u';  g_m[t−1] = g_m*·σ(u'/τ)
Saved for backward: u' and m[t−1] (8 bytes per neuron-step, float32).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from . import cpu_kernels
from .base import (
    Backend,
    NeuronModule,
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
from .surrogate import Rectangle, Surrogate, get_surrogate

__all__ = ["CLIF", "CLIFParams", "CLIFState", "clif_step", "clif_seq", "clif_seq_bptt", "CLIFFunction"]


@dataclass(frozen=True)
class CLIFParams:
    """CLIF parameters (validated; τ > 1, V_th > 0)."""

    tau: float = 2.0
    v_threshold: float = 1.0
    detach_reset: bool = False
    surrogate: Surrogate = field(default_factory=Rectangle)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", check_tau("tau", self.tau))
        object.__setattr__(self, "v_threshold", check_threshold("v_threshold", self.v_threshold))


class CLIFState(NamedTuple):
    u: Tensor
    m: Tensor


def clif_init_state(x: Tensor) -> CLIFState:
    z = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
    return CLIFState(z, z.clone())


def clif_step(x: Tensor, state: CLIFState, params: CLIFParams) -> tuple[Tensor, CLIFState]:
    """One CLIF step (reference, autograd through the surrogate). ``x``: [B, *] float32."""
    p = params
    u = charge(state.u, x, p.tau, False)
    m = state.m * torch.sigmoid(u / p.tau)
    s = fire(u, p.v_threshold, p.surrogate)
    m = m + s
    s_r = s.detach() if p.detach_reset else s
    return s, CLIFState(u - s_r * (p.v_threshold + torch.sigmoid(m)), m)


@register_impl("clif", Backend.TORCH)
def clif_seq(x_seq: Tensor, params: CLIFParams, state: CLIFState | None = None) -> tuple[Tensor, CLIFState]:
    """CLIF over ``x_seq`` [T, B, *] by autograd through a plain loop (the reference)."""
    check_seq(x_seq, state)
    state = state if state is not None else clif_init_state(x_seq[0])
    return run_steps(clif_step, x_seq, params, state)


def _forward_eager(x_seq: Tensor, u0: Tensor, m0: Tensor, p: CLIFParams) -> tuple[Tensor, ...]:
    """(spikes, u', m[t−1] per step, final u, final m): the forward loop in PyTorch ops (any device), the same
    float32 operations as ``clif_step``; m[t] is written straight into the saved slot of step t + 1."""
    T = x_seq.shape[0]
    x32 = x_seq.float()
    u = u0.float().clone()
    up_seq = torch.empty(x_seq.shape, dtype=torch.float32, device=x_seq.device)
    mp_seq = torch.empty_like(up_seq)  # mp_seq[t] = m[t − 1]
    s_seq = torch.empty_like(up_seq)
    m_last = torch.empty_like(u)
    sig = torch.empty_like(u)
    tmp = torch.empty_like(u)
    if T:
        mp_seq[0].copy_(m0)
    for t in range(T):
        up = charge_into(up_seq[t], u, x32[t], p.tau, False, 0.0, tmp)  # u' = u − u/τ + x
        torch.div(up, p.tau, out=sig).sigmoid_()  # σ(u'/τ)
        m = mp_seq[t + 1] if t + 1 < T else m_last
        torch.mul(mp_seq[t], sig, out=m)  # m' = m·σ(u'/τ)
        s = torch.ge(up, p.v_threshold, out=s_seq[t])  # Θ(u' − V_th) as u' ≥ V_th
        m.add_(s)  # m = m' + s
        torch.sigmoid(m, out=tmp).add_(p.v_threshold)  # V_th + σ(m)
        torch.addcmul(up, s, tmp, value=-1.0, out=u)  # u = u' − s·(V_th + σ(m))
    return s_seq, up_seq, mp_seq, u, (m_last if T else m0.float().clone())


class CLIFFunction(torch.autograd.Function):
    """CLIF sequence with a hand-written reverse-time backward (see module docstring).

    Forward: the same float32 operations as ``clif_step`` (bit-identical spikes and states) into owned buffers;
    m[t] is written straight into the saved slot of step t + 1, and u' − s·(V_th + σ(m)) is one ``addcmul``
    (s·(V_th + σ(m)) is exact for s ∈ {0, 1}). Backward: the module docstring's recursion regrouped as
        g_m* = g_m − g_u·A,   g_u' = P + g_m*·F + g_u·G,   g_m[t−1] = g_m*·σ(u'/τ),   g_u[t−1] = β·g_u'
    with A = s·σ'(m[t]), P = g_spike·sg, F = sg + m[t−1]·σ'(u'/τ)/τ and G = 1 − (V_th + σ(m[t]))·sg (G = 1 with
    detach_reset) computed for a chunk of steps at once; five ops per step stay in the reverse-time loop.

    Loops: for CPU tensors the forward and backward run as fused numba loops
    (``snndeploy/neurons/cpu_kernels/clif.py``: same saved tensors, same float32 operations); the eager PyTorch
    loops below (``_forward_eager`` and the chunked backward) run on other devices, without numba, or with
    ``SNNDEPLOY_FUSED_CPU=0``.
    """

    @staticmethod
    def forward(ctx, x_seq: Tensor, u0: Tensor, m0: Tensor, params: CLIFParams, save: bool = True):  # type: ignore[override]
        p = params
        ctx.fused = cpu_kernels.usable(x_seq)
        ctx.has_state = u0 is not None  # None: start from zeros (no state gradient to return)
        if ctx.fused:
            from .cpu_kernels.clif import clif_forward

            s_seq, up_seq, mp_seq, u, m = clif_forward(x_seq.float(), u0, m0, p, save)
        else:
            if u0 is None:
                u0, m0 = clif_init_state(x_seq[0])
            s_seq, up_seq, mp_seq, u, m = _forward_eager(x_seq, u0, m0, p)
        ctx.save_for_backward(up_seq, mp_seq)
        ctx.params = p
        ctx.x_dtype = x_seq.dtype
        return s_seq.to(x_seq.dtype), u, m

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_uT: Tensor | None, g_mT: Tensor | None):  # type: ignore[override]
        up_seq, mp_seq = ctx.saved_tensors
        p: CLIFParams = ctx.params
        if ctx.fused:
            from .cpu_kernels.clif import clif_backward

            g_x, g_u, g_m = clif_backward(up_seq, mp_seq, g_spikes, g_uT, g_mT, p, grad_buffer(up_seq))
            if not ctx.has_state:
                g_u = g_m = None
            return g_x.to(ctx.x_dtype), g_u, g_m, None, None
        beta, _ = charge_grads(p.tau, False)
        th = p.v_threshold
        g_spikes = g_spikes.float()
        g_x = grad_buffer(up_seq)  # may be up_seq itself: a chunk is read before it is written
        g_u = g_uT.float().clone() if g_uT is not None else torch.zeros_like(up_seq[0])
        g_m = g_mT.float().clone() if g_mT is not None else torch.zeros_like(up_seq[0])
        g_ms = torch.empty_like(g_u)  # g_m*
        for t0, t1 in reverse_chunks(up_seq.shape[0], up_seq[0].numel()):
            up, mp = up_seq[t0:t1], mp_seq[t0:t1]
            s = torch.ge(up, th, out=torch.empty_like(up))  # float mask: bool tensors are slow on CPU
            sg = p.surrogate.grad_(up - th)
            sig_u = torch.div(up, p.tau).sigmoid_()
            sig_m = torch.mul(mp, sig_u).add_(s).sigmoid_()  # σ(m[t]), m[t] = m[t−1]·σ(u'/τ) + s as forward
            # σ'(y) = (1 − σ)·σ; ATen's fused sigmoid_backward(g, σ) = g·(1 − σ)·σ in one pass.
            a_coef = torch.ops.aten.sigmoid_backward(s, sig_m)  # s·σ'(m[t])
            f_coef = torch.ops.aten.sigmoid_backward(mp, sig_u).div_(p.tau).add_(sg)  # sg + m[t−1]·σ'(u'/τ)/τ
            if p.detach_reset:
                g_coef = None
            else:
                g_coef = sig_m.add_(th).mul_(sg).neg_().add_(1.0)  # 1 − (V_th + σ(m))·sg
            torch.mul(g_spikes[t0:t1], sg, out=g_x[t0:t1])  # P
            for t in range(t1 - 1, t0 - 1, -1):
                i = t - t0
                torch.addcmul(g_m, g_u, a_coef[i], value=-1.0, out=g_ms)  # g_m* = g_m − g_u·A
                g_up = g_x[t].addcmul_(g_ms, f_coef[i])
                if g_coef is None:
                    g_up.add_(g_u)
                else:
                    g_up.addcmul_(g_u, g_coef[i])
                torch.mul(g_ms, sig_u[i], out=g_m)  # g_m[t−1] = g_m*·σ(u'/τ)
                torch.mul(g_up, beta, out=g_u)  # g_u[t−1] = β·g_u'
        if not ctx.has_state:
            g_u = g_m = None
        return g_x.to(ctx.x_dtype), g_u, g_m, None, None


@register_impl("clif", Backend.BPTT)
def clif_seq_bptt(x_seq: Tensor, params: CLIFParams, state: CLIFState | None = None) -> tuple[Tensor, CLIFState]:
    """CLIF over ``x_seq`` [T, B, *] with the hand-written BPTT Function; same results as ``clif_seq``."""
    check_seq(x_seq, state)
    state = state if state is not None else CLIFState(None, None)  # None: the Function starts from zeros
    spikes, u, m = CLIFFunction.apply(x_seq, state.u, state.m, params, grad_needed(x_seq, *state))
    return spikes, CLIFState(u, m)


class CLIF(NeuronModule):
    """Complementary LIF neuron layer. ``forward(x_seq)``: [T, B, *] → binary spikes [T, B, *].

    Args:
        tau: membrane time constant in time steps (> 1).
        v_threshold: firing threshold (> 0).
        surrogate: a ``Surrogate``, a name, or ``None`` (Rectangle, α = 1, as in the CLIF code).
        detach_reset: no gradient through the spike factor of the reset.
        backend, step_mode, check_inputs: see ``NeuronModule``.
    """

    neuron_name = "clif"

    def __init__(
        self,
        tau: float = 2.0,
        v_threshold: float = 1.0,
        surrogate: Surrogate | str | None = None,
        detach_reset: bool = False,
        backend: str = "auto",
        step_mode: str = "m",
        check_inputs: bool = True,
    ):
        super().__init__(backend, step_mode, check_inputs)
        self._params = CLIFParams(tau, v_threshold, detach_reset, get_surrogate(surrogate, Rectangle))

    def params(self) -> CLIFParams:
        return self._params

    def init_state(self, x: Tensor) -> CLIFState:
        return clif_init_state(x)

    step = staticmethod(clif_step)
