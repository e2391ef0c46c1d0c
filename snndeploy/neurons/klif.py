"""KLIF: LIF with a learnable scaling factor k and a ReLU on the membrane (Jiang & Zhang, "KLIF: An optimized
spiking neuron unit for tuning surrogate gradient slope and membrane potential", ICASSP 2023; reference:
spikingjelly ``KLIFNode`` with ``scale_reset=False``).

Equations (Θ(z) = 1 if z ≥ 0):

    H[t] = V[t−1] + (X[t] − (V[t−1] − V_r))/τ           (decay_input=True, the default)
    H[t] = V[t−1] − (V[t−1] − V_r)/τ + X[t]             (decay_input=False)
    F[t] = ReLU(k·H[t])
    S[t] = Θ(F[t] − V_th)
    V[t] = F[t]·(1 − S[t]) + V_r·S[t]

k is one learnable scalar per layer (init 1.0): it scales the slope the surrogate sees, dS/dH = k·sg(kH − V_th).
Defaults ``tau=2.0, v_threshold=1.0, v_reset=0.0, decay_input=True``, Sigmoid(α=4) surrogate.

BPTT (backend "bptt"), per step in reverse with g_V arriving at V[t]:
    g_S = g_spike[t] + g_V·(V_r − F)        (dropped with detach_reset)
    g_F = g_S·sg(F − V_th) + g_V·(1 − S)
    g_H = g_F·k·[kH > 0];   g_k += Σ g_F·H·[kH > 0]
    g_X[t] = b·g_H;   g_V[t−1] = a·g_H       with (a, b) = ``charge_grads``.
Saved for backward: H (4 bytes per neuron-step, float32); F and S are recomputed from H and k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor, nn

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
from .dynamics import charge, charge_grads, charge_into, fire, grad_buffer, hard_reset, reverse_chunks
from .surrogate import Sigmoid, Surrogate, get_surrogate

__all__ = ["KLIF", "KLIFParams", "KLIFState", "klif_step", "klif_seq", "klif_seq_bptt", "KLIFFunction"]


@dataclass(frozen=True, eq=False)
class KLIFParams:
    """KLIF parameters; ``k`` is a 0-dim tensor (the module's learnable ``nn.Parameter``)."""

    k: Tensor
    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float = 0.0
    decay_input: bool = True
    detach_reset: bool = False
    surrogate: Surrogate = field(default_factory=Sigmoid)

    def __post_init__(self) -> None:
        if not isinstance(self.k, Tensor) or self.k.numel() != 1:
            raise InvalidParameterError(f"k must be a one-element tensor, got {self.k!r}")
        object.__setattr__(self, "tau", check_tau("tau", self.tau))
        object.__setattr__(self, "v_threshold", check_threshold("v_threshold", self.v_threshold))
        object.__setattr__(self, "v_reset", check_finite_number("v_reset", self.v_reset))
        if self.v_reset >= self.v_threshold:
            raise InvalidParameterError(f"v_reset ({self.v_reset}) must be below v_threshold ({self.v_threshold})")


class KLIFState(NamedTuple):
    v: Tensor


def klif_init_state(x: Tensor) -> KLIFState:
    return KLIFState(torch.zeros(x.shape, dtype=torch.float32, device=x.device))


def _scaled_membrane(v: Tensor, x: Tensor, p: KLIFParams) -> tuple[Tensor, Tensor]:
    h = charge(v, x, p.tau, p.decay_input, p.v_reset)
    return h, torch.relu(p.k.float() * h)


def klif_step(x: Tensor, state: KLIFState, params: KLIFParams) -> tuple[Tensor, KLIFState]:
    """One KLIF step (reference, autograd through the surrogate, the ReLU and k). ``x``: [B, *] float32."""
    _, f = _scaled_membrane(state.v, x, params)
    s = fire(f, params.v_threshold, params.surrogate)
    s_r = s.detach() if params.detach_reset else s
    return s, KLIFState(hard_reset(f, s_r, params.v_reset))


@register_impl("klif", Backend.TORCH)
def klif_seq(x_seq: Tensor, params: KLIFParams, state: KLIFState | None = None) -> tuple[Tensor, KLIFState]:
    """KLIF over ``x_seq`` [T, B, *] by autograd through a plain loop (the reference)."""
    check_seq(x_seq, state)
    state = state if state is not None else klif_init_state(x_seq[0])
    return run_steps(klif_step, x_seq, params, state)


def _forward_eager(x_seq: Tensor, v0: Tensor, k: Tensor, p: KLIFParams) -> tuple[Tensor, Tensor, Tensor]:
    """(spikes, H, final V): the forward loop in PyTorch ops (any device), the same float32 operations as
    ``klif_step``."""
    x32 = x_seq.float()
    v = v0.float().clone()
    kf = k.detach().float()
    h_seq = torch.empty(x_seq.shape, dtype=torch.float32, device=x_seq.device)
    s_seq = torch.empty_like(h_seq)
    f = torch.empty_like(v)
    tmp = torch.empty_like(v)
    for t in range(x_seq.shape[0]):
        h = charge_into(h_seq[t], v, x32[t], p.tau, p.decay_input, p.v_reset, tmp)
        torch.mul(h, kf, out=f).relu_()  # F = ReLU(k·H)
        s = torch.ge(f, p.v_threshold, out=s_seq[t])  # Θ(F − V_th) as F ≥ V_th
        # F(1 − S) + V_r·S as (1 − S)·F + S·V_r: products exact for S ∈ {0, 1}, same rounding
        torch.mul(torch.sub(s, 1.0, out=tmp).neg_(), f, out=v).add_(s, alpha=p.v_reset)
    return s_seq, h_seq, v


class KLIFFunction(torch.autograd.Function):
    """KLIF sequence with a hand-written reverse-time backward, including the gradient of k.

    Forward: the same float32 operations as ``klif_step`` (bit-identical spikes and states) into owned buffers;
    the hard reset F(1 − S) + V_r·S is ``mul`` + ``add(alpha=V_r)`` (exact products for S ∈ {0, 1}). Backward: the module docstring's recursion
    regrouped as g_F = P + g_V·C with P = g_spike·sg·[kH > 0] and C = [kH > 0]·((V_r − F)·sg + 1 − S) computed
    for a chunk of steps at once; g_k = Σ g_F·H and g_X = b·k·g_F are computed once after the loop.

    Loops: for CPU tensors the forward and backward run as fused numba loops
    (``snndeploy/neurons/cpu_kernels/klif.py``: same saved tensors, same float32 operations); the eager PyTorch
    loops below (``_forward_eager`` and the chunked backward) run on other devices, without numba, or with
    ``SNNDEPLOY_FUSED_CPU=0``.
    """

    @staticmethod
    def forward(ctx, x_seq: Tensor, v0: Tensor, k: Tensor, params: KLIFParams, save: bool = True):  # type: ignore[override]
        p = params
        ctx.fused = cpu_kernels.usable(x_seq) and k.device.type == "cpu"
        ctx.has_state = v0 is not None  # None: start from zeros (no state gradient to return)
        if ctx.fused:
            from .cpu_kernels.klif import klif_forward

            s_seq, h_seq, v = klif_forward(x_seq.float(), v0, float(k.detach().float()), p, save)
        else:
            v0 = v0 if v0 is not None else klif_init_state(x_seq[0]).v
            s_seq, h_seq, v = _forward_eager(x_seq, v0, k, p)
        ctx.save_for_backward(h_seq, k)
        ctx.params = p
        ctx.x_dtype = x_seq.dtype
        return s_seq.to(x_seq.dtype), v

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_vT: Tensor | None):  # type: ignore[override]
        h_seq, k = ctx.saved_tensors
        p: KLIFParams = ctx.params
        if ctx.fused:
            from .cpu_kernels.klif import klif_backward

            kv = float(k.detach().float())
            g_x, g_v, g_k = klif_backward(h_seq, g_spikes, g_vT, kv, p, grad_buffer(h_seq))
            g_k_t = torch.tensor(g_k, dtype=k.dtype).reshape(k.shape)
            return g_x.to(ctx.x_dtype), (g_v if ctx.has_state else None), g_k_t, None, None
        a, b = charge_grads(p.tau, p.decay_input)
        kf = k.detach().float()
        kv = float(kf)
        th = p.v_threshold
        g_spikes = g_spikes.float()
        g_x = grad_buffer(h_seq)  # may be h_seq itself: step t of h is read before step t of g_x is written
        g_v = g_vT.float().clone() if g_vT is not None else torch.zeros_like(h_seq[0])
        g_k = torch.zeros((), dtype=torch.float32, device=h_seq.device)
        for t0, t1 in reverse_chunks(h_seq.shape[0], h_seq[0].numel()):
            h = h_seq[t0:t1]  # intact until g_x[t0:t1] (maybe the same memory) is written at the end
            kh = h * kf
            pos = torch.gt(kh, 0.0, out=torch.empty_like(kh))  # float masks: bool tensors are slow on CPU
            f = kh.relu_()
            sg = p.surrogate.grad_(f - th).mul_(pos)  # sg·[kH > 0]
            c = torch.lt(f, th, out=torch.empty_like(f)).mul_(pos)  # [kH > 0]·(1 − S)
            if not p.detach_reset:
                c.addcmul_(sg, f.neg_().add_(p.v_reset))  # + [kH > 0]·sg·(V_r − F)
            g_f = sg.mul_(g_spikes[t0:t1])  # P = g_spike·sg·[kH > 0], then g_F in place
            for t in range(t1 - 1, t0 - 1, -1):
                g = g_f[t - t0].addcmul_(g_v, c[t - t0])  # g_F = P + g_V·C
                torch.mul(g, a * kv, out=g_v)  # g_V[t−1] = a·k·g_F
            g_k += torch.dot(g_f.reshape(-1), h.reshape(-1))  # Σ g_F·H
            torch.mul(g_f, b * kv, out=g_x[t0:t1])  # g_X = b·k·g_F
        return g_x.to(ctx.x_dtype), (g_v if ctx.has_state else None), g_k.reshape(k.shape).to(k.dtype), None, None


