"""IAF: integrate-and-fire without leak, with several spikes per step and subtractive reset (Speck, sinabs).

Equations, one step (θ = V_th > 0, K = ``max_spikes`` ≥ 1 or ``None`` for no cap):

    H[t] = V[t−1] + X[t]
    N[t] = min(max(floor(H[t] / θ), 0), K)       (the spike count; K = 1: N = Θ(H − θ), fires at H ≥ θ)
    V[t] = H[t] − N[t]·θ                          (subtractive reset, once per spike)
    V[t] = max(V[t], V_min)                       (only when ``v_min`` is set; as relu(V − V_min) + V_min)

Source: sinabs 3.1.3 (the Speck / DYNAP-CNN toolchain) ``layers/functional/lif.py`` ``lif_forward_single``
(IAF = LIF with ``alpha_mem = 1``; ``min_v_mem`` applied as ``relu(v − min_v_mem) + min_v_mem`` after the
reset), ``activation/spike_generation.py`` ``MultiSpike.forward`` (``(v > 0)·trunc(v/θ)``, i.e. floor(v/θ) for
v ≥ θ and 0 otherwise; ``MaxSpike`` caps it), ``activation/reset_mechanism.py`` ``MembraneSubtract`` (v −
N·θ). The defaults are sinabs' ``IAF`` defaults: no cap (``MultiSpike``) and no floor (``min_v_mem=None``);
``sinabs.from_nir`` and snndeploy's Speck artifacts use V_min = −θ (``SpeckIAF``, ``docs/hardware_speck.md``).
The count is computed as ``floor(H/θ)`` in float32 (one correctly rounded division, clamped to [0, K], then
truncated by a cast to integers: the same bits in torch and ONNX) and the floor in sinabs' order, so the step
is sinabs' float forward bit for bit (tested, off the grid too); for K = 1 the spike is ``fire(H, θ)`` (``H −
θ ≥ 0``), which equals ``floor(H/θ) ≥ 1`` bit for bit (for H < θ the rounded quotient stays below 1). On
Speck's integer grid (H, θ integer multiples of one power of two below 2**24 of it) every operation is exact,
so the float neuron equals the chip's integer IAF.

Spikes are counts: a float tensor of non-negative integers, {0, 1} when K = 1.

Surrogate gradient of the count (a choice, documented here). For H ≥ 0 the capped count is exactly a sum of
steps, N = Σ_{k=1..K} Θ(H − kθ); each Θ' is replaced by the neuron's surrogate, keeping the two steps next to
H (k = N and k = N + 1, within 1..K):

    ∂N/∂H ≈ [N ≥ 1]·sg(H − Nθ) + [N + 1 ≤ K]·sg(H − (N+1)θ)

For K = 1 this is sg(H − θ), the binary neurons' surrogate. The steps left out lie at least θ away from H
(Sigmoid(4) at θ = 1: at most 7.1 % of its peak); for a surrogate at most θ wide (Rectangle/Triangle with α ≤
θ) nothing is left out. sinabs' ``MultiSpike`` instead evaluates its surrogate at the first threshold only
(``BackwardClass.backward``: ``surrogate_grad_fn(v_mem, spike_threshold)``), which gives no gradient between
the second and later spikes unless the surrogate is wide (its ``Heaviside(window)`` is 1/θ on all of v ≥ θ −
window). With ``detach_reset`` the N in the reset carries no gradient; the floor V_min passes no gradient
where it acts.

Engine: only the reference ``torch`` (autograd through ``iaf_step``); ``auto`` resolves to it on every device
(no hand-written BPTT engine: skipped, the neuron is meant for chip-faithful training of small networks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import InvalidParameterError
from .base import NeuronModule, check_finite_number, check_seq, check_threshold, run_steps
from .dynamics import fire
from .engine import Backend, register_impl
from .surrogate import Sigmoid, Surrogate, get_surrogate

__all__ = [
    "IAF",
    "IAFParams",
    "IAFState",
    "iaf_init_state",
    "iaf_step",
    "iaf_seq",
    "spike_count",
    "check_max_spikes",
]


def check_max_spikes(name: str, value: object) -> int | None:
    """``None`` (no cap) or an int ≥ 1; anything else raises ``InvalidParameterError`` naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(f"{name} must be None (no cap) or an integer >= 1, got {value!r}")
    return int(value)


