"""What the hand-written BPTT engines (``eager``, ``numba``) share: the loops interface, and the eager loops'
helpers.

Each neuron has one ``torch.autograd.Function`` (``LIFFunction``, ...) that owns the autograd plumbing (saved
tensors, state gradients, dtypes) and runs the two loops of the engine it is given:

    loops.forward(x32, *state0, params, save) -> (spikes, *saved, *final_state)
    loops.backward(*saved, g_spikes, *g_final_state, params, g_x) -> (g_x, *g_state0)

(the exact tuples are in each Function's docstring). The engine is chosen when the sequence function is built
(``make_seq``), never inside the Function: ``eager_loops/`` passes PyTorch-op loops, ``cpu_loops/`` numba
loops. Both perform the same float32 operations in the same order and save the same tensors, so they give the
same spikes and states bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .engine import SeqFn

__all__ = [
    "BPTTLoops",
    "name_seq",
    "charge_into",
    "reverse_chunks",
    "grad_buffer",
    "state_or_zeros",
    "CHUNK_ELEMENTS",
]


class BPTTLoops(NamedTuple):
    """The forward and reverse-time loops of one hand-written BPTT engine for one neuron."""

    engine: str  # the backend name: "eager" or "numba"
    forward: Callable[..., tuple[Tensor, ...]]
    backward: Callable[..., tuple[Tensor, ...]]


def name_seq(seq: SeqFn, neuron: str, loops: BPTTLoops) -> SeqFn:
    """Give a sequence function built by a neuron's ``make_seq`` its public name and docstring."""
    seq.__name__ = seq.__qualname__ = f"{neuron}_seq_{loops.engine}"
    seq.__doc__ = (
        f"{neuron.upper()} over ``x_seq`` [T, B, *] with the hand-written BPTT Function and the "
        f"{loops.engine!r} loops; same results as ``{neuron}_seq`` (the reference)."
    )
    return seq


#: Elements per time chunk of the eager backward passes' vectorised precomputation (256 KiB per float32
#: buffer):
#: several steps per op for small layers (amortises the per-op dispatch), one step for large ones, so the
#: chunk temporaries stay in cache and add only a small fraction of one [T, B, *] tensor to the peak.
#: Measured (1 thread, 64k neurons, T = 8/32): 4× larger chunks were no faster and raised LIF's peak by 40 %.
CHUNK_ELEMENTS = 1 << 16


def reverse_chunks(
    T: int, numel_per_step: int, chunk_elements: int = CHUNK_ELEMENTS
) -> list[tuple[int, int]]:
    """Time chunks ``[t0, t1)`` covering ``0..T`` in reverse order, each of about ``chunk_elements``
    elements."""
    size = max(1, min(T, chunk_elements // max(1, numel_per_step)))
    starts = range(((T - 1) // size) * size, -1, -size) if T else []
    return [(t0, min(T, t0 + size)) for t0 in starts]


def charge_into(
    out: Tensor, v: Tensor, x: Tensor, tau: float, decay_input: bool, v_rest: float, tmp: Tensor
) -> Tensor:
    """``dynamics.charge`` (keep the two together) written into ``out`` with the same operations
    (bit-identical), using ``tmp`` as scratch.

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
    """Where a BPTT backward writes its input gradient: into ``saved`` itself when this backward pass frees
    the graph afterwards (``retain_graph=False``, the usual case; the loops read step t of ``saved`` before
    they write step t of the gradient), else into a fresh tensor, so a retained graph keeps its saved tensors
    intact.

    Reusing the saved buffer is what keeps the backward's peak at two [T, B, *] float32 tensors (spikes and
    gradient) instead of three.
    """
    try:
        keep = torch._C._autograd._get_current_graph_task_keep_graph()
    except (AttributeError, RuntimeError):  # private API missing or not inside a backward: be safe
        keep = True
    return torch.empty_like(saved) if keep else saved


def state_or_zeros(t: Any, like: Tensor) -> Tensor:
    """An initial-state tensor as float32 (a fresh copy), or zeros shaped like one step of ``like`` for
    ``None``."""
    if t is None:
        return torch.zeros(like.shape[1:], dtype=torch.float32, device=like.device)
    return t.float().clone()
