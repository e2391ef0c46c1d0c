"""KLIF's BPTT loops (with the gradient of k) fused and compiled with numba (engine ``numba``, CPU tensors).

Same maths, same saved tensor (H, float32) and the same float32 operations, in the same order, as the eager
loops (``snndeploy/neurons/eager_loops/klif.py``; equations in ``snndeploy/neurons/klif.py``): spikes, states
and gradients are bit-identical to them. The gradient of k, Σ g_F·H over neurons and steps, is accumulated per
neuron (float32, reverse time order, as the eager loops do) and summed over neurons in float64 by
``KLIFFunction``, so it does not depend on how the neurons are split over threads.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..bptt import BPTTLoops
from ..dynamics import charge_grads
from ..engine import Backend, register_impl, require_device
from ..klif import KLIFParams, make_seq
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

__all__ = ["klif_forward", "klif_backward", "LOOPS", "klif_seq_numba"]


@njit
def _forward(x, v0, v, s_out, h_out, k, tau, th, v_reset, decay_input, n0, n1):  # pragma: no cover
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for c0 in range(n0, n1, SPAN):
        c1 = min(c0 + SPAN, n1)
        vb = v[c0:c1]
        load_state(vb, v0, c0)
        for t in range(x.shape[0]):
            xr, sr, hr = x[t, c0:c1], s_out[t, c0:c1], h_out[t % h_out.shape[0], c0:c1]  # 1 row: not saved
            for j in range(vb.shape[0]):
                h = charge(vb[j], xr[j], tau, decay_input, v_reset)
                f = h * k
                f = f if f > zero else zero  # F = ReLU(k·H)
                s = one if f >= th else zero  # Θ(F − V_th)
                vb[j] = (one - s) * f + s * v_reset  # F(1 − S) + V_r·S
                hr[j] = h
                sr[j] = s


@njit
def _backward(
    h_seq,
    g_s,
    g_v0,
    g_v,
    g_x,
    acc,
    k,
    th,
    v_reset,
    ak,
    bk,
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
    scratch = np.empty((5, BLOCK), np.float32)
    for c0 in range(n0, n1, SPAN):
        c1 = min(c0 + SPAN, n1)
        load_state(g_v[c0:c1], g_v0, c0)
        acc[c0:c1] = 0.0  # Σ_t g_F·H per neuron
        for t in range(h_seq.shape[0] - 1, -1, -1):
            rows = tails[tails_at[t] : tails_at[t + 1]]  # where the eager loops' sigmoid uses libm
            for b0 in range(c0, c1, BLOCK):
                b1 = min(b0 + BLOCK, c1)
                n = b1 - b0
                hb, pos, f, sg, c = (
                    scratch[0, :n],
                    scratch[1, :n],
                    scratch[2, :n],
                    scratch[3, :n],
                    scratch[4, :n],
                )
                hr, gr, xr, gv, ab = h_seq[t, b0:b1], g_s[t, b0:b1], g_x[t, b0:b1], g_v[b0:b1], acc[b0:b1]
                for j in range(n):  # H (copied: g_x may share its memory), [kH > 0], F = ReLU(kH)
                    h = hr[j]
                    kh = h * k
                    hb[j] = h
                    pos[j] = one if kh > zero else zero
                    f[j] = kh if kh > zero else zero
                surrogate_into(f, th, sg, kind, alpha, half, inv, atan)  # sg(F − V_th)
                fix_surrogate_tails(f, th, sg, b0, rows, kind, alpha)
                for j in range(n):  # sg·[kH > 0];  C = [kH > 0]·(1 − S) + sg·[kH > 0]·(V_r − F)
                    sg[j] = sg[j] * pos[j]
                    c[j] = (one if f[j] < th else zero) * pos[j]
                    if not detach:
                        c[j] = c[j] + sg[j] * (v_reset - f[j])
                for j in range(n):  # g_F = g_spike·sg + g_V·C;  g_V[t−1] = a·k·g_F;  g_X = b·k·g_F
                    g_f = gr[j] * sg[j] + gv[j] * c[j]
                    gv[j] = g_f * ak
                    xr[j] = g_f * bk
                    ab[j] = ab[j] + g_f * hb[j]


def klif_forward(
    x32: Tensor, v0: Tensor | None, k: Tensor, p: KLIFParams, save: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """(spikes, H, final V) of KLIF over ``x32`` [T, B, *] (float32, CPU) with scale ``k`` (a one-element
    tensor)
    from ``v0`` (``None``: zeros); ``save=False``: H is not kept (see ``lif_forward``)."""
    require_device(x32, "numba", "cpu")
    k = float(k.detach().float())
    T = x32.shape[0]
    x2 = x32.contiguous().reshape(T, -1)
    s_seq = empty(x2.shape)
    h_seq = empty((T if save else 1, x2.shape[1]))
    v = torch.empty(x2.shape[1], dtype=torch.float32)
    split_run(
        _forward,
        v.numel(),
        T,
        x2,
        flat_or_empty(v0),
        v,
        s_seq,
        h_seq,
        float(k),
        float(p.tau),
        float(p.v_threshold),
        float(p.v_reset),
        bool(p.decay_input),
    )
    return s_seq.reshape(x32.shape), h_seq.reshape(-1, *x32.shape[1:]), v.reshape(x32.shape[1:])


def klif_backward(
    h_seq: Tensor, g_spikes: Tensor, g_vT: Tensor | None, k: Tensor, p: KLIFParams, g_x: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(grad x, grad v0, per-neuron parts of grad k) of KLIF, written into ``g_x`` (which may be ``h_seq``
    itself);
    the parts are Σ_t g_F·H per neuron (float32, reverse time order), summed by ``KLIFFunction``."""
    k = float(k.detach().float())
    T = h_seq.shape[0]
    a, b = charge_grads(p.tau, p.decay_input)
    g_v = torch.empty(h_seq.shape[1:], dtype=torch.float32)
    N = g_v.numel()
    parts = torch.empty(N, dtype=torch.float32)
    split_run(
        _backward,
        N,
        T,
        h_seq.reshape(T, N),
        g_spikes.float().contiguous().reshape(T, N),
        flat_or_empty(g_vT),
        g_v.reshape(N),
        g_x.reshape(T, N),
        parts,
        float(k),
        float(p.v_threshold),
        float(p.v_reset),
        float(a * k),
        float(b * k),
        bool(p.detach_reset),
        *surrogate_args(p.surrogate),
        *chunk_tails(T, N),
    )
    return g_x, g_v, parts


LOOPS = BPTTLoops("numba", klif_forward, klif_backward)
klif_seq_numba = register_impl("klif", Backend.NUMBA)(make_seq(LOOPS))