@register_impl("klif", Backend.BPTT)
def klif_seq_bptt(x_seq: Tensor, params: KLIFParams, state: KLIFState | None = None) -> tuple[Tensor, KLIFState]:
    """KLIF over ``x_seq`` [T, B, *] with the hand-written BPTT Function; same results as ``klif_seq``."""
    check_seq(x_seq, state)
    v0 = state.v if state is not None else None  # None: the Function starts from zeros (and returns no state grad)
    spikes, v = KLIFFunction.apply(x_seq, v0, params.k, params, grad_needed(x_seq, v0, params.k))
    return spikes, KLIFState(v)


class KLIF(NeuronModule):
    """KLIF neuron layer with a learnable scalar ``k``. ``forward(x_seq)``: [T, B, *] → binary spikes.

    Args:
        tau: membrane time constant in time steps (> 1).
        v_threshold: firing threshold (> 0).
        v_reset: hard-reset value (< v_threshold).
        decay_input: scale the input by 1/τ (default True, as in the KLIF code).
        k_init: initial value of the learnable scale k.
        surrogate: a ``Surrogate``, a name, or ``None`` (Sigmoid, α = 4).
        detach_reset: no gradient through the spike in the reset.
        backend, step_mode, check_inputs: see ``NeuronModule``.
    """

    neuron_name = "klif"

    def __init__(
        self,
        tau: float = 2.0,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
        decay_input: bool = True,
        k_init: float = 1.0,
        surrogate: Surrogate | str | None = None,
        detach_reset: bool = False,
        backend: str = "auto",
        step_mode: str = "m",
        check_inputs: bool = True,
    ):
        super().__init__(backend, step_mode, check_inputs)
        self.k = nn.Parameter(torch.tensor(check_finite_number("k_init", k_init)))
        self._config = dict(
            tau=tau, v_threshold=v_threshold, v_reset=v_reset, decay_input=decay_input,
            detach_reset=detach_reset, surrogate=get_surrogate(surrogate, Sigmoid),
        )
        self.params()  # validate now, not at the first forward

    def params(self) -> KLIFParams:
        return KLIFParams(self.k, **self._config)

    def init_state(self, x: Tensor) -> KLIFState:
        return klif_init_state(x)

    step = staticmethod(klif_step)
