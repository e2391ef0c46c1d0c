"""Charge / fire / reset: the named pieces every neuron is composed of (written once, used everywhere).

The charge forms fix one floating-point operation order, the one of the CLIF reference step
(spikingjelly 2.0 ``_ops/clif/reference.py``: ``h = v - (v - 0.0) / tau + x``) and of the KLIF paper's equation, so
that rounding, and therefore every spike, is the same in every backend and kernel:

    decay_input=False:  H = V − (V − V_rest)/τ + X
    decay_input=True:   H = V + (X − (V − V_rest))/τ

V_rest is the hard-reset value V_r (0 for soft reset). Both are H = a·V + b·X + c with a = 1 − 1/τ (= β), b = 1 or 1/τ, c = V_rest/τ; ``charge_grads`` gives (a, b).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .surrogate import Surrogate, heaviside

__all__ = ["charge", "charge_grads", "fire", "hard_reset", "soft_reset", "charge_into", "reverse_chunks", "grad_buffer", "CHUNK_ELEMENTS"]


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


# --------------------------------------------------------------------------- BPTT helpers (CPU fast path)

#: Elements per time chunk of the backward passes' vectorised precomputation (256 KiB per float32 buffer):
#: several steps per op for small layers (amortises the per-op dispatch), one step for large ones, so the
#: chunk temporaries stay in cache and add only a small fraction of one [T, B, *] tensor to the peak.
#: Measured (1 thread, 64k neurons, T = 8/32): 4× larger chunks were no faster and raised LIF's peak by 40 %.
CHUNK_ELEMENTS = 1 << 16


def reverse_chunks(T: int, numel_per_step: int, chunk_elements: int = CHUNK_ELEMENTS) -> list[tuple[int, int]]:
    """Time chunks ``[t0, t1)`` covering ``0..T`` in reverse order, each of about ``chunk_elements`` elements."""
    size = max(1, min(T, chunk_elements // max(1, numel_per_step)))
    starts = range(((T - 1) // size) * size, -1, -size) if T else []
    return [(t0, min(T, t0 + size)) for t0 in starts]


def charge_into(out: Tensor, v: Tensor, x: Tensor, tau: float, decay_input: bool, v_rest: float, tmp: Tensor) -> Tensor:
    """``charge`` written into ``out`` with the same operations (bit-identical), using ``tmp`` as scratch.

    ``v − 0.0`` equals ``v`` bit for bit, so the subtraction of a zero V_rest is skipped.
    """
    d = v if v_rest == 0.0 else torch.sub(v, v_rest, out=tmp)
    if decay_input:
        torch.sub(x, d, out=tmp)  # X − (V − V_rest)
        tmp.div_(tau)
        return torch.add(v, tmp, out=out)
    torch.div(d, tau, out=tmp)  # (V − V_rest)/τ
    torch.sub(v, tmp, out=out)
    return out.add_(x)


def grad_buffer(saved: Tensor) -> Tensor:
    """Where a BPTT backward writes its input gradient: into ``saved`` itself when this backward pass frees the
    graph afterwards (``retain_graph=False``, the usual case; the loops read step t of ``saved`` before they
    write step t of the gradient), else into a fresh tensor, so a retained graph keeps its saved tensors intact.

    Reusing the saved buffer is what keeps the backward's peak at two [T, B, *] float32 tensors (spikes and
    gradient) instead of three.
    """
    try:
        keep = torch._C._autograd._get_current_graph_task_keep_graph()
    except (AttributeError, RuntimeError):  # private API missing or not inside a backward: be safe
        keep = True
    return torch.empty_like(saved) if keep else saved
