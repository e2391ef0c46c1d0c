"""ILIF's BPTT loops in PyTorch ops (engine ``eager``; any device): the spec the fused engines follow.

Forward: the float32 operations of ``ilif_step`` in the same order (bit-identical spikes and states for a
binary s_prev) into owned buffers; products with the binary spike are exact, so ``add(alpha=…)``/``addcmul``
give the reference's roundings. Backward: the recursion of ``snndeploy/neurons/ilif.py`` regrouped as
    g_m* = g_m − g_v·A;   g_H = P + g_v·C_v + g_m*·C_m + g_P·C_p
    g_x[t] = g_H + g_P·s;   g_v[t−1] = β·g_H;   g_m[t−1] = g_m*;   g_P[t−1] = γ·(g_P − g_H·[I > 0])
with A = s·σ'(m), P = g_spike·sg, C_v = 1 − (σ(m) + V_th)·sg, C_m = s·(1 − V_th·sg) + v'·sg, C_p = x·sg (with
detach_reset: C_v = 1, C_m = s + v'·sg) computed for a chunk of steps at once. Every product and sum rounds on
its own (no ``addcmul``: PyTorch fuses it into one rounding where the CPU has FMA), so the fused engines,
which repeat these operations, give bit-identical gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..bptt import BPTTLoops, charge_into, reverse_chunks, state_or_zeros
from ..dynamics import charge_grads
from ..engine import Backend, register_impl
from ..ilif import ILIFParams, make_seq

__all__ = ["ilif_forward", "ilif_backward", "LOOPS", "ilif_seq_eager"]


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
    """(spikes, H, m, [I > 0], final v, final m, final i) of ILIF over ``x32`` [T, B, *] float32 from the
    initial
    state (``None``: zeros); keeps H, m and [I > 0] whatever ``save`` says."""
    th = p.v_threshold
    shape = x32.shape
    v, i = state_or_zeros(v0, x32), state_or_zeros(i0, x32)
    m, xp, sp = state_or_zeros(m0, x32), state_or_zeros(xp0, x32), state_or_zeros(sp0, x32)
    h_seq = torch.empty(shape, dtype=torch.float32, device=x32.device)
    m_seq = torch.empty_like(h_seq)
    s_seq = torch.empty_like(h_seq)
    ipos_seq = torch.empty(shape, dtype=torch.bool, device=x32.device)
    vp = torch.empty_like(v)
    tmp = torch.empty_like(v)
    for t in range(shape[0]):
        x = x32[t]
        if t == 0:  # s_prev of a caller's state may be non-binary: keep the reference's two roundings
            i = (i + xp * sp).mul_(p.inhibition)
        else:  # x_prev·s_prev is exact for a spike s_prev ∈ {0, 1}
            i.addcmul_(xp, sp).mul_(p.inhibition)  # I = γ·(I + x_prev·s_prev)
        h = charge_into(h_seq[t], v, x, p.tau, False, 0.0, tmp)
        h.sub_(torch.clamp(i, min=0.0, out=tmp))  # H = βv + x − max(I, 0)
        torch.gt(i, 0.0, out=ipos_seq[t])
        s = torch.ge(h, th, out=s_seq[t])  # Θ(H − V_th) as H ≥ V_th
        torch.add(h, s, alpha=-th, out=vp)  # v' = H − s·V_th
        m = torch.addcmul(m, s, vp, out=m_seq[t])  # m = m + s·v'
        torch.addcmul(vp, s, torch.sigmoid(m, out=tmp), value=-1.0, out=v)  # v = v' − s·σ(m)
        xp, sp = x, s
    return s_seq, h_seq, m_seq, ipos_seq, v, m.clone(), i


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
    ``h_seq``:
    a chunk is read before it is written)."""
    beta, _ = charge_grads(p.tau, False)
    th, gamma = p.v_threshold, p.inhibition
    g_spikes = g_spikes.float()
    g_v = state_or_zeros(g_v, h_seq)
    g_m = state_or_zeros(g_m, h_seq)
    T = h_seq.shape[0]
    g_p = torch.zeros_like(g_v)  # gradient of P[t] = I[t] + x[t]·s[t]
    tmp, tmp2 = torch.empty_like(g_v), torch.empty_like(g_v)
    for t0, t1 in reverse_chunks(T, h_seq[0].numel()):
        h, m, x = h_seq[t0:t1], m_seq[t0:t1], x_seq[t0:t1].float()
        s = torch.ge(h, th, out=torch.empty_like(h))  # float mask: bool tensors are slow on CPU
        sg = p.surrogate.grad_(h - th)
        sig_m = torch.sigmoid(m)
        a_coef = torch.ops.aten.sigmoid_backward(s, sig_m)  # s·σ'(m) = s·(1 − σ)·σ, one fused pass
        vp_sg = torch.add(h, s, alpha=-th).mul_(sg)  # v'·sg
        c_p = x.mul(sg)  # x·sg
        if p.detach_reset:
            c_v = None
            c_m = vp_sg.add_(s)  # s + v'·sg
        else:
            c_m = torch.mul(sg, -th).add_(1.0).mul_(s).add_(vp_sg)  # s·(1 − V_th·sg) + v'·sg
            c_v = sig_m.add_(th).mul_(sg).neg_().add_(1.0)  # 1 − (σ(m) + V_th)·sg
        torch.mul(g_spikes[t0:t1], sg, out=g_x[t0:t1])  # P
        if t1 == T and g_sp is not None:  # the final state's s_prev is s[T−1]
            g_x[T - 1].add_(g_sp.float() * sg[-1])
        ipos = ipos_seq[t0:t1].float()
        for t in range(t1 - 1, t0 - 1, -1):
            j = t - t0
            g_m.sub_(torch.mul(g_v, a_coef[j], out=tmp))  # g_m* (also g_m[t−1])
            g_h = g_x[t]
            if c_v is None:
                g_h.add_(g_v)
            else:
                g_h.add_(torch.mul(g_v, c_v[j], out=tmp))
            g_h.add_(torch.mul(g_m, c_m[j], out=tmp)).add_(torch.mul(g_p, c_p[j], out=tmp))  # g_H
            torch.mul(g_h, beta, out=g_v)  # g_v[t−1] = β·g_H
            torch.mul(g_h, ipos[j], out=tmp2)  # g_H·[I > 0]
            g_h.add_(torch.mul(g_p, s[j], out=tmp))  # g_x[t] = g_H + g_P·s
            if t == T - 1 and g_i is not None:  # the final state's i is I[T−1]
                g_p.add_(g_i.float())
            g_p.sub_(tmp2).mul_(gamma)  # g_P[t−1] = γ·g_I[t]
    if g_xp is not None:  # the final state's x_prev is x[T−1]
        g_x[T - 1].add_(g_xp.float())
    return g_x, g_v, g_m, g_p


LOOPS = BPTTLoops("eager", ilif_forward, ilif_backward)
ilif_seq_eager = register_impl("ilif", Backend.EAGER)(make_seq(LOOPS))
