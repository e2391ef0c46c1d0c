"""CLIF: complementary leaky integrate-and-fire (Huang et al., "CLIF: Complementary Leaky Integrate-and-Fire
Neuron for Spiking Neural Networks", ICML 2024; reference: spikingjelly 2.0 ``ComplementaryLIFNode``).

Equations (Θ(z) = 1 if z ≥ 0; σ the logistic sigmoid):

    u'[t] = u[t−1] − u[t−1]/τ + x[t]                 (= β·u + x, β = 1 − 1/τ)
    m'[t] = m[t−1]·σ(u'[t]/τ)
    s[t]  = Θ(u'[t] − V_th)
    m[t]  = m'[t] + s[t]
    u[t]  = u'[t] − s[t]·(V_th + σ(m[t]))

The complementary potential m remembers recent spikes and raises the effective reset. No learnable parameter;
defaults ``tau=2.0, v_threshold=1.0``, Rectangle(α=1) surrogate. ``detach_reset`` stops the gradient through
the spike factor of the reset (not through σ(m)).

BPTT (the hand-written engines ``eager`` and ``numba``: ``CLIFFunction``), per step in reverse with g_u, g_m
arriving at u[t], m[t]:
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

from .base import NeuronModule, check_seq, check_tau, check_threshold, grad_needed, run_steps
from .bptt import BPTTLoops, grad_buffer, name_seq
from .dynamics import charge, fire
from .engine import Backend, SeqFn, deprecated_seq, register_impl
from .surrogate import Rectangle, Surrogate, get_surrogate

__all__ = [
    "CLIF",
    "CLIFParams",
    "CLIFState",
    "clif_init_state",
    "clif_step",
    "clif_seq",
    "CLIFFunction",
    "make_seq",
    "clif_seq_bptt",
]


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


class CLIFFunction(torch.autograd.Function):
    """CLIF sequence with a hand-written reverse-time backward (see the module docstring), on the loops of the
    engine that built the sequence function (``make_seq``): ``eager_loops/clif.py`` or ``cpu_loops/clif.py``.
    Both compute the float32 operations of ``clif_step`` in the same order and save the same tensors (u' and
    m[t−1]):

        loops.forward(x32, u0 | None, m0 | None, params, save) -> (S, u', m[t−1], u[T−1], m[T−1])
        loops.backward(u', m[t−1], g_spikes, g_u | None, g_m | None, params, g_x) -> (g_x, g_u0, g_m0)
    """

    @staticmethod
    def forward(
        ctx,
        x_seq: Tensor,
        u0: Tensor | None,
        m0: Tensor | None,
        params: CLIFParams,
        save: bool,  # type: ignore[override]
        loops: BPTTLoops,
    ):
        s_seq, up_seq, mp_seq, u, m = loops.forward(x_seq.float(), u0, m0, params, save)
        ctx.save_for_backward(up_seq, mp_seq)
        ctx.loops, ctx.params, ctx.x_dtype, ctx.has_state = loops, params, x_seq.dtype, u0 is not None
        return s_seq.to(x_seq.dtype), u, m

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_uT: Tensor | None, g_mT: Tensor | None):  # type: ignore[override]
        up_seq, mp_seq = ctx.saved_tensors
        g_x, g_u, g_m = ctx.loops.backward(
            up_seq, mp_seq, g_spikes, g_uT, g_mT, ctx.params, grad_buffer(up_seq)
        )
        if not ctx.has_state:
            g_u = g_m = None
        return g_x.to(ctx.x_dtype), g_u, g_m, None, None, None


def make_seq(loops: BPTTLoops) -> SeqFn:
    """The CLIF sequence function of a hand-written BPTT engine (``seq(x_seq, params, state=None)``)."""

    def seq(x_seq: Tensor, params: CLIFParams, state: CLIFState | None = None) -> tuple[Tensor, CLIFState]:
        check_seq(x_seq, state)
        state = state if state is not None else CLIFState(None, None)  # None: the loops start from zeros
        spikes, u, m = CLIFFunction.apply(x_seq, state.u, state.m, params, grad_needed(x_seq, *state), loops)
        return spikes, CLIFState(u, m)

    return name_seq(seq, "clif", loops)


clif_seq_bptt = deprecated_seq("clif", "clif_seq_bptt")


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
