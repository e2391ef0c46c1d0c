"""Charge / fire / reset: the named pieces every neuron is composed of (written once, used everywhere).

The charge forms fix one floating-point operation order, the one of the CLIF reference step (spikingjelly 2.0
``_ops/clif/reference.py``: ``h = v - (v - 0.0) / tau + x``) and of the KLIF paper's equation, so that
rounding, and therefore every spike, is the same in every backend and kernel:

    decay_input=False:  H = V − (V − V_rest)/τ + X
    decay_input=True:   H = V + (X − (V − V_rest))/τ

V_rest is the hard-reset value V_r (0 for soft reset). Both are H = a·V + b·X + c with a = 1 − 1/τ (= β), b =
1 or 1/τ, c = V_rest/τ; ``charge_grads`` gives (a, b). ``bptt.charge_into`` is the in-place twin of ``charge``
that the eager BPTT loops use.
"""

from __future__ import annotations

from torch import Tensor

from .surrogate import Surrogate, heaviside

__all__ = ["charge", "charge_grads", "fire", "hard_reset", "soft_reset"]


def charge(v: Tensor, x: Tensor, tau: float, decay_input: bool, v_rest: float = 0.0) -> Tensor:
    """Leaky integration H = a·V + b·X + c in the fixed operation order of the module docstring."""
    if decay_input:
        return v + (x - (v - v_rest)) / tau
    return v - (v - v_rest) / tau + x


def charge_grads(tau: float, decay_input: bool) -> tuple[float, float]:
    """(∂H/∂V, ∂H/∂X) of ``charge``: (1 − 1/τ, 1/τ) with decay_input, else (1 − 1/τ, 1)."""
    return 1.0 - 1.0 / tau, (1.0 / tau if decay_input else 1.0)


def fire(h: Tensor, v_threshold: float, surrogate: Surrogate | None) -> Tensor:
    """S = Θ(H − V_th): with a surrogate gradient when ``surrogate`` is given, else the bare step."""
    z = h - v_threshold
    return surrogate(z) if surrogate is not None else heaviside(z)


def soft_reset(h: Tensor, s: Tensor, amount: Tensor | float) -> Tensor:
    """Subtractive reset V = H − S·amount."""
    return h - s * amount


def hard_reset(h: Tensor, s: Tensor, v_reset: float) -> Tensor:
    """Reset to value V = (1 − S)·H + S·V_r (spikingjelly's operation order)."""
    return (1.0 - s) * h + s * v_reset
