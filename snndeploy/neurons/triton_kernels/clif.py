"""CLIF in Triton: fused forward (u, m in registers) and reverse-time BPTT backward.

Equations and BPTT: ``snndeploy/neurons/clif.py`` (the ``eager`` engine, ``eager_loops/clif.py``, is the spec;
same operation order).

Saved for backward: u' and m[t−1] in float32 (8 B/neuron-step); s = Θ(u' − V_th), σ(u'/τ) and m[t] = m[t−1]·σ
+ s are recomputed. m[t−1] cannot be recovered from m[t] without dividing by σ(u'/τ) (error grows like Π 1/σ
over the reverse loop), and the m recursion cannot be rerun backwards, so it is saved. Bytes per neuron-step
(fp32 I/O): forward 16 (read x, write s, u', m[t−1]), backward 16 (read u', m[t−1], dL/ds, write dL/dx);
inference 8. bf16 I/O: 12 / 12 / 4.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..clif import CLIFParams, CLIFState
from ..engine import Backend, register_impl
from ._common import (
    Launcher,
    charge,
    div_tau,
    flatten_time_major,
    float_flags,
    inv_f32,
    sigmoid,
    state_in,
    surrogate_grad,
)

__all__ = ["clif_seq_triton", "CLIFTritonFunction", "clif_fwd", "clif_bwd"]


@triton.jit
def _clif_fwd_kernel(
    x_ptr,
    u0_ptr,
    m0_ptr,
    s_ptr,
    up_ptr,
    mp_ptr,
    uT_ptr,
    mT_ptr,
    N,
    T,
    tau,
    inv_tau,
    v_th,
    HAS_STATE: tl.constexpr,
    SAVE: tl.constexpr,
    RECIP: tl.constexpr,
    LIBDEVICE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    if HAS_STATE:
        u = tl.load(u0_ptr + offs, mask=mask, other=0.0)
        m = tl.load(m0_ptr + offs, mask=mask, other=0.0)
    else:
        u = tl.zeros([BLOCK], dtype=tl.float32)
        m = tl.zeros([BLOCK], dtype=tl.float32)
    x_p = x_ptr + offs
    s_p = s_ptr + offs
    up_p = up_ptr + offs
    mp_p = mp_ptr + offs
    for _ in range(T):
        x = tl.load(x_p, mask=mask, other=0.0).to(tl.float32)
        if SAVE:
            tl.store(mp_p, m, mask=mask)
            mp_p += N
        up = charge(u, x, 0.0, tau, inv_tau, False, RECIP)
        m = m * sigmoid(div_tau(up, tau, inv_tau, RECIP), LIBDEVICE)
        s = ((up - v_th) >= 0.0).to(tl.float32)
        m = m + s
        u = up - s * (v_th + sigmoid(m, LIBDEVICE))
        tl.store(s_p, s.to(s_ptr.dtype.element_ty), mask=mask)
        if SAVE:
            tl.store(up_p, up, mask=mask)
            up_p += N
        x_p += N
        s_p += N
    tl.store(uT_ptr + offs, u, mask=mask)
    tl.store(mT_ptr + offs, m, mask=mask)


@triton.jit
def _clif_bwd_kernel(
    gs_ptr,
    up_ptr,
    mp_ptr,
    guT_ptr,
    gmT_ptr,
    gx_ptr,
    gu0_ptr,
    gm0_ptr,
    N,
    T,
    last_off,
    tau,
    inv_tau,
    v_th,
    beta,
    alpha,
    HAS_GT: tl.constexpr,
    WRITE_G0: tl.constexpr,
    DETACH: tl.constexpr,
    KIND: tl.constexpr,
    RECIP: tl.constexpr,
    LIBDEVICE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    if HAS_GT:
        g_u = tl.load(guT_ptr + offs, mask=mask, other=0.0)
        g_m = tl.load(gmT_ptr + offs, mask=mask, other=0.0)
    else:
        g_u = tl.zeros([BLOCK], dtype=tl.float32)
        g_m = tl.zeros([BLOCK], dtype=tl.float32)
    gs_p = gs_ptr + last_off + offs
    up_p = up_ptr + last_off + offs
    mp_p = mp_ptr + last_off + offs
    gx_p = gx_ptr + last_off + offs
    for _ in range(T):
        up = tl.load(up_p, mask=mask, other=0.0)
        mp = tl.load(mp_p, mask=mask, other=0.0)
        g_spk = tl.load(gs_p, mask=mask, other=0.0).to(tl.float32)
        z = up - v_th
        s = (z >= 0.0).to(tl.float32)
        sig_u = sigmoid(div_tau(up, tau, inv_tau, RECIP), LIBDEVICE)
        sig_m = sigmoid(mp * sig_u + s, LIBDEVICE)
        g_m = g_m - g_u * s * sig_m * (1.0 - sig_m)
        g_s = g_spk + g_m
        if not DETACH:
            g_s = g_s - g_u * (v_th + sig_m)
        g_up = (
            g_s * surrogate_grad(z, alpha, KIND, LIBDEVICE) + g_u + g_m * mp * sig_u * (1.0 - sig_u) * inv_tau
        )
        g_m = g_m * sig_u
        tl.store(gx_p, g_up.to(gx_ptr.dtype.element_ty), mask=mask)
        g_u = g_up * beta
        up_p -= N
        mp_p -= N
        gs_p -= N
        gx_p -= N
    if WRITE_G0:
        tl.store(gu0_ptr + offs, g_u, mask=mask)
        tl.store(gm0_ptr + offs, g_m, mask=mask)


_fwd = Launcher(_clif_fwd_kernel)
_bwd = Launcher(_clif_bwd_kernel)


@torch.library.custom_op("snndeploy::clif_fwd", mutates_args=())
def clif_fwd(
    x: Tensor, u0: Tensor | None, m0: Tensor | None, tau: float, v_th: float, save: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Forward launcher: spikes, u[T], m[T] and the saved u', m[t−1] ([T, N] float32, empty unless
    ``save``)."""
    x2, T, N = flatten_time_major(x)
    spikes = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    f32 = dict(dtype=torch.float32, device=x.device)
    up = torch.empty((T, N) if save else (0,), **f32)
    mp = torch.empty((T, N) if save else (0,), **f32)
    uT, mT = torch.empty(x.shape[1:], **f32), torch.empty(x.shape[1:], **f32)
    has_state = u0 is not None and m0 is not None
    _fwd(
        N,
        x2,
        u0 if has_state else uT,
        m0 if has_state else mT,
        spikes,
        up if save else spikes,
        mp if save else spikes,
        uT,
        mT,
        N,
        T,
        tau,
        inv_f32(tau),
        v_th,
        HAS_STATE=has_state,
        SAVE=save,
        **float_flags(x2),
    )
    return spikes, uT, mT, up, mp


