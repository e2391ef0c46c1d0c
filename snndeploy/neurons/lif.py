"""LIF: leaky integrate-and-fire, soft or hard reset (the CLIF/ILIF repos' baseline, spikingjelly ``LIFNode``).

Equations (Θ(z) = 1 if z ≥ 0; β = 1 − 1/τ; V_rest = V_r for hard reset, 0 for soft):

    H[t] = V[t−1] − (V[t−1] − V_rest)/τ + X[t]         (decay_input=False; = β·V + X when V_rest = 0)
    H[t] = V[t−1] + (X[t] − (V[t−1] − V_rest))/τ       (decay_input=True)
    S[t] = Θ(H[t] − V_th)
    V[t] = H[t] − S[t]·V_th                             (soft reset, v_reset=None)
    V[t] = (1 − S[t])·H[t] + S[t]·V_r                   (hard reset)

With ``detach_reset`` the S in the reset line carries no gradient. Defaults follow the CLIF/ILIF repos:
``tau=2.0, v_threshold=1.0, v_reset=None, decay_input=False``, Sigmoid(α=4) surrogate.

BPTT (backend "bptt"), per step in reverse, with g_V the gradient arriving at V[t]:
    soft: ∂V/∂H = 1,      ∂V/∂S = −V_th;   hard: ∂V/∂H = 1 − S,  ∂V/∂S = V_r − H  (∂V/∂S = 0 if detach_reset)
    g_S = g_spike[t] + g_V·∂V/∂S;   g_H = g_S·sg(H − V_th) + g_V·∂V/∂H
    g_X[t] = b·g_H;   g_V[t−1] = a·g_H            with (a, b) = ``charge_grads``.
Saved for backward: H (4 bytes per neuron-step, float32); S is recomputed as H ≥ V_th.
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
    hard_reset,
    reverse_chunks,
    soft_reset,
)
from .surrogate import Sigmoid, Surrogate, get_surrogate

__all__ = ["LIF", "LIFParams", "LIFState", "lif_step", "lif_seq", "lif_seq_bptt", "LIFFunction"]


@dataclass(frozen=True)
class LIFParams:
    """LIF parameters (validated; τ > 1, V_th > 0)."""

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = None
    decay_input: bool = False
    detach_reset: bool = False
    surrogate: Surrogate = field(default_factory=Sigmoid)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", check_tau("tau", self.tau))
        object.__setattr__(self, "v_threshold", check_threshold("v_threshold", self.v_threshold))
        if self.v_reset is not None:
            object.__setattr__(self, "v_reset", check_finite_number("v_reset", self.v_reset))
            if self.v_reset >= self.v_threshold:
                raise InvalidParameterError(f"v_reset ({self.v_reset}) must be below v_threshold ({self.v_threshold})")

    @property
    def hard(self) -> bool:
        return self.v_reset is not None

    @property
    def v_rest(self) -> float:
        return self.v_reset if self.v_reset is not None else 0.0


class LIFState(NamedTuple):
    v: Tensor


def lif_init_state(x: Tensor) -> LIFState:
    """Zero state shaped like one time step ``x`` ([B, *]), float32."""
    return LIFState(torch.zeros(x.shape, dtype=torch.float32, device=x.device))


def _reset(h: Tensor, s: Tensor, p: LIFParams) -> Tensor:
    s_r = s.detach() if p.detach_reset else s
    return hard_reset(h, s_r, p.v_reset) if p.hard else soft_reset(h, s_r, p.v_threshold)


def lif_step(x: Tensor, state: LIFState, params: LIFParams) -> tuple[Tensor, LIFState]:
    """One LIF step (reference, autograd through the surrogate). ``x``: [B, *] float32."""
    h = charge(state.v, x, params.tau, params.decay_input, params.v_rest)
    s = fire(h, params.v_threshold, params.surrogate)
    return s, LIFState(_reset(h, s, params))


@register_impl("lif", Backend.TORCH)
def lif_seq(x_seq: Tensor, params: LIFParams, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
    """LIF over a sequence ``x_seq`` [T, B, *] by autograd through a plain loop (the reference)."""
    check_seq(x_seq, state)
    state = state if state is not None else lif_init_state(x_seq[0])
    return run_steps(lif_step, x_seq, params, state)


def _forward_eager(x_seq: Tensor, v0: Tensor, p: LIFParams) -> tuple[Tensor, Tensor, Tensor]:
    """(spikes, H, final V): the forward loop in PyTorch ops (any device), the same float32 operations as ``lif_step``."""
    x32 = x_seq.float()
    v = v0.float().clone()
    h_seq = torch.empty(x_seq.shape, dtype=torch.float32, device=x_seq.device)
    s_seq = torch.empty_like(h_seq)
    tmp = torch.empty_like(v)
    for t in range(x_seq.shape[0]):
        h = charge_into(h_seq[t], v, x32[t], p.tau, p.decay_input, p.v_rest, tmp)
        s = torch.ge(h, p.v_threshold, out=s_seq[t])  # Θ(H − V_th) as H ≥ V_th (same for finite H)
        if p.hard:  # (1 − S)·H + S·V_r, with S·V_r exact: the reference's roundings
            torch.mul(torch.sub(s, 1.0, out=tmp).neg_(), h, out=v).add_(s, alpha=p.v_reset)
        else:
            torch.add(h, s, alpha=-p.v_threshold, out=v)  # H − S·V_th
    return s_seq, h_seq, v


class LIFFunction(torch.autograd.Function):
    """LIF sequence with a hand-written reverse-time backward (see module docstring).

    Forward: the same float32 operations as ``lif_step`` (bit-identical spikes and states), written into
    buffers this function owns; S·V_th is exact (S ∈ {0, 1}), so the soft reset is one ``add(alpha=−V_th)``
    and the hard reset ``(1 − S)·H`` plus ``add(alpha=V_r)``. Backward: the module docstring's recursion regrouped as
    g_H = P + g_V·C with the non-recurrent parts P = g_spike·sg and C = ∂V/∂H + sg·∂V/∂S computed for a chunk
    of steps at once, so only two ops per step stay in the reverse-time loop.

    Loops: for CPU tensors the forward and backward run as fused numba loops
    (``snndeploy/neurons/cpu_kernels/lif.py``: same saved tensors, same float32 operations); the eager PyTorch
    loops below (``_forward_eager`` and the chunked backward) run on other devices, without numba, or with
    ``SNNDEPLOY_FUSED_CPU=0``.
    """

    @staticmethod
    def forward(ctx, x_seq: Tensor, v0: Tensor, params: LIFParams, save: bool = True):  # type: ignore[override]
        p = params
        ctx.fused = cpu_kernels.usable(x_seq)
        ctx.has_state = v0 is not None  # None: start from zeros (no state gradient to return)
        if ctx.fused:
            from .cpu_kernels.lif import lif_forward

            s_seq, h_seq, v = lif_forward(x_seq.float(), v0, p, save)
        else:
            v0 = v0 if v0 is not None else lif_init_state(x_seq[0]).v
            s_seq, h_seq, v = _forward_eager(x_seq, v0, p)
        ctx.save_for_backward(h_seq)
        ctx.params = p
        ctx.x_dtype = x_seq.dtype
        return s_seq.to(x_seq.dtype), v

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_vT: Tensor | None):  # type: ignore[override]
        (h_seq,) = ctx.saved_tensors
        p: LIFParams = ctx.params
        if ctx.fused:
            from .cpu_kernels.lif import lif_backward

            g_x, g_v = lif_backward(h_seq, g_spikes, g_vT, p, grad_buffer(h_seq))
            return g_x.to(ctx.x_dtype), (g_v if ctx.has_state else None), None, None
        a, b = charge_grads(p.tau, p.decay_input)
        th = p.v_threshold
        g_spikes = g_spikes.float()
        g_x = grad_buffer(h_seq)  # holds g_H until the final scaling by b; may be h_seq itself
        g_v = g_vT.float().clone() if g_vT is not None else torch.zeros_like(h_seq[0])
        T = h_seq.shape[0]
        for t0, t1 in reverse_chunks(T, h_seq[0].numel()):
            h = h_seq[t0:t1]  # read everything needed from h before g_x (maybe the same memory) is written
            sg = p.surrogate.grad_(h - th)
            if p.hard:
                c = torch.lt(h, th, out=torch.empty_like(h))  # ∂V/∂H = 1 − S (float mask: bool is slow)
                if not p.detach_reset:
                    c.addcmul_(sg, p.v_reset - h)  # + sg·∂V/∂S, ∂V/∂S = V_r − H
            elif not p.detach_reset:
                c = torch.mul(sg, -th).add_(1.0)  # 1 − V_th·sg
            else:
                c = None  # ∂V/∂H = 1, no reset term
            torch.mul(g_spikes[t0:t1], sg, out=g_x[t0:t1])  # P = g_spike·sg
            for t in range(t1 - 1, t0 - 1, -1):
                g_h = g_x[t]
                if c is None:
                    g_h.add_(g_v)
                else:
                    g_h.addcmul_(g_v, c[t - t0])
                torch.mul(g_h, a, out=g_v)
        if b != 1.0:
            g_x.mul_(b)
        return g_x.to(ctx.x_dtype), (g_v if ctx.has_state else None), None, None


@register_impl("lif", Backend.BPTT)
def lif_seq_bptt(x_seq: Tensor, params: LIFParams, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
    """LIF over ``x_seq`` [T, B, *] with the hand-written BPTT Function; same results as ``lif_seq``."""
    check_seq(x_seq, state)
    v0 = state.v if state is not None else None  # None: the Function starts from zeros (and returns no state grad)
    spikes, v = LIFFunction.apply(x_seq, v0, params, grad_needed(x_seq, v0))
    return spikes, LIFState(v)


class LIF(NeuronModule):
    """Leaky integrate-and-fire neuron layer. ``forward(x_seq)``: [T, B, *] → binary spikes [T, B, *].

    Args:
        tau: membrane time constant in time steps (> 1); decay β = 1 − 1/τ.
        v_threshold: firing threshold (> 0); fires when H ≥ v_threshold.
        v_reset: ``None`` for soft (subtractive) reset, a float for hard reset to that value.
        decay_input: scale the input by 1/τ (spikingjelly convention) instead of adding it whole.
        surrogate: a ``Surrogate``, a name such as ``"sigmoid:4"``, or ``None`` (Sigmoid, α = 4).
        detach_reset: no gradient through the spike in the reset.
        backend: ``"auto"`` (Triton on CUDA, else ``"bptt"``), ``"bptt"``, ``"torch"`` or ``"triton"``.
        step_mode: ``"m"`` (sequences) or ``"s"`` (one step at a time, stateful; see ``reset_state``).
    """

    neuron_name = "lif"

    def __init__(
        self,
        tau: float = 2.0,
        v_threshold: float = 1.0,
        v_reset: float | None = None,
        decay_input: bool = False,
        surrogate: Surrogate | str | None = None,
        detach_reset: bool = False,
        backend: str = "auto",
        step_mode: str = "m",
        check_inputs: bool = True,
    ):
        super().__init__(backend, step_mode, check_inputs)
        self._params = LIFParams(tau, v_threshold, v_reset, decay_input, detach_reset, get_surrogate(surrogate, Sigmoid))

    def params(self) -> LIFParams:
        return self._params

    def init_state(self, x: Tensor) -> LIFState:
        return lif_init_state(x)

    step = staticmethod(lif_step)
