"""LIF's BPTT loops in PyTorch ops (engine ``eager``; any device): the spec the fused engines follow.

Forward: the float32 operations of ``lif_step`` in the same order (bit-identical spikes and states), written
into buffers it owns; S·V_th is exact (S ∈ {0, 1}), so the soft reset is one ``add(alpha=−V_th)`` and the hard
reset ``(1 − S)·H`` plus ``add(alpha=V_r)``. Backward: the recursion of ``snndeploy/neurons/lif.py`` regrouped
as g_H = P + g_V·C with the non-recurrent parts P = g_spike·sg and C = ∂V/∂H + sg·∂V/∂S computed for a chunk
of steps at once, so only three ops per step stay in the reverse-time loop. Every product and sum rounds on
its own (no ``addcmul``, which PyTorch fuses into one rounding where the CPU has FMA): the fused engines
repeat exactly these operations, so their gradients are bit-identical too.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..bptt import BPTTLoops, charge_into, reverse_chunks, state_or_zeros
from ..dynamics import charge_grads
from ..engine import Backend, register_impl
from ..lif import LIFParams, make_seq

__all__ = ["lif_forward", "lif_backward", "LOOPS", "lif_seq_eager"]


def lif_forward(
    x32: Tensor, v0: Tensor | None, p: LIFParams, save: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """(spikes, H, final V) of LIF over ``x32`` [T, B, *] float32 from ``v0`` (``None``: zeros); keeps H
    whatever
    ``save`` says."""
    v = state_or_zeros(v0, x32)
    h_seq = torch.empty(x32.shape, dtype=torch.float32, device=x32.device)
    s_seq = torch.empty_like(h_seq)
    tmp = torch.empty_like(v)
    for t in range(x32.shape[0]):
        h = charge_into(h_seq[t], v, x32[t], p.tau, p.decay_input, p.v_rest, tmp)
        s = torch.ge(h, p.v_threshold, out=s_seq[t])  # Θ(H − V_th) as H ≥ V_th (same for finite H)
        if p.hard:  # (1 − S)·H + S·V_r, with S·V_r exact: the reference's roundings
            torch.mul(torch.sub(s, 1.0, out=tmp).neg_(), h, out=v).add_(s, alpha=p.v_reset)
        else:
            torch.add(h, s, alpha=-p.v_threshold, out=v)  # H − S·V_th
    return s_seq, h_seq, v


def lif_backward(
    h_seq: Tensor, g_spikes: Tensor, g_vT: Tensor | None, p: LIFParams, g_x: Tensor
) -> tuple[Tensor, Tensor]:
    """(grad x, grad v0) of LIF, written into ``g_x`` (which may be ``h_seq`` itself: a chunk of H is read
    before
    that chunk of ``g_x`` is written)."""
    a, b = charge_grads(p.tau, p.decay_input)
    th = p.v_threshold
    g_spikes = g_spikes.float()
    g_v = state_or_zeros(g_vT, h_seq)
    tmp = torch.empty_like(g_v)
    for t0, t1 in reverse_chunks(h_seq.shape[0], h_seq[0].numel()):
        h = h_seq[t0:t1]
        sg = p.surrogate.grad_(h - th)
        if p.hard:
            c = torch.lt(h, th, out=torch.empty_like(h))  # ∂V/∂H = 1 − S (float mask: bool is slow)
            if not p.detach_reset:
                c.add_(sg * (p.v_reset - h))  # + sg·∂V/∂S, ∂V/∂S = V_r − H
        elif not p.detach_reset:
            c = torch.mul(sg, -th).add_(1.0)  # 1 − V_th·sg
        else:
            c = None  # ∂V/∂H = 1, no reset term
        torch.mul(g_spikes[t0:t1], sg, out=g_x[t0:t1])  # P = g_spike·sg (g_x holds g_H until scaled by b)
        for t in range(t1 - 1, t0 - 1, -1):
            g_h = g_x[t]
            if c is None:
                g_h.add_(g_v)
            else:
                g_h.add_(torch.mul(g_v, c[t - t0], out=tmp))  # P + g_V·C
            torch.mul(g_h, a, out=g_v)
    if b != 1.0:
        g_x.mul_(b)
    return g_x, g_v


LOOPS = BPTTLoops("eager", lif_forward, lif_backward)
lif_seq_eager = register_impl("lif", Backend.EAGER)(make_seq(LOOPS))
