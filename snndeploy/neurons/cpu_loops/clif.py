"""Fused CPU loops of ``CLIFFunction`` (forward and reverse-time backward), compiled with numba.

Same maths, same saved tensors (u' and m[t−1], float32) and the same float32 operations as the eager loops of
``snndeploy/neurons/clif.py``, whose module docstring gives the equations and the BPTT recursion. Per block of
``BLOCK`` neurons the whole time loop runs in one compiled call; each step is a few simple loops (charge, the
two sigmoids, the update) so that each vectorises.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..bptt import BPTTLoops
from ..clif import CLIFParams, make_seq
from ..dynamics import charge_grads
from ..engine import Backend, register_impl, require_device
from ._buffers import empty
from ._common import (
    BLOCK,
    SPAN,
    charge,
    chunk_tails,
    fix_sigmoid_tails,
    fix_surrogate_tails,
    flat_or_empty,
    inv_pow2,
    load_state,
    njit,
    sigmoid,
    sigmoid_into,
    step_tails,
    surrogate_args,
    surrogate_into,
)
from ._threads import split_run

__all__ = ["clif_forward", "clif_backward", "LOOPS", "clif_seq_numba"]


@njit
def _fix_m_tails(upr, tau, mpr, sr, mr, c0, tails):  # pragma: no cover - compiled
    """m = m[t−1]·σ(u'/τ) + s again for the neurons whose σ PyTorch computes with libm
    (``fix_sigmoid_tails``)."""
    one = np.float32(1.0)
    n = mr.shape[0]
    for r in range(tails.shape[0]):
        for j in range(max(tails[r, 0], c0) - c0, min(tails[r, 1], c0 + n) - c0):
            mr[j] = mpr[j] * (one / (one + np.float32(math.exp(-(upr[j] / tau))))) + sr[j]


@njit
def _fix_u_tails(upr, sr, mr, th, ub, c0, tails):  # pragma: no cover - compiled
    """u = u' − s·(V_th + σ(m)) again for the neurons whose σ PyTorch computes with libm."""
    one = np.float32(1.0)
    n = ub.shape[0]
    for r in range(tails.shape[0]):
        for j in range(max(tails[r, 0], c0) - c0, min(tails[r, 1], c0 + n) - c0):
            ub[j] = upr[j] - sr[j] * (one / (one + np.float32(math.exp(-mr[j]))) + th)


@njit
def _forward(
    x, u0, m0, u, mp_seq, m_last, s_out, up_seq, tau, inv_tau, th, tails, n0, n1
):  # pragma: no cover
    one = np.float32(1.0)
    zero = np.float32(0.0)
    T = x.shape[0]
    for c0 in range(n0, n1, SPAN):
        c1 = min(c0 + SPAN, n1)
        load_state(u[c0:c1], u0, c0)
        load_state(mp_seq[0, c0:c1], m0, c0)
        for t in range(T):
            # Not saving: u' in 1 row, m[t−1] in 2 alternating rows (indices modulo the row count).
            ru, rm = up_seq.shape[0], mp_seq.shape[0]
            for b0 in range(c0, c1, BLOCK):
                b1 = min(b0 + BLOCK, c1)
                n = b1 - b0
                ub, xr, upr, sr = u[b0:b1], x[t, b0:b1], up_seq[t % ru, b0:b1], s_out[t, b0:b1]
                mpr = mp_seq[t % rm, b0:b1]
                # m[t]: the next step's m[t − 1]
                mr = mp_seq[(t + 1) % rm, b0:b1] if t + 1 < T else m_last[b0:b1]
                # u' = u − u/τ + x;  s = Θ(u' − V_th);  m = m[t−1]·σ(u'/τ) + s, in one loop. τ = 2^k: u/τ =
                # u·(1/τ) exactly, and a product is cheaper than a division.
                if inv_tau != zero:
                    for j in range(n):
                        up = ub[j] - ub[j] * inv_tau + xr[j]
                        s = one if up >= th else zero
                        mr[j] = mpr[j] * sigmoid(up * inv_tau) + s
                        upr[j] = up
                        sr[j] = s
                else:
                    for j in range(n):
                        up = charge(ub[j], xr[j], tau, False, zero)
                        s = one if up >= th else zero
                        mr[j] = mpr[j] * sigmoid(up / tau) + s
                        upr[j] = up
                        sr[j] = s
                _fix_m_tails(upr, tau, mpr, sr, mr, b0, tails)
                for j in range(n):  # u = u' − s·(V_th + σ(m))
                    ub[j] = upr[j] - sr[j] * (sigmoid(mr[j]) + th)
                _fix_u_tails(upr, sr, mr, th, ub, b0, tails)


@njit
def _backward(
    up_seq,
    mp_seq,
    g_s,
    g_u0,
    g_m0,
    g_u,
    g_m,
    g_x,
    tau,
    inv_tau,
    th,
    beta,
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
        load_state(g_u[c0:c1], g_u0, c0)
        load_state(g_m[c0:c1], g_m0, c0)
        for t in range(up_seq.shape[0] - 1, -1, -1):
            rows = tails[tails_at[t] : tails_at[t + 1]]  # where the eager loops' sigmoids use libm
            for b0 in range(c0, c1, BLOCK):
                b1 = min(b0 + BLOCK, c1)
                n = b1 - b0
                sg, sig_u, sig_m = scratch[0, :n], scratch[1, :n], scratch[2, :n]
                m_t, s_b = scratch[3, :n], scratch[4, :n]
                upr, mpr, gr, xr = up_seq[t, b0:b1], mp_seq[t, b0:b1], g_s[t, b0:b1], g_x[t, b0:b1]
                gu, gm = g_u[b0:b1], g_m[b0:b1]
                # coefficients from u' and m[t−1] (read before g_x, maybe u''s memory, is written)
                surrogate_into(upr, th, sg, kind, alpha, half, inv, atan)  # sg(u' − V_th)
                fix_surrogate_tails(upr, th, sg, b0, rows, kind, alpha)
                if inv_tau != zero:  # τ = 2^k (see the forward)
                    for j in range(n):
                        sig_u[j] = sigmoid(upr[j] * inv_tau)
                else:
                    for j in range(n):
                        sig_u[j] = sigmoid(upr[j] / tau)
                fix_sigmoid_tails(upr, tau, sig_u, b0, rows)
                for j in range(n):  # m[t] = m[t−1]·σ(u'/τ) + s, as in the forward
                    s = one if upr[j] >= th else zero
                    s_b[j] = s  # (kept: g_x, written below, may share u''s memory)
                    m_t[j] = mpr[j] * sig_u[j] + s
                sigmoid_into(m_t, sig_m)  # (not in place: a loop over aliased arrays does not vectorise)
                fix_sigmoid_tails(m_t, one, sig_m, b0, rows)
                for j in range(n):
                    s, sgj, su, sm = s_b[j], sg[j], sig_u[j], sig_m[j]
                    a_c = s * (one - sm) * sm  # A = s·σ'(m[t])
                    if inv_tau != zero:  # F = m[t−1]·σ'(u'/τ)/τ + sg
                        f_c = mpr[j] * (one - su) * su * inv_tau + sgj
                    else:
                        f_c = mpr[j] * (one - su) * su / tau + sgj
                    g_c = one if detach else one - (sm + th) * sgj  # G = 1 − (V_th + σ(m))·sg
                    g_ms = gm[j] - gu[j] * a_c  # g_m* = g_m − g_u·A
                    g_up = gr[j] * sgj + g_ms * f_c + gu[j] * g_c  # g_u' = g_spike·sg + g_m*·F + g_u·G
                    gm[j] = g_ms * su  # g_m[t−1] = g_m*·σ(u'/τ)
                    gu[j] = g_up * beta  # g_u[t−1] = β·g_u'
                    xr[j] = g_up


def clif_forward(
    x32: Tensor, u0: Tensor | None, m0: Tensor | None, p: CLIFParams, save: bool = True
) -> tuple[Tensor, ...]:
    """(spikes, u', m[t−1] per step, final u, final m) of CLIF over ``x32`` [T, B, *] (float32, CPU) from
    ``u0``,
    ``m0`` (``None``: zeros); ``save=False``: u' and m[t−1] are not kept (1 and 2 rows of scratch)."""
    require_device(x32, "numba", "cpu")
    T = x32.shape[0]
    x2 = x32.contiguous().reshape(T, -1)
    s_seq = empty(x2.shape)
    up_seq = empty((T if save else 1, x2.shape[1]))
    mp_seq = empty((T if save else 2, x2.shape[1]))
    u, m_last = torch.empty((2, x2.shape[1]), dtype=torch.float32).unbind(0)
    split_run(
        _forward,
        u.numel(),
        T,
        x2,
        flat_or_empty(u0),
        flat_or_empty(m0),
        u,
        mp_seq,
        m_last,
        s_seq,
        up_seq,
        float(p.tau),
        inv_pow2(p.tau),
        float(p.v_threshold),
        step_tails(u.numel()),
    )
    shape, step = x32.shape, x32.shape[1:]
    return (
        s_seq.reshape(shape),
        up_seq.reshape(-1, *step),
        mp_seq.reshape(-1, *step),
        u.reshape(step),
        m_last.reshape(step),
    )


def clif_backward(
    up_seq: Tensor,
    mp_seq: Tensor,
    g_spikes: Tensor,
    g_uT: Tensor | None,
    g_mT: Tensor | None,
    p: CLIFParams,
    g_x: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """(grad x, grad u0, grad m0) of CLIF, written into ``g_x`` (which may be ``up_seq`` itself)."""
    T = up_seq.shape[0]
    beta, _ = charge_grads(p.tau, False)
    g_u, g_m = torch.empty((2, *up_seq.shape[1:]), dtype=torch.float32).unbind(0)
    split_run(
        _backward,
        g_u.numel(),
        T,
        up_seq.reshape(T, -1),
        mp_seq.reshape(T, -1),
        g_spikes.float().contiguous().reshape(T, -1),
        flat_or_empty(g_uT),
        flat_or_empty(g_mT),
        g_u.reshape(-1),
        g_m.reshape(-1),
        g_x.reshape(T, -1),
        float(p.tau),
        inv_pow2(p.tau),
        float(p.v_threshold),
        float(beta),
        bool(p.detach_reset),
        *surrogate_args(p.surrogate),
        *chunk_tails(T, g_u.numel()),
    )
    return g_x, g_u, g_m


LOOPS = BPTTLoops("numba", clif_forward, clif_backward)
clif_seq_numba = register_impl("clif", Backend.NUMBA)(make_seq(LOOPS))
