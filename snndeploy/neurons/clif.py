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

from .base import Backend, NeuronModule, check_tau, check_threshold, register_impl, run_steps
from .dynamics import charge, charge_grads, fire
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
    state = state if state is not None else clif_init_state(x_seq[0])
    return run_steps(clif_step, x_seq, params, state)


class CLIFFunction(torch.autograd.Function):
    """CLIF sequence with a hand-written reverse-time backward (see module docstring)."""

    @staticmethod
    def forward(ctx, x_seq: Tensor, u0: Tensor, m0: Tensor, params: CLIFParams):  # type: ignore[override]
        p = params
        u, m = u0.float(), m0.float()
        up_seq = torch.empty(x_seq.shape, dtype=torch.float32, device=x_seq.device)
        mp_seq = torch.empty_like(up_seq)
        s_seq = torch.empty_like(up_seq)
        for t in range(x_seq.shape[0]):
            mp_seq[t] = m
            up = charge(u, x_seq[t].float(), p.tau, False)
            m = m * torch.sigmoid(up / p.tau)
            s = fire(up, p.v_threshold, None)
            m = m + s
            u = up - s * (p.v_threshold + torch.sigmoid(m))
            up_seq[t] = up
            s_seq[t] = s
        ctx.save_for_backward(up_seq, mp_seq)
        ctx.params = p
        ctx.x_dtype = x_seq.dtype
        return s_seq.to(x_seq.dtype), u, m

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_uT: Tensor | None, g_mT: Tensor | None):  # type: ignore[override]
        up_seq, mp_seq = ctx.saved_tensors
        p: CLIFParams = ctx.params
        beta, _ = charge_grads(p.tau, False)
        g_spikes = g_spikes.float()
        g_x = torch.empty_like(up_seq)
        g_u = g_uT.float() if g_uT is not None else torch.zeros_like(up_seq[0])
        g_m = g_mT.float() if g_mT is not None else torch.zeros_like(up_seq[0])
        for t in range(up_seq.shape[0] - 1, -1, -1):
            up, mp = up_seq[t], mp_seq[t]
            z = up - p.v_threshold
            s = (z >= 0).float()
            sig_u = torch.sigmoid(up / p.tau)
            sig_m = torch.sigmoid(mp * sig_u + s)
            g_m = g_m - g_u * s * sig_m * (1.0 - sig_m)
            g_s = g_spikes[t] + g_m
            if not p.detach_reset:
                g_s = g_s - g_u * (p.v_threshold + sig_m)
            g_up = g_s * p.surrogate.grad(z) + g_u + g_m * mp * sig_u * (1.0 - sig_u) / p.tau
            g_m = g_m * sig_u
            g_x[t] = g_up
            g_u = g_up * beta
        return g_x.to(ctx.x_dtype), g_u, g_m, None


@register_impl("clif", Backend.BPTT)
def clif_seq_bptt(x_seq: Tensor, params: CLIFParams, state: CLIFState | None = None) -> tuple[Tensor, CLIFState]:
    """CLIF over ``x_seq`` [T, B, *] with the hand-written BPTT Function; same results as ``clif_seq``."""
    state = state if state is not None else clif_init_state(x_seq[0])
    spikes, u, m = CLIFFunction.apply(x_seq, state.u, state.m, params)
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
