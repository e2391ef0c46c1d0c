"""KLIF: LIF with a learnable scaling factor k and a ReLU on the membrane (Jiang & Zhang, "KLIF: An optimized
spiking neuron unit for tuning surrogate gradient slope and membrane potential", ICASSP 2023; reference:
spikingjelly ``KLIFNode`` with ``scale_reset=False``).

Equations (Θ(z) = 1 if z ≥ 0):

    H[t] = V[t−1] + (X[t] − (V[t−1] − V_r))/τ           (decay_input=True, the default)
    H[t] = V[t−1] − (V[t−1] − V_r)/τ + X[t]             (decay_input=False)
    F[t] = ReLU(k·H[t])
    S[t] = Θ(F[t] − V_th)
    V[t] = F[t]·(1 − S[t]) + V_r·S[t]

k is one learnable scalar per layer (init 1.0): it scales the slope the surrogate sees, dS/dH = k·sg(kH −
V_th). Defaults ``tau=2.0, v_threshold=1.0, v_reset=0.0, decay_input=True``, Sigmoid(α=4) surrogate.

BPTT (the hand-written engines ``eager`` and ``numba``: ``KLIFFunction``), per step in reverse with g_V
arriving at V[t]:
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
from .dynamics import charge, fire, hard_reset
from .engine import Backend, SeqFn, deprecated_seq, register_impl
from .surrogate import Sigmoid, Surrogate, get_surrogate

__all__ = [
    "KLIF",
    "KLIFParams",
    "KLIFState",
    "klif_init_state",
    "klif_step",
    "klif_seq",
    "KLIFFunction",
    "make_seq",
    "klif_seq_bptt",
]


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
            raise InvalidParameterError(
                f"v_reset ({self.v_reset}) must be below v_threshold ({self.v_threshold})"
            )


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


class KLIFFunction(torch.autograd.Function):
    """KLIF sequence with a hand-written reverse-time backward, including the gradient of k, on the loops of
    the engine that built the sequence function (``make_seq``): ``eager_loops/klif.py`` or
    ``cpu_loops/klif.py``. Both compute the float32 operations of ``klif_step`` in the same order and save the
    same tensor (H):

        loops.forward(x32, v0 | None, k, params, save) -> (S, H, V[T−1])
        loops.backward(H, g_spikes, g_V | None, k, params, g_x) -> (g_x, g_V0, g_k per neuron)

    The loops return Σ_t g_F·H per neuron (float32, summed in reverse time order); the Function adds them up
    in float64, the same reduction for every engine, so g_k is bit-identical across engines and thread counts.
    """

    @staticmethod
    def forward(
        ctx,
        x_seq: Tensor,
        v0: Tensor | None,
        k: Tensor,
        params: KLIFParams,
        save: bool,  # type: ignore[override]
        loops: BPTTLoops,
    ):
        s_seq, h_seq, v = loops.forward(x_seq.float(), v0, k, params, save)
        ctx.save_for_backward(h_seq, k)
        ctx.loops, ctx.params, ctx.x_dtype, ctx.has_state = loops, params, x_seq.dtype, v0 is not None
        return s_seq.to(x_seq.dtype), v

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_vT: Tensor | None):  # type: ignore[override]
        h_seq, k = ctx.saved_tensors
        g_x, g_v, g_k_parts = ctx.loops.backward(h_seq, g_spikes, g_vT, k, ctx.params, grad_buffer(h_seq))
        g_k = g_k_parts.double().sum().reshape(k.shape).to(device=k.device, dtype=k.dtype)
        return g_x.to(ctx.x_dtype), (g_v if ctx.has_state else None), g_k, None, None, None


def make_seq(loops: BPTTLoops) -> SeqFn:
    """The KLIF sequence function of a hand-written BPTT engine (``seq(x_seq, params, state=None)``)."""

    def seq(x_seq: Tensor, params: KLIFParams, state: KLIFState | None = None) -> tuple[Tensor, KLIFState]:
        check_seq(x_seq, state)
        v0 = state.v if state is not None else None  # None: the loops start from zeros (no state gradient)
        spikes, v = KLIFFunction.apply(x_seq, v0, params.k, params, grad_needed(x_seq, v0, params.k), loops)
        return spikes, KLIFState(v)

    return name_seq(seq, "klif", loops)


klif_seq_bptt = deprecated_seq("klif", "klif_seq_bptt")


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
            tau=tau,
            v_threshold=v_threshold,
            v_reset=v_reset,
            decay_input=decay_input,
            detach_reset=detach_reset,
            surrogate=get_surrogate(surrogate, Sigmoid),
        )
        self.params()  # validate now, not at the first forward

    def params(self) -> KLIFParams:
        return KLIFParams(self.k, **self._config)

    def init_state(self, x: Tensor) -> KLIFState:
        return klif_init_state(x)

    step = staticmethod(klif_step)
