"""LIF: leaky integrate-and-fire, soft or hard reset (the CLIF/ILIF repos' baseline, spikingjelly
``LIFNode``).

Equations (Θ(z) = 1 if z ≥ 0; β = 1 − 1/τ; V_rest = V_r for hard reset, 0 for soft):

    H[t] = V[t−1] − (V[t−1] − V_rest)/τ + X[t]         (decay_input=False; = β·V + X when V_rest = 0)
    H[t] = V[t−1] + (X[t] − (V[t−1] − V_rest))/τ       (decay_input=True)
    S[t] = Θ(H[t] − V_th)
    V[t] = H[t] − S[t]·V_th                             (soft reset, v_reset=None)
    V[t] = (1 − S[t])·H[t] + S[t]·V_r                   (hard reset)

With ``detach_reset`` the S in the reset line carries no gradient. Defaults follow the CLIF/ILIF repos:
``tau=2.0, v_threshold=1.0, v_reset=None, decay_input=False``, Sigmoid(α=4) surrogate.

BPTT (the hand-written engines ``eager`` and ``numba``: ``LIFFunction``), per step in reverse, with g_V the
gradient arriving at V[t]:
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
from .dynamics import charge, fire, hard_reset, soft_reset
from .engine import Backend, SeqFn, deprecated_seq, register_impl
from .surrogate import Sigmoid, Surrogate, get_surrogate

__all__ = [
    "LIF",
    "LIFParams",
    "LIFState",
    "lif_init_state",
    "lif_step",
    "lif_seq",
    "LIFFunction",
    "make_seq",
    "lif_seq_bptt",
]


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
                raise InvalidParameterError(
                    f"v_reset ({self.v_reset}) must be below v_threshold ({self.v_threshold})"
                )

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


class LIFFunction(torch.autograd.Function):
    """LIF sequence with a hand-written reverse-time backward (see the module docstring), on the loops of the
    engine that built the sequence function (``make_seq``): ``eager_loops/lif.py`` (PyTorch ops) or
    ``cpu_loops/lif.py`` (numba). Both compute the float32 operations of ``lif_step`` in the same order and
    save the same tensor:

        loops.forward(x32, v0 | None, params, save) -> (S, H, V[T−1])        (v0 None: zeros)
        loops.backward(H, g_spikes, g_V | None, params, g_x) -> (g_x, g_V0)  (g_x: where to write; may be H)

    ``save=False`` (no gradient will be asked for) lets the loops keep only a row or two of H.
    """

    @staticmethod
    def forward(ctx, x_seq: Tensor, v0: Tensor | None, params: LIFParams, save: bool, loops: BPTTLoops):  # type: ignore[override]
        s_seq, h_seq, v = loops.forward(x_seq.float(), v0, params, save)
        ctx.save_for_backward(h_seq)
        ctx.loops, ctx.params, ctx.x_dtype, ctx.has_state = loops, params, x_seq.dtype, v0 is not None
        return s_seq.to(x_seq.dtype), v

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_vT: Tensor | None):  # type: ignore[override]
        (h_seq,) = ctx.saved_tensors
        g_x, g_v = ctx.loops.backward(h_seq, g_spikes, g_vT, ctx.params, grad_buffer(h_seq))
        return g_x.to(ctx.x_dtype), (g_v if ctx.has_state else None), None, None, None


def make_seq(loops: BPTTLoops) -> SeqFn:
    """The LIF sequence function of a hand-written BPTT engine (``seq(x_seq, params, state=None)``)."""

    def seq(x_seq: Tensor, params: LIFParams, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        check_seq(x_seq, state)
        v0 = state.v if state is not None else None  # None: the loops start from zeros (no state gradient)
        spikes, v = LIFFunction.apply(x_seq, v0, params, grad_needed(x_seq, v0), loops)
        return spikes, LIFState(v)

    return name_seq(seq, "lif", loops)


lif_seq_bptt = deprecated_seq("lif", "lif_seq_bptt")


class LIF(NeuronModule):
    """Leaky integrate-and-fire neuron layer. ``forward(x_seq)``: [T, B, *] → binary spikes [T, B, *].

    Args:
        tau: membrane time constant in time steps (> 1); decay β = 1 − 1/τ.
        v_threshold: firing threshold (> 0); fires when H ≥ v_threshold.
        v_reset: ``None`` for soft (subtractive) reset, a float for hard reset to that value.
        decay_input: scale the input by 1/τ (spikingjelly convention) instead of adding it whole.
        surrogate: a ``Surrogate``, a name such as ``"sigmoid:4"``, or ``None`` (Sigmoid, α = 4).
        detach_reset: no gradient through the spike in the reset.
        backend: ``"auto"`` (per device: ``"triton"`` on CUDA, ``"numba"`` on CPU, else ``"eager"``), or
            ``"torch"`` (reference), ``"eager"``, ``"numba"``, ``"triton"`` (see ``neurons/engine.py``).
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
        self._params = LIFParams(
            tau, v_threshold, v_reset, decay_input, detach_reset, get_surrogate(surrogate, Sigmoid)
        )

    def params(self) -> LIFParams:
        return self._params

    def init_state(self, x: Tensor) -> LIFState:
        return lif_init_state(x)

    step = staticmethod(lif_step)