@clif_fwd.register_fake
def _(x, u0, m0, tau, v_th, save):
    T = x.shape[0]
    saved = (T, x.numel() // T) if save else (0,)
    f32 = dict(dtype=torch.float32)
    return (
        torch.empty_like(x),
        x.new_empty(x.shape[1:], **f32),
        x.new_empty(x.shape[1:], **f32),
        x.new_empty(saved, **f32),
        x.new_empty(saved, **f32),
    )


@torch.library.custom_op("snndeploy::clif_bwd", mutates_args=())
def clif_bwd(
    g_spikes: Tensor,
    up: Tensor,
    mp: Tensor,
    g_uT: Tensor | None,
    g_mT: Tensor | None,
    tau: float,
    v_th: float,
    alpha: float,
    kind: int,
    detach: bool,
    write_g0: bool,
    x_dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor]:
    """Backward launcher: dL/dx [T, N] (``x_dtype``), dL/du0 and dL/dm0 ([N], empty unless ``write_g0``)."""
    T, N = up.shape
    dev = up.device
    g_s = g_spikes.contiguous().view(T, N)
    g_x = torch.empty((T, N), dtype=x_dtype, device=dev)
    has_gt = g_uT is not None or g_mT is not None
    zeros = torch.zeros(N, dtype=torch.float32, device=dev) if has_gt else None
    guT = g_uT.float().contiguous().view(N) if g_uT is not None else zeros
    gmT = g_mT.float().contiguous().view(N) if g_mT is not None else zeros
    gu0 = torch.empty(N if write_g0 else 0, dtype=torch.float32, device=dev)
    gm0 = torch.empty(N if write_g0 else 0, dtype=torch.float32, device=dev)
    flags = float_flags(up)
    _bwd(
        N,
        g_s,
        up,
        mp,
        guT if has_gt else up,
        gmT if has_gt else up,
        g_x,
        gu0 if write_g0 else up,
        gm0 if write_g0 else up,
        N,
        T,
        (T - 1) * N,
        tau,
        inv_f32(tau) if flags["RECIP"] else 1.0 / tau,
        v_th,
        1.0 - 1.0 / tau,
        alpha,
        HAS_GT=has_gt,
        WRITE_G0=write_g0,
        DETACH=detach,
        KIND=kind,
        **flags,
    )
    return g_x, gu0, gm0


@clif_bwd.register_fake
def _(g_spikes, up, mp, g_uT, g_mT, tau, v_th, alpha, kind, detach, write_g0, x_dtype):
    n0 = up.shape[1] if write_g0 else 0
    return torch.empty_like(up, dtype=x_dtype), up.new_empty(n0), up.new_empty(n0)


class CLIFTritonFunction(torch.autograd.Function):
    """CLIF sequence: Triton forward saving u' and m[t−1], Triton reverse-time backward."""

    @staticmethod
    def forward(ctx, x_seq: Tensor, u0: Tensor | None, m0: Tensor | None, params: CLIFParams):  # type: ignore[override]
        spikes, uT, mT, up, mp = clif_fwd(x_seq, u0, m0, params.tau, params.v_threshold, True)
        ctx.save_for_backward(up, mp)
        ctx.params = params
        ctx.shape, ctx.x_dtype, ctx.has_state = x_seq.shape, x_seq.dtype, u0 is not None
        ctx.set_materialize_grads(False)
        return spikes, uT, mT

    @staticmethod
    def backward(ctx, g_spikes: Tensor | None, g_uT: Tensor | None, g_mT: Tensor | None):  # type: ignore[override]
        up, mp = ctx.saved_tensors
        p: CLIFParams = ctx.params
        write_g0 = ctx.has_state and (ctx.needs_input_grad[1] or ctx.needs_input_grad[2])
        g_s = torch.zeros_like(up) if g_spikes is None else g_spikes
        g_x, gu0, gm0 = clif_bwd(
            g_s,
            up,
            mp,
            g_uT,
            g_mT,
            p.tau,
            p.v_threshold,
            p.surrogate.alpha,
            p.surrogate.kind_id,
            p.detach_reset,
            write_g0,
            ctx.x_dtype,
        )
        rest = ctx.shape[1:]
        if not write_g0:
            return g_x.view(ctx.shape), None, None, None
        return g_x.view(ctx.shape), gu0.view(rest), gm0.view(rest), None


@register_impl("clif", Backend.TRITON)
def clif_seq_triton(
    x_seq: Tensor, params: CLIFParams, state: CLIFState | None = None
) -> tuple[Tensor, CLIFState]:
    """CLIF over ``x_seq`` [T, B, *] with the fused Triton kernels; same results as
    ``clif_seq``/``clif_seq_eager``.

    Runs the lighter inference kernel (nothing saved) when no gradient is needed.
    """
    rest = x_seq.shape[1:]
    u0 = state_in(state.u if state is not None else None, rest, "u", x_seq)
    m0 = state_in(state.m if state is not None else None, rest, "m", x_seq)
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x_seq, u0, m0))
    if needs_grad:
        spikes, uT, mT = CLIFTritonFunction.apply(x_seq, u0, m0, params)
    else:
        spikes, uT, mT, _, _ = clif_fwd(x_seq, u0, m0, params.tau, params.v_threshold, False)
    return spikes, CLIFState(uT, mT)
