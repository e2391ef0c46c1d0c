"""CLIF's BPTT loops in PyTorch ops (engine ``eager``; any device): the spec the fused engines follow.

Forward: the float32 operations of ``clif_step`` in the same order (bit-identical spikes and states) into
owned buffers; m[t] is written straight into the saved slot of step t + 1, and u' − s·(V_th + σ(m)) is one
``addcmul`` (s·(V_th + σ(m)) is exact for s ∈ {0, 1}). Backward: the recursion of
``snndeploy/neurons/clif.py`` regrouped as
    g_m* = g_m − g_u·A,   g_u' = P + g_m*·F + g_u·G,   g_m[t−1] = g_m*·σ(u'/τ),   g_u[t−1] = β·g_u'
with A = s·σ'(m[t]), P = g_spike·sg, F = sg + m[t−1]·σ'(u'/τ)/τ and G = 1 − (V_th + σ(m[t]))·sg (G = 1 with
detach_reset) computed for a chunk of steps at once; eight ops per step stay in the reverse-time loop. Every
product and sum rounds on its own (no ``addcmul``: PyTorch fuses it into one rounding where the CPU has FMA),
so the fused engines, which repeat these operations, give bit-identical gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..bptt import BPTTLoops, charge_into, reverse_chunks, state_or_zeros
from ..clif import CLIFParams, make_seq
from ..dynamics import charge_grads
from ..engine import Backend, register_impl

__all__ = ["clif_forward", "clif_backward", "LOOPS", "clif_seq_eager"]


def clif_forward(
    x32: Tensor, u0: Tensor | None, m0: Tensor | None, p: CLIFParams, save: bool = True
) -> tuple[Tensor, ...]:
    """(spikes, u', m[t−1] per step, final u, final m) of CLIF over ``x32`` [T, B, *] float32 from ``u0``,
    ``m0``
    (``None``: zeros); keeps u' and m[t−1] whatever ``save`` says."""
    T = x32.shape[0]
    u = state_or_zeros(u0, x32)
    up_seq = torch.empty(x32.shape, dtype=torch.float32, device=x32.device)
    mp_seq = torch.empty_like(up_seq)  # mp_seq[t] = m[t − 1]
    s_seq = torch.empty_like(up_seq)
    m_last = torch.empty_like(u)
    sig = torch.empty_like(u)
    tmp = torch.empty_like(u)
    if m0 is None:
        mp_seq[0].zero_()
    else:
        mp_seq[0].copy_(m0)
    for t in range(T):
        up = charge_into(up_seq[t], u, x32[t], p.tau, False, 0.0, tmp)  # u' = u − u/τ + x
        torch.div(up, p.tau, out=sig).sigmoid_()  # σ(u'/τ)
        m = mp_seq[t + 1] if t + 1 < T else m_last
        torch.mul(mp_seq[t], sig, out=m)  # m' = m·σ(u'/τ)
        s = torch.ge(up, p.v_threshold, out=s_seq[t])  # Θ(u' − V_th) as u' ≥ V_th
        m.add_(s)  # m = m' + s
        torch.sigmoid(m, out=tmp).add_(p.v_threshold)  # V_th + σ(m)
        torch.addcmul(up, s, tmp, value=-1.0, out=u)  # u = u' − s·(V_th + σ(m))
    return s_seq, up_seq, mp_seq, u, m_last


def clif_backward(
    up_seq: Tensor,
    mp_seq: Tensor,
    g_spikes: Tensor,
    g_uT: Tensor | None,
    g_mT: Tensor | None,
    p: CLIFParams,
    g_x: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """(grad x, grad u0, grad m0) of CLIF, written into ``g_x`` (which may be ``up_seq`` itself: a chunk is
    read
    before it is written)."""
    beta, _ = charge_grads(p.tau, False)
    th = p.v_threshold
    g_spikes = g_spikes.float()
    g_u = state_or_zeros(g_uT, up_seq)
    g_m = state_or_zeros(g_mT, up_seq)
    g_ms = torch.empty_like(g_u)  # g_m*
    tmp = torch.empty_like(g_u)
    for t0, t1 in reverse_chunks(up_seq.shape[0], up_seq[0].numel()):
        up, mp = up_seq[t0:t1], mp_seq[t0:t1]
        s = torch.ge(up, th, out=torch.empty_like(up))  # float mask: bool tensors are slow on CPU
        sg = p.surrogate.grad_(up - th)
        sig_u = torch.div(up, p.tau).sigmoid_()
        sig_m = torch.mul(mp, sig_u).add_(s).sigmoid_()  # σ(m[t]), m[t] = m[t−1]·σ(u'/τ) + s as forward
        # σ'(y) = (1 − σ)·σ; ATen's fused sigmoid_backward(g, σ) = g·(1 − σ)·σ in one pass.
        a_coef = torch.ops.aten.sigmoid_backward(s, sig_m)  # s·σ'(m[t])
        f_coef = torch.ops.aten.sigmoid_backward(mp, sig_u).div_(p.tau).add_(sg)  # sg + m[t−1]·σ'(u'/τ)/τ
        if p.detach_reset:
            g_coef = None
        else:
            g_coef = sig_m.add_(th).mul_(sg).neg_().add_(1.0)  # 1 − (V_th + σ(m))·sg
        torch.mul(g_spikes[t0:t1], sg, out=g_x[t0:t1])  # P
        for t in range(t1 - 1, t0 - 1, -1):
            i = t - t0
            torch.sub(g_m, torch.mul(g_u, a_coef[i], out=tmp), out=g_ms)  # g_m* = g_m − g_u·A
            g_up = g_x[t].add_(torch.mul(g_ms, f_coef[i], out=tmp))  # P + g_m*·F
            if g_coef is None:
                g_up.add_(g_u)
            else:
                g_up.add_(torch.mul(g_u, g_coef[i], out=tmp))  # + g_u·G
            torch.mul(g_ms, sig_u[i], out=g_m)  # g_m[t−1] = g_m*·σ(u'/τ)
            torch.mul(g_up, beta, out=g_u)  # g_u[t−1] = β·g_u'
    return g_x, g_u, g_m


LOOPS = BPTTLoops("eager", clif_forward, clif_backward)
clif_seq_eager = register_impl("clif", Backend.EAGER)(make_seq(LOOPS))
