"""KLIF's BPTT loops in PyTorch ops (engine ``eager``; any device): the spec the fused engines follow.

Forward: the float32 operations of ``klif_step`` in the same order (bit-identical spikes and states) into
owned buffers; the hard reset F(1 − S) + V_r·S is ``mul`` + ``add(alpha=V_r)`` (exact products for S ∈ {0,
1}). Backward: the recursion of ``snndeploy/neurons/klif.py`` regrouped as g_F = P + g_V·C with P =
g_spike·sg·[kH > 0] and C = [kH > 0]·((V_r − F)·sg + 1 − S) computed for a chunk of steps at once; g_X =
b·k·g_F per chunk after its reverse loop; g_k per neuron, Σ_t g_F·H (``KLIFFunction`` sums over neurons in
float64). Every product and sum rounds on its own (no ``addcmul``: PyTorch fuses it into one rounding where
the CPU has FMA), so the fused engines, which repeat these operations, give bit-identical gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..bptt import BPTTLoops, charge_into, reverse_chunks, state_or_zeros
from ..dynamics import charge_grads
from ..engine import Backend, register_impl
from ..klif import KLIFParams, make_seq

__all__ = ["klif_forward", "klif_backward", "LOOPS", "klif_seq_eager"]


def klif_forward(
    x32: Tensor, v0: Tensor | None, k: Tensor, p: KLIFParams, save: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """(spikes, H, final V) of KLIF over ``x32`` [T, B, *] float32 with scale ``k`` from ``v0`` (``None``:
    zeros);
    keeps H whatever ``save`` says."""
    v = state_or_zeros(v0, x32)
    kf = k.detach().float()
    h_seq = torch.empty(x32.shape, dtype=torch.float32, device=x32.device)
    s_seq = torch.empty_like(h_seq)
    f = torch.empty_like(v)
    tmp = torch.empty_like(v)
    for t in range(x32.shape[0]):
        h = charge_into(h_seq[t], v, x32[t], p.tau, p.decay_input, p.v_reset, tmp)
        torch.mul(h, kf, out=f).relu_()  # F = ReLU(k·H)
        s = torch.ge(f, p.v_threshold, out=s_seq[t])  # Θ(F − V_th) as F ≥ V_th
        # F(1 − S) + V_r·S as (1 − S)·F + S·V_r: products exact for S ∈ {0, 1}, same rounding
        torch.mul(torch.sub(s, 1.0, out=tmp).neg_(), f, out=v).add_(s, alpha=p.v_reset)
    return s_seq, h_seq, v


def klif_backward(
    h_seq: Tensor, g_spikes: Tensor, g_vT: Tensor | None, k: Tensor, p: KLIFParams, g_x: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(grad x, grad v0, per-neuron parts of grad k) of KLIF, written into ``g_x`` (which may be ``h_seq``
    itself:
    step t of H is read before step t of ``g_x`` is written)."""
    a, b = charge_grads(p.tau, p.decay_input)
    kf = k.detach().float()
    kv = float(kf)
    th = p.v_threshold
    g_spikes = g_spikes.float()
    g_v = state_or_zeros(g_vT, h_seq)
    tmp = torch.empty_like(g_v)
    g_k = torch.zeros_like(g_v)  # Σ_t g_F·H per neuron
    for t0, t1 in reverse_chunks(h_seq.shape[0], h_seq[0].numel()):
        h = h_seq[t0:t1]  # intact until g_x[t0:t1] (maybe the same memory) is written at the end
        kh = h * kf
        pos = torch.gt(kh, 0.0, out=torch.empty_like(kh))  # float masks: bool tensors are slow on CPU
        f = kh.relu_()
        sg = p.surrogate.grad_(f - th).mul_(pos)  # sg·[kH > 0]
        c = torch.lt(f, th, out=torch.empty_like(f)).mul_(pos)  # [kH > 0]·(1 − S)
        if not p.detach_reset:
            c.add_(sg * f.neg_().add_(p.v_reset))  # + [kH > 0]·sg·(V_r − F)
        g_f = sg.mul_(g_spikes[t0:t1])  # P = g_spike·sg·[kH > 0], then g_F in place
        for t in range(t1 - 1, t0 - 1, -1):
            g = g_f[t - t0].add_(torch.mul(g_v, c[t - t0], out=tmp))  # g_F = P + g_V·C
            torch.mul(g, a * kv, out=g_v)  # g_V[t−1] = a·k·g_F
            g_k.add_(torch.mul(g, h[t - t0], out=tmp))  # per neuron, in reverse time order
        torch.mul(g_f, b * kv, out=g_x[t0:t1])  # g_X = b·k·g_F
    return g_x, g_v, g_k


LOOPS = BPTTLoops("eager", klif_forward, klif_backward)
klif_seq_eager = register_impl("klif", Backend.EAGER)(make_seq(LOOPS))
