"""Fused CPU loops of ``ILIFFunction`` (forward and reverse-time backward), compiled with numba.

Same maths, same saved tensors (H and m float32, [I > 0] bool, and the input x) and the same float32
operations as the eager loops of ``snndeploy/neurons/ilif.py``, whose module docstring gives the equations and
the BPTT recursion. Per block of ``BLOCK`` neurons the whole time loop runs in one compiled call; each step is
a few simple loops so that each vectorises.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..bptt import BPTTLoops
from ..dynamics import charge_grads
from ..engine import Backend, register_impl, require_device
from ..ilif import ILIFParams, make_seq
from ._buffers import empty
from ._common import (
    BLOCK,
    SPAN,
    charge,
    chunk_tails,
    fix_sigmoid_tails,
    fix_surrogate_tails,
    flat_or_empty,
    load_state,
    njit,
    sigmoid,
    sigmoid_into,
    step_tails,
    surrogate_args,
    surrogate_into,
)
from ._threads import split_run

__all__ = ["ilif_forward", "ilif_backward", "LOOPS", "ilif_seq_numba"]


@njit
def _fix_v_tails(vp, sr, mr, vb, c0, tails):  # pragma: no cover - compiled
    """v = v' − s·σ(m) again for the neurons whose σ PyTorch computes with libm (``fix_sigmoid_tails``)."""
    one = np.float32(1.0)
    n = vb.shape[0]
    for r in range(tails.shape[0]):
        for j in range(max(tails[r, 0], c0) - c0, min(tails[r, 1], c0 + n) - c0):
            vb[j] = vp[j] - sr[j] * (one / (one + np.float32(math.exp(-mr[j]))))


@njit
def _forward(
    x, v0, m0, i0, xp0, sp0, v, i, s_out, h_out, m_out, ipos_out, tau, th, gamma, tails, n0, n1
):  # pragma: no cover
    one = np.float32(1.0)
    zero = np.float32(0.0)
    T = x.shape[0]
    scratch = np.empty((4, BLOCK), np.float32)
    # Not saving: H and [I > 0] in 1 row, m in 2 alternating rows (indices modulo the row count).
    rh, rm, ri = h_out.shape[0], m_out.shape[0], ipos_out.shape[0]
    for c0 in range(n0, n1, SPAN):
        c1 = min(c0 + SPAN, n1)
        load_state(v[c0:c1], v0, c0)
        load_state(i[c0:c1], i0, c0)
        for t in range(T):
            for b0 in range(c0, c1, BLOCK):
                b1 = min(b0 + BLOCK, c1)
                n = b1 - b0
                vp, xp_b, sp_b, m_b = scratch[0, :n], scratch[1, :n], scratch[2, :n], scratch[3, :n]
                vb, ib = v[b0:b1], i[b0:b1]
                xr, sr, hr = x[t, b0:b1], s_out[t, b0:b1], h_out[t % rh, b0:b1]
                mr, ipr = m_out[t % rm, b0:b1], ipos_out[t % ri, b0:b1]
                if t == 0:  # the initial state's x_prev, s_prev and m
                    load_state(xp_b, xp0, b0)
                    load_state(sp_b, sp0, b0)
                    load_state(m_b, m0, b0)
                    xpr, spr, mpr = xp_b, sp_b, m_b
                else:
                    xpr, spr, mpr = x[t - 1, b0:b1], s_out[t - 1, b0:b1], m_out[(t - 1) % rm, b0:b1]
                for j in range(n):
                    ij = (ib[j] + xpr[j] * spr[j]) * gamma  # I = γ·(I + x_prev·s_prev)
                    ib[j] = ij
                    # H = βv + x − max(I, 0)
                    h = charge(vb[j], xr[j], tau, False, zero) - (ij if ij > zero else zero)
                    s = one if h >= th else zero  # Θ(H − V_th)
                    vpj = h - s * th  # v' = H − s·V_th
                    mr[j] = mpr[j] + s * vpj  # m = m + s·v'
                    ipr[j] = ij > zero
                    hr[j] = h
                    sr[j] = s
                    vp[j] = vpj
                for j in range(n):  # v = v' − s·σ(m)
                    vb[j] = vp[j] - sr[j] * sigmoid(mr[j])
                _fix_v_tails(vp, sr, mr, vb, b0, tails)


