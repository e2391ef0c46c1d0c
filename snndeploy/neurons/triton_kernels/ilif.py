"""ILIF in Triton: fused forward (v, m, I, x[t−1], s[t−1] in registers) and reverse-time BPTT backward.

Equations and BPTT: ``snndeploy/neurons/ilif.py`` (the ``eager`` engine, ``eager_loops/ilif.py``, is the spec;
same operation order).

Saved for backward: H and m in float32 and [I > 0] as uint8 (9 B/neuron-step), plus a reference to the input x
(the backward needs x[t] for the x·s inhibition term; it costs no copy, but keeps x alive: +4 B fp32 / +2 B
bf16 if nothing else holds it). s and v' = H − s·V_th are recomputed. Recomputing m in reverse (m[t−1] = m[t]
− s·v') would save 4 B but accumulates one rounding per step in σ(m); kept as in the reference. Bytes per
neuron-step (fp32 I/O): forward 17 (read x, write s, H, m, [I>0]), backward 21 (read x, H, m, [I>0], dL/ds,
write dL/dx); inference 8. bf16 I/O: 13 / 15 / 4.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..engine import Backend, register_impl
from ..ilif import ILIFParams, ILIFState
from ._common import (
    Launcher,
    charge,
    flatten_time_major,
    float_flags,
    inv_f32,
    sigmoid,
    state_in,
    surrogate_grad,
)

__all__ = ["ilif_seq_triton", "ILIFTritonFunction", "ilif_fwd", "ilif_bwd"]


@triton.jit
def _ilif_fwd_kernel(
    x_ptr,
    v0_ptr,
    m0_ptr,
    i0_ptr,
    xp0_ptr,
    sp0_ptr,
    s_ptr,
    h_ptr,
    msv_ptr,
    ipos_ptr,
    vT_ptr,
    mT_ptr,
    iT_ptr,
    xpT_ptr,
    spT_ptr,
    N,
    T,
    tau,
    inv_tau,
    v_th,
    gamma,
    HAS_STATE: tl.constexpr,
    SAVE: tl.constexpr,
    RECIP: tl.constexpr,
    LIBDEVICE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    if HAS_STATE:
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
        m = tl.load(m0_ptr + offs, mask=mask, other=0.0)
        i = tl.load(i0_ptr + offs, mask=mask, other=0.0)
        xp = tl.load(xp0_ptr + offs, mask=mask, other=0.0)
        sp = tl.load(sp0_ptr + offs, mask=mask, other=0.0)
    else:
        v = tl.zeros([BLOCK], dtype=tl.float32)
        m = tl.zeros([BLOCK], dtype=tl.float32)
        i = tl.zeros([BLOCK], dtype=tl.float32)
        xp = tl.zeros([BLOCK], dtype=tl.float32)
        sp = tl.zeros([BLOCK], dtype=tl.float32)
    x_p = x_ptr + offs
    s_p = s_ptr + offs
    h_p = h_ptr + offs
    m_p = msv_ptr + offs
    ip_p = ipos_ptr + offs
    for _ in range(T):
        x = tl.load(x_p, mask=mask, other=0.0).to(tl.float32)
        i = gamma * (i + xp * sp)
        h = charge(v, x, 0.0, tau, inv_tau, False, RECIP) - tl.maximum(i, 0.0)
        s = ((h - v_th) >= 0.0).to(tl.float32)
        vp = h - s * v_th
        m = m + s * vp
        v = vp - s * sigmoid(m, LIBDEVICE)
        xp = x
        sp = s
        tl.store(s_p, s.to(s_ptr.dtype.element_ty), mask=mask)
        if SAVE:
            tl.store(h_p, h, mask=mask)
            tl.store(m_p, m, mask=mask)
            tl.store(ip_p, (i > 0.0).to(tl.uint8), mask=mask)
            h_p += N
            m_p += N
            ip_p += N
        x_p += N
        s_p += N
    tl.store(vT_ptr + offs, v, mask=mask)
    tl.store(mT_ptr + offs, m, mask=mask)
    tl.store(iT_ptr + offs, i, mask=mask)
    tl.store(xpT_ptr + offs, xp, mask=mask)
    tl.store(spT_ptr + offs, sp, mask=mask)


@triton.jit
def _ilif_bwd_kernel(
    gs_ptr,
    x_ptr,
    h_ptr,
    msv_ptr,
    ipos_ptr,
    gvT_ptr,
    gmT_ptr,
    giT_ptr,
    gxpT_ptr,
    gspT_ptr,
    gx_ptr,
    gv0_ptr,
    gm0_ptr,
    gp0_ptr,
    N,
    T,
    last_off,
    v_th,
    beta,
    gamma,
    alpha,
    HAS_GT: tl.constexpr,
    WRITE_G0: tl.constexpr,
    DETACH: tl.constexpr,
    KIND: tl.constexpr,
    LIBDEVICE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    if HAS_GT:
        g_v = tl.load(gvT_ptr + offs, mask=mask, other=0.0)
        g_m = tl.load(gmT_ptr + offs, mask=mask, other=0.0)
        e_i = tl.load(giT_ptr + offs, mask=mask, other=0.0)  # extra terms that reach step T−1 only
        e_x = tl.load(gxpT_ptr + offs, mask=mask, other=0.0)
        e_s = tl.load(gspT_ptr + offs, mask=mask, other=0.0)
    else:
        g_v = tl.zeros([BLOCK], dtype=tl.float32)
        g_m = tl.zeros([BLOCK], dtype=tl.float32)
        e_i = tl.zeros([BLOCK], dtype=tl.float32)
        e_x = tl.zeros([BLOCK], dtype=tl.float32)
        e_s = tl.zeros([BLOCK], dtype=tl.float32)
    g_p = tl.zeros([BLOCK], dtype=tl.float32)  # gradient of P[t] = I[t] + x[t]·s[t]
    gs_p = gs_ptr + last_off + offs
    x_p = x_ptr + last_off + offs
    h_p = h_ptr + last_off + offs
    m_p = msv_ptr + last_off + offs
    ip_p = ipos_ptr + last_off + offs
    gx_p = gx_ptr + last_off + offs
    for _ in range(T):
        x = tl.load(x_p, mask=mask, other=0.0).to(tl.float32)
        h = tl.load(h_p, mask=mask, other=0.0)
        m = tl.load(m_p, mask=mask, other=0.0)
        ipos = tl.load(ip_p, mask=mask, other=0).to(tl.float32)
        g_spk = tl.load(gs_p, mask=mask, other=0.0).to(tl.float32)
        z = h - v_th
        s = (z >= 0.0).to(tl.float32)
        vp = h - s * v_th
        sig_m = sigmoid(m, LIBDEVICE)
        g_s = g_spk + g_p * x + e_s
        g_m = g_m - g_v * s * sig_m * (1.0 - sig_m)
        g_vp = g_v + g_m * s
        g_s = g_s + g_m * vp
        if not DETACH:
            g_s = g_s - g_v * sig_m - g_vp * v_th
        g_h = g_vp + g_s * surrogate_grad(z, alpha, KIND, LIBDEVICE)
        tl.store(gx_p, (g_h + g_p * s + e_x).to(gx_ptr.dtype.element_ty), mask=mask)
        g_v = g_h * beta
        g_p = gamma * (g_p + e_i - g_h * ipos)
        e_i = e_i * 0.0
        e_x = e_x * 0.0
        e_s = e_s * 0.0
        x_p -= N
        h_p -= N
        m_p -= N
        ip_p -= N
        gs_p -= N
        gx_p -= N
    if WRITE_G0:
        tl.store(gv0_ptr + offs, g_v, mask=mask)
        tl.store(gm0_ptr + offs, g_m, mask=mask)
        tl.store(gp0_ptr + offs, g_p, mask=mask)


_fwd = Launcher(_ilif_fwd_kernel)
_bwd = Launcher(_ilif_bwd_kernel)


@torch.library.custom_op("snndeploy::ilif_fwd", mutates_args=())
def ilif_fwd(
    x: Tensor,
    v0: Tensor | None,
    m0: Tensor | None,
    i0: Tensor | None,
    xp0: Tensor | None,
    sp0: Tensor | None,
    tau: float,
    v_th: float,
    gamma: float,
    save: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Forward launcher: spikes, the final (v, m, i, x_prev, s_prev) and the saved H, m ([T, N] float32) and
    [I > 0] ([T, N] uint8), empty unless ``save``. The initial state is all five tensors or none (zeros)."""
    x2, T, N = flatten_time_major(x)
    dev = x.device
    spikes = torch.empty(x.shape, dtype=x.dtype, device=dev)
    saved = (T, N) if save else (0,)
    h = torch.empty(saved, dtype=torch.float32, device=dev)
    msv = torch.empty(saved, dtype=torch.float32, device=dev)
    ipos = torch.empty(saved, dtype=torch.uint8, device=dev)
    finals = [torch.empty(x.shape[1:], dtype=torch.float32, device=dev) for _ in range(5)]
    st = (v0, m0, i0, xp0, sp0)
    has_state = all(t is not None for t in st)
    _fwd(
        N,
        x2,
        *(st if has_state else finals),
        spikes,
        h if save else spikes,
        msv if save else spikes,
        ipos if save else spikes,
        *finals,
        N,
        T,
        tau,
        inv_f32(tau),
        v_th,
        gamma,
        HAS_STATE=has_state,
        SAVE=save,
        **float_flags(x2),
    )
    return (spikes, *finals, h, msv, ipos)


