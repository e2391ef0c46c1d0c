"""LIF's BPTT loops fused and compiled with numba (engine ``numba``, CPU tensors).

Same maths, same saved tensor (H, float32) and the same float32 operations, in the same order, as the eager
loops (``snndeploy/neurons/eager_loops/lif.py``; equations and recursion in ``snndeploy/neurons/lif.py``), so
spikes, states and gradients are bit-identical to them. The whole time loop runs in one compiled call per
block of ``BLOCK`` neurons (states stay in cache); per step, the per-neuron coefficients come from one simple
loop and the recurrence from another, so that both vectorise.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..bptt import BPTTLoops
from ..dynamics import charge_grads
from ..engine import Backend, register_impl, require_device
from ..lif import LIFParams, make_seq
from ._buffers import empty
from ._common import (
    BLOCK,
    SPAN,
    charge,
    chunk_tails,
    fix_surrogate_tails,
    flat_or_empty,
    load_state,
    njit,
    surrogate_args,
    surrogate_into,
)
from ._threads import split_run

__all__ = ["lif_forward", "lif_backward", "LOOPS", "lif_seq_numba"]


@njit
def _forward(x, v0, v, s_out, h_out, tau, th, v_rest, v_reset, decay_input, hard, n0, n1):  # pragma: no cover
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for c0 in range(n0, n1, SPAN):
        c1 = min(c0 + SPAN, n1)
        vb = v[c0:c1]
        load_state(vb, v0, c0)
        for t in range(x.shape[0]):
            xr, sr, hr = x[t, c0:c1], s_out[t, c0:c1], h_out[t % h_out.shape[0], c0:c1]  # 1 row: not saved
            for j in range(vb.shape[0]):
                h = charge(vb[j], xr[j], tau, decay_input, v_rest)
                s = one if h >= th else zero  # Θ(H − V_th)
                if hard:  # (1 − S)·H + S·V_r
                    vb[j] = (one - s) * h + s * v_reset
                else:  # H − S·V_th
                    vb[j] = h - s * th
                hr[j] = h
                sr[j] = s


@njit
def _backward(
    h_seq,
    g_s,
    g_v0,
    g_v,
    g_x,
    th,
    v_reset,
    a,
    b,
    hard,
    detach,
    kind,
    alpha,
    half,
    inv,
    atan,
    tails,
    tails_at,
    n0,
    n1,
):  # pragma: no cover
    one = np.float32(1.0)
    zero = np.float32(0.0)
    scratch = np.empty((2, BLOCK), np.float32)
    for c0 in range(n0, n1, SPAN):
        c1 = min(c0 + SPAN, n1)
        load_state(g_v[c0:c1], g_v0, c0)
        for t in range(h_seq.shape[0] - 1, -1, -1):
            rows = tails[tails_at[t] : tails_at[t + 1]]  # where the eager loops' sigmoid uses libm
            for b0 in range(c0, c1, BLOCK):
                b1 = min(b0 + BLOCK, c1)
                n = b1 - b0
                sg, c = scratch[0, :n], scratch[1, :n]
                hr, gr, xr, gv = h_seq[t, b0:b1], g_s[t, b0:b1], g_x[t, b0:b1], g_v[b0:b1]
                # coefficients from H (read before g_x, maybe the same memory, is written)
                surrogate_into(hr, th, sg, kind, alpha, half, inv, atan)  # sg(H − V_th)
                fix_surrogate_tails(hr, th, sg, b0, rows, kind, alpha)
                if hard:  # C = ∂V/∂H + sg·∂V/∂S = (1 − S) + sg·(V_r − H)
                    for j in range(n):
                        c[j] = one if hr[j] < th else zero
                    if not detach:
                        for j in range(n):
                            c[j] = c[j] + sg[j] * (v_reset - hr[j])
                elif detach:
                    for j in range(n):
                        c[j] = one
                else:  # 1 − V_th·sg
                    for j in range(n):
                        c[j] = one - th * sg[j]
                for j in range(n):  # g_H = g_spike·sg + g_V·C;  g_X = b·g_H;  g_V[t−1] = a·g_H
                    g_h = gr[j] * sg[j] + gv[j] * c[j]
                    xr[j] = g_h * b
                    gv[j] = g_h * a


def lif_forward(
    x32: Tensor, v0: Tensor | None, p: LIFParams, save: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """(spikes, H, final V) of LIF over ``x32`` [T, B, *] (float32, CPU) from ``v0`` [B, *] (``None``: zeros).

    ``save=False`` (no gradient will be asked for): H is not kept, only one step of it is written (a [1, N]
    buffer).
    """
    require_device(x32, "numba", "cpu")
    T = x32.shape[0]
    x2 = x32.contiguous().reshape(T, -1)
    N = x2.shape[1]
    s_seq = empty((T, N))
    h_seq = empty((T if save else 1, N))
    v = torch.empty(N, dtype=torch.float32)
    v_reset = p.v_reset if p.hard else 0.0
    split_run(
        _forward,
        N,
        T,
        x2,
        flat_or_empty(v0),
        v,
        s_seq,
        h_seq,
        float(p.tau),
        float(p.v_threshold),
        float(p.v_rest),
        float(v_reset),
        bool(p.decay_input),
        bool(p.hard),
    )
    return s_seq.reshape(x32.shape), h_seq.reshape(-1, *x32.shape[1:]), v.reshape(x32.shape[1:])


def lif_backward(
    h_seq: Tensor, g_spikes: Tensor, g_vT: Tensor | None, p: LIFParams, g_x: Tensor
) -> tuple[Tensor, Tensor]:
    """(grad x, grad v0) of LIF, written into ``g_x`` (which may be ``h_seq`` itself)."""
    T = h_seq.shape[0]
    a, b = charge_grads(p.tau, p.decay_input)
    g_v = torch.empty(h_seq.shape[1:], dtype=torch.float32)
    N = g_v.numel()
    v_reset = p.v_reset if p.hard else 0.0
    split_run(
        _backward,
        N,
        T,
        h_seq.reshape(T, N),
        g_spikes.float().contiguous().reshape(T, N),
        flat_or_empty(g_vT),
        g_v.reshape(N),
        g_x.reshape(T, N),
        float(p.v_threshold),
        float(v_reset),
        float(a),
        float(b),
        bool(p.hard),
        bool(p.detach_reset),
        *surrogate_args(p.surrogate),
        *chunk_tails(T, N),
    )
    return g_x, g_v


LOOPS = BPTTLoops("numba", lif_forward, lif_backward)
lif_seq_numba = register_impl("lif", Backend.NUMBA)(make_seq(LOOPS))