@njit
def _backward(
    x,
    h_seq,
    m_seq,
    ipos_seq,
    g_s,
    g_v0,
    g_m0,
    g_v,
    g_m,
    g_p,
    g_sp,
    g_i,
    g_xp,
    g_x,
    th,
    beta,
    gamma,
    detach,
    has_sp,
    has_i,
    has_xp,
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
    T = h_seq.shape[0]
    scratch = np.empty((3, BLOCK), np.float32)
    for c0 in range(n0, n1, SPAN):
        c1 = min(c0 + SPAN, n1)
        load_state(g_v[c0:c1], g_v0, c0)
        load_state(g_m[c0:c1], g_m0, c0)
        g_p[c0:c1] = 0.0
        for t in range(T - 1, -1, -1):
            rows = tails[tails_at[t] : tails_at[t + 1]]  # where the eager loops' sigmoids use libm
            for b0 in range(c0, c1, BLOCK):
                b1 = min(b0 + BLOCK, c1)
                n = b1 - b0
                sg, sig_m, hb = scratch[0, :n], scratch[1, :n], scratch[2, :n]
                gv, gm, gp = g_v[b0:b1], g_m[b0:b1], g_p[b0:b1]
                hr, mr, xr_in, ipr = h_seq[t, b0:b1], m_seq[t, b0:b1], x[t, b0:b1], ipos_seq[t, b0:b1]
                gr, gxr = g_s[t, b0:b1], g_x[t, b0:b1]
                # coefficients (H read before g_x, maybe H's memory, is written)
                surrogate_into(hr, th, sg, kind, alpha, half, inv, atan)  # sg(H − V_th)
                fix_surrogate_tails(hr, th, sg, b0, rows, kind, alpha)
                sigmoid_into(mr, sig_m)
                fix_sigmoid_tails(mr, one, sig_m, b0, rows)
                for j in range(n):  # H (copied: g_x may share its memory)
                    hb[j] = hr[j]
                last = t == T - 1
                for j in range(n):
                    h = hb[j]
                    sgj, smj = sg[j], sig_m[j]
                    s = one if h >= th else zero
                    vp_sg = (h - s * th) * sgj  # v'·sg
                    a_c = s * (one - smj) * smj  # A = s·σ'(m)
                    c_p = xr_in[j] * sgj  # C_p = x·sg
                    ip = one if ipr[j] else zero
                    if detach:
                        c_m = s + vp_sg
                        c_v = one
                    else:
                        c_m = s * (one - th * sgj) + vp_sg  # s·(1 − V_th·sg) + v'·sg
                        c_v = one - (smj + th) * sgj  # 1 − (σ(m) + V_th)·sg
                    p_t = gr[j] * sgj  # P = g_spike·sg (+ the final s_prev's gradient at the last step)
                    if last and has_sp:
                        p_t = p_t + g_sp[b0 + j] * sgj
                    gmj = gm[j] - gv[j] * a_c  # g_m* (also g_m[t−1])
                    g_h = p_t + gv[j] * c_v + gmj * c_m + gp[j] * c_p
                    gm[j] = gmj
                    gv[j] = g_h * beta  # g_v[t−1] = β·g_H
                    g_xt = g_h + gp[j] * s  # g_x[t] = g_H + g_P·s
                    if last and has_xp:
                        g_xt = g_xt + g_xp[b0 + j]
                    gpj = gp[j]
                    if last and has_i:
                        gpj = gpj + g_i[b0 + j]
                    gp[j] = (gpj - g_h * ip) * gamma  # g_P[t−1] = γ·(g_P − g_H·[I > 0])
                    gxr[j] = g_xt


def ilif_forward(
    x32: Tensor,
    v0: Tensor | None,
    m0: Tensor | None,
    i0: Tensor | None,
    xp0: Tensor | None,
    sp0: Tensor | None,
    p: ILIFParams,
    save: bool = True,
) -> tuple[Tensor, ...]:
    """(spikes, H, m, [I > 0], final v, final m, final i) of ILIF over ``x32`` [T, B, *] (float32, CPU) from
    the initial state in ``ILIFState`` order (each ``None``: zeros); ``save=False``: H, m and [I > 0] are not
    kept
    (1, 2 and 1 rows)."""
    require_device(x32, "numba", "cpu")
    T = x32.shape[0]
    x2 = x32.contiguous().reshape(T, -1)
    N = x2.shape[1]
    s_seq = empty(x2.shape)
    h_seq = empty((T if save else 1, N))
    m_seq = empty((T if save else 2, N))
    ipos_seq = empty((T if save else 1, N), torch.bool)
    v, i = torch.empty((2, x2.shape[1]), dtype=torch.float32).unbind(0)
    split_run(
        _forward,
        v.numel(),
        T,
        x2,
        *(flat_or_empty(t) for t in (v0, m0, i0, xp0, sp0)),
        v,
        i,
        s_seq,
        h_seq,
        m_seq,
        ipos_seq,
        float(p.tau),
        float(p.v_threshold),
        float(p.inhibition),
        step_tails(v.numel()),
    )
    shape, step = x32.shape, x32.shape[1:]
    m_last = m_seq[(T - 1) % m_seq.shape[0]].clone()
    return (
        s_seq.reshape(shape),
        h_seq.reshape(-1, *step),
        m_seq.reshape(-1, *step),
        ipos_seq.reshape(-1, *step),
        v.reshape(step),
        m_last.reshape(step),
        i.reshape(step),
    )


def ilif_backward(
    x_seq: Tensor,
    h_seq: Tensor,
    m_seq: Tensor,
    ipos_seq: Tensor,
    g_spikes: Tensor,
    g_v: Tensor | None,
    g_m: Tensor | None,
    g_i: Tensor | None,
    g_xp: Tensor | None,
    g_sp: Tensor | None,
    p: ILIFParams,
    g_x: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(grad x, grad v0, grad m0, grad of P[−1] = i0 + xp0·sp0) of ILIF, written into ``g_x`` (may be
    ``h_seq``)."""
    T = h_seq.shape[0]
    beta, _ = charge_grads(p.tau, False)
    gv, gm, gp = torch.empty((3, *h_seq.shape[1:]), dtype=torch.float32).unbind(0)
    flat = lambda t: t.reshape(T, -1)  # noqa: E731
    split_run(
        _backward,
        gv.numel(),
        T,
        flat(x_seq.float().contiguous()),
        flat(h_seq),
        flat(m_seq),
        flat(ipos_seq),
        flat(g_spikes.float().contiguous()),
        flat_or_empty(g_v),
        flat_or_empty(g_m),
        gv.reshape(-1),
        gm.reshape(-1),
        gp.reshape(-1),
        *(flat_or_empty(g) for g in (g_sp, g_i, g_xp)),
        flat(g_x),
        float(p.v_threshold),
        float(beta),
        float(p.inhibition),
        bool(p.detach_reset),
        g_sp is not None,
        g_i is not None,
        g_xp is not None,
        *surrogate_args(p.surrogate),
        *chunk_tails(T, gv.numel()),
    )
    return g_x, gv, gm, gp


LOOPS = BPTTLoops("numba", ilif_forward, ilif_backward)
ilif_seq_numba = register_impl("ilif", Backend.NUMBA)(make_seq(LOOPS))