@ilif_fwd.register_fake
def _(x, v0, m0, i0, xp0, sp0, tau, v_th, gamma, save):
    T = x.shape[0]
    saved = (T, x.numel() // T) if save else (0,)
    finals = [x.new_empty(x.shape[1:], dtype=torch.float32) for _ in range(5)]
    return (
        torch.empty_like(x),
        *finals,
        x.new_empty(saved, dtype=torch.float32),
        x.new_empty(saved, dtype=torch.float32),
        x.new_empty(saved, dtype=torch.uint8),
    )


@torch.library.custom_op("snndeploy::ilif_bwd", mutates_args=())
def ilif_bwd(
    g_spikes: Tensor,
    x: Tensor,
    h: Tensor,
    msv: Tensor,
    ipos: Tensor,
    g_vT: Tensor | None,
    g_mT: Tensor | None,
    g_iT: Tensor | None,
    g_xpT: Tensor | None,
    g_spT: Tensor | None,
    tau: float,
    v_th: float,
    gamma: float,
    alpha: float,
    kind: int,
    detach: bool,
    write_g0: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Backward launcher: dL/dx [T, N] (x's dtype) and dL/dv0, dL/dm0, dL/dP[−1] ([N], empty unless
    ``write_g0``);
    P[−1] = i0 + x_prev0·s_prev0, so dL/di0 = dL/dP[−1]."""
    T, N = h.shape
    dev = h.device
    g_s = g_spikes.contiguous().view(T, N)
    g_x = torch.empty((T, N), dtype=x.dtype, device=dev)
    g_final = (g_vT, g_mT, g_iT, g_xpT, g_spT)
    has_gt = any(g is not None for g in g_final)
    if has_gt:
        zeros = torch.zeros(N, dtype=torch.float32, device=dev)
        g_t = [g.float().contiguous().view(N) if g is not None else zeros for g in g_final]
    else:
        g_t = [h] * 5
    g0 = [torch.empty(N if write_g0 else 0, dtype=torch.float32, device=dev) for _ in range(3)]
    _bwd(
        N,
        g_s,
        x.contiguous().view(T, N),
        h,
        msv,
        ipos,
        *g_t,
        g_x,
        *(g0 if write_g0 else [h] * 3),
        N,
        T,
        (T - 1) * N,
        v_th,
        1.0 - 1.0 / tau,
        gamma,
        alpha,
        HAS_GT=has_gt,
        WRITE_G0=write_g0,
        DETACH=detach,
        KIND=kind,
        LIBDEVICE=float_flags(h)["LIBDEVICE"],
    )
    return (g_x, *g0)


@ilif_bwd.register_fake
def _(
    g_spikes, x, h, msv, ipos, g_vT, g_mT, g_iT, g_xpT, g_spT, tau, v_th, gamma, alpha, kind, detach, write_g0
):
    n0 = h.shape[1] if write_g0 else 0
    return (torch.empty_like(h, dtype=x.dtype), h.new_empty(n0), h.new_empty(n0), h.new_empty(n0))


class ILIFTritonFunction(torch.autograd.Function):
    """ILIF sequence: Triton forward saving H, m, [I>0] (uint8), Triton reverse-time backward."""

    @staticmethod
    def forward(ctx, x_seq, v0, m0, i0, xp0, sp0, params: ILIFParams):  # type: ignore[override]
        p = params
        spikes, *finals, h, msv, ipos = ilif_fwd(
            x_seq, v0, m0, i0, xp0, sp0, p.tau, p.v_threshold, p.inhibition, True
        )
        has_state = v0 is not None
        ctx.save_for_backward(x_seq, h, msv, ipos, *((xp0, sp0) if has_state else ()))
        ctx.params = p
        ctx.shape, ctx.has_state = x_seq.shape, has_state
        ctx.set_materialize_grads(False)
        return (spikes, *finals)

    @staticmethod
    def backward(ctx, g_spikes, *g_final):  # type: ignore[override]
        x_seq, h, msv, ipos, *st0 = ctx.saved_tensors
        p: ILIFParams = ctx.params
        write_g0 = ctx.has_state and any(ctx.needs_input_grad[1:6])
        g_s = torch.zeros_like(h) if g_spikes is None else g_spikes
        g_x, g_v0, g_m0, g_p = ilif_bwd(
            g_s,
            x_seq,
            h,
            msv,
            ipos,
            *g_final,
            p.tau,
            p.v_threshold,
            p.inhibition,
            p.surrogate.alpha,
            p.surrogate.kind_id,
            p.detach_reset,
            write_g0,
        )
        g_x = g_x.view(ctx.shape)
        if not write_g0:
            return g_x, None, None, None, None, None, None
        rest = ctx.shape[1:]
        g_v0, g_m0, g_p = g_v0.view(rest), g_m0.view(rest), g_p.view(rest)
        xp0, sp0 = st0
        # P[-1] = i0 + xp0·sp0 feeds I[0].
        return g_x, g_v0, g_m0, g_p, g_p * sp0, g_p * xp0, None


@register_impl("ilif", Backend.TRITON)
def ilif_seq_triton(
    x_seq: Tensor, params: ILIFParams, state: ILIFState | None = None
) -> tuple[Tensor, ILIFState]:
    """ILIF over ``x_seq`` [T, B, *] with the fused Triton kernels; same results as
    ``ilif_seq``/``ilif_seq_eager``.

    Runs the lighter inference kernel (nothing saved) when no gradient is needed.
    """
    rest = x_seq.shape[1:]
    st: tuple[Tensor | None, ...] = (None,) * 5
    if state is not None:
        st = tuple(state_in(t, rest, name, x_seq) for t, name in zip(state, ILIFState._fields, strict=True))
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x_seq, *st))
    p = params
    if needs_grad:
        spikes, *finals = ILIFTritonFunction.apply(x_seq, *st, p)
    else:
        spikes, *finals, _, _, _ = ilif_fwd(x_seq, *st, p.tau, p.v_threshold, p.inhibition, False)
    return spikes, ILIFState(*finals)