class _ExtraSpikes(torch.autograd.Function):
    """The spikes after the first, N − Θ(H − θ) = max(N − 1, 0), N = min(max(floor(H/θ), 0), K); backward: the
    two-step surrogate of the module docstring minus the first step's sg(H − θ) (which ``spike_count`` adds
    through ``fire``)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, h: Tensor, theta: float, cap: int | None, surrogate: Surrogate
    ) -> Tensor:
        q = torch.clamp(h / theta, min=0.0, max=None if cap is None else float(cap))
        n = q.to(torch.int64).to(h.dtype)  # truncation = floor for q ≥ 0 (ONNX: Clip, Cast; no Floor)
        ctx.save_for_backward(h, n)
        ctx.theta, ctx.cap, ctx.surrogate = theta, cap, surrogate
        return torch.relu(n - 1.0)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        h, n = ctx.saved_tensors
        theta, cap, sg = ctx.theta, ctx.cap, ctx.surrogate
        below = torch.where(n >= 1, sg.grad(h - n * theta), torch.zeros_like(h))
        above = sg.grad(h - (n + 1) * theta)
        if cap is not None:
            above = torch.where(n + 1 <= cap, above, torch.zeros_like(h))
        return g * (below + above - sg.grad(h - theta)), None, None, None


def spike_count(h: Tensor, v_threshold: float, max_spikes: int | None, surrogate: Surrogate) -> Tensor:
    """The spike count N of the module docstring (float, non-negative integers) with its surrogate gradient.

    N = Θ(H − θ) + max(N − 1, 0): the first spike is ``fire(H, θ)``, the binary spike of every other neuron
    (so the surrogate sees z = H − θ once per step, as ``verify.margins`` expects); ``max_spikes = 1`` is that
    alone.
    """
    first = fire(h, v_threshold, surrogate)
    if max_spikes == 1:
        return first
    return first + _ExtraSpikes.apply(h, v_threshold, max_spikes, surrogate)


@dataclass(frozen=True)
class IAFParams:
    """IAF parameters (validated): θ > 0; ``max_spikes`` None or ≥ 1; ``v_min`` None or a finite value ≤ 0."""

    v_threshold: float = 1.0
    max_spikes: int | None = None
    v_min: float | None = None
    detach_reset: bool = False
    surrogate: Surrogate = field(default_factory=Sigmoid)

    def __post_init__(self) -> None:
        object.__setattr__(self, "v_threshold", check_threshold("v_threshold", self.v_threshold))
        object.__setattr__(self, "max_spikes", check_max_spikes("max_spikes", self.max_spikes))
        if self.v_min is not None:
            v_min = check_finite_number("v_min", self.v_min)
            if v_min > 0:
                raise InvalidParameterError(
                    f"v_min must be <= 0 (a lower bound of the membrane, sinabs' min_v_mem), got {v_min}"
                )
            object.__setattr__(self, "v_min", v_min)
        if not isinstance(self.detach_reset, bool):
            raise InvalidParameterError(f"detach_reset must be a bool, got {self.detach_reset!r}")
        if not isinstance(self.surrogate, Surrogate):
            raise InvalidParameterError(f"surrogate must be a Surrogate, got {type(self.surrogate).__name__}")


class IAFState(NamedTuple):
    v: Tensor


def iaf_init_state(x: Tensor) -> IAFState:
    """Zero state shaped like one time step ``x`` ([B, *]), float32."""
    return IAFState(torch.zeros(x.shape, dtype=torch.float32, device=x.device))


def iaf_step(x: Tensor, state: IAFState, params: IAFParams) -> tuple[Tensor, IAFState]:
    """One IAF step (reference, autograd through the surrogate). ``x``: [B, *] float32."""
    h = state.v + x
    n = spike_count(h, params.v_threshold, params.max_spikes, params.surrogate)
    n_r = n.detach() if params.detach_reset else n
    v = h - n_r * params.v_threshold
    if params.v_min is not None:  # max(V, V_min) in sinabs' float order (bit for bit its forward)
        v = torch.relu(v - params.v_min) + params.v_min
    return n, IAFState(v)


@register_impl("iaf", Backend.TORCH)
def iaf_seq(x_seq: Tensor, params: IAFParams, state: IAFState | None = None) -> tuple[Tensor, IAFState]:
    """IAF over a sequence ``x_seq`` [T, B, *] by autograd through a plain loop (the reference)."""
    check_seq(x_seq, state)
    state = state if state is not None else iaf_init_state(x_seq[0])
    return run_steps(iaf_step, x_seq, params, state)


class IAF(NeuronModule):
    """Integrate-and-fire layer (module docstring). ``forward(x_seq)``: [T, B, *] → spike counts [T, B, *].

    Args:
        v_threshold: θ > 0; a neuron fires floor(H/θ) spikes at H ≥ θ.
        max_spikes: cap K on the spikes per step: ``None`` (default, sinabs' ``MultiSpike``, Speck) or an
            int ≥ 1 (``1``: binary spikes).
        v_min: lower bound of the membrane after the reset (≤ 0; sinabs' ``min_v_mem``), ``None`` for none.
            Speck's artifacts need ``-v_threshold`` (``sinabs.from_nir`` sets it).
        surrogate: a ``Surrogate``, a name such as ``"sigmoid:4"``, or ``None`` (Sigmoid, α = 4).
        detach_reset: no gradient through the spike count in the reset.
        backend: ``"auto"`` or ``"torch"`` (the only engine: the reference).
        step_mode: ``"m"`` (sequences) or ``"s"`` (one step at a time, stateful; see ``reset_state``).
    """

    neuron_name = "iaf"

    def __init__(
        self,
        v_threshold: float = 1.0,
        max_spikes: int | None = None,
        v_min: float | None = None,
        surrogate: Surrogate | str | None = None,
        detach_reset: bool = False,
        backend: str = "auto",
        step_mode: str = "m",
        check_inputs: bool = True,
    ):
        super().__init__(backend, step_mode, check_inputs)
        self._params = IAFParams(
            v_threshold, max_spikes, v_min, detach_reset, get_surrogate(surrogate, Sigmoid)
        )

    def params(self) -> IAFParams:
        return self._params

    def init_state(self, x: Tensor) -> IAFState:
        return iaf_init_state(x)

    step = staticmethod(iaf_step)
