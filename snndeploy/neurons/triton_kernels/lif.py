"""LIF in Triton: fused forward (time loop in registers) and reverse-time BPTT backward.

Equations and BPTT: ``snndeploy/neurons/lif.py`` (the ``eager`` engine, ``eager_loops/lif.py``, is the spec;
same operation order). Grid: one program per BLOCK neurons (all non-time dims flattened), V in registers
across the T steps.

Saved for backward: H in float32 (4 B/neuron-step); S is recomputed as H ≥ V_th, V is not needed. The
alternative, recomputing H from X in the backward, would need a forward pass before the reverse loop (H[t]
depends on all of X[0..t]), i.e. writing H anyway or 2× the reads; saving H is the minimum. Bytes per
neuron-step (fp32 I/O): forward 12 (read X, write S, write H), backward 12 (read H, dL/dS, write dL/dX);
inference forward 8 (read X, write S). bf16 I/O: 8 / 8 / 4.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..engine import Backend, register_impl
from ..lif import LIFParams, LIFState
from ._common import Launcher, charge, flatten_time_major, float_flags, inv_f32, state_in, surrogate_grad

__all__ = ["lif_seq_triton", "LIFTritonFunction", "lif_fwd", "lif_bwd"]


@triton.jit
def _lif_fwd_kernel(
    x_ptr,
    v0_ptr,
    s_ptr,
    h_ptr,
    vT_ptr,
    N,
    T,
    tau,
    inv_tau,
    v_th,
    v_rest,
    HAS_V0: tl.constexpr,
    SAVE: tl.constexpr,
    HARD: tl.constexpr,
    DECAY_INPUT: tl.constexpr,
    RECIP: tl.constexpr,
    LIBDEVICE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    if HAS_V0:
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    else:
        v = tl.zeros([BLOCK], dtype=tl.float32)
    x_p = x_ptr + offs
    s_p = s_ptr + offs
    h_p = h_ptr + offs
    for _ in range(T):
        x = tl.load(x_p, mask=mask, other=0.0).to(tl.float32)
        # charge (dynamics.charge): fixed operation order
        h = charge(v, x, v_rest, tau, inv_tau, DECAY_INPUT, RECIP)
        s = ((h - v_th) >= 0.0).to(tl.float32)
        if HARD:
            v = (1.0 - s) * h + s * v_rest
        else:
            v = h - s * v_th
        tl.store(s_p, s.to(s_ptr.dtype.element_ty), mask=mask)
        if SAVE:
            tl.store(h_p, h, mask=mask)
            h_p += N
        x_p += N
        s_p += N
    tl.store(vT_ptr + offs, v, mask=mask)


@triton.jit
def _lif_bwd_kernel(
    gs_ptr,
    h_ptr,
    gvT_ptr,
    gx_ptr,
    gv0_ptr,
    N,
    T,
    last_off,
    v_th,
    v_reset,
    a,
    b,
    alpha,
    HAS_GVT: tl.constexpr,
    WRITE_GV0: tl.constexpr,
    HARD: tl.constexpr,
    DETACH: tl.constexpr,
    KIND: tl.constexpr,
    LIBDEVICE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    if HAS_GVT:
        g_v = tl.load(gvT_ptr + offs, mask=mask, other=0.0)
    else:
        g_v = tl.zeros([BLOCK], dtype=tl.float32)
    gs_p = gs_ptr + last_off + offs
    h_p = h_ptr + last_off + offs
    gx_p = gx_ptr + last_off + offs
    for _ in range(T):
        h = tl.load(h_p, mask=mask, other=0.0)
        g_spk = tl.load(gs_p, mask=mask, other=0.0).to(tl.float32)
        z = h - v_th
        s = (z >= 0.0).to(tl.float32)
        if HARD:
            dv_dh = 1.0 - s
            dv_ds = v_reset - h
        else:
            dv_dh = 1.0
            dv_ds = -v_th
        if DETACH:
            g_s = g_spk
        else:
            g_s = g_spk + g_v * dv_ds
        g_h = g_s * surrogate_grad(z, alpha, KIND, LIBDEVICE) + g_v * dv_dh
        tl.store(gx_p, (g_h * b).to(gx_ptr.dtype.element_ty), mask=mask)
        g_v = g_h * a
        h_p -= N
        gs_p -= N
        gx_p -= N
    if WRITE_GV0:
        tl.store(gv0_ptr + offs, g_v, mask=mask)


_fwd = Launcher(_lif_fwd_kernel)
_bwd = Launcher(_lif_bwd_kernel)


@torch.library.custom_op("snndeploy::lif_fwd", mutates_args=())
def lif_fwd(
    x: Tensor,
    v0: Tensor | None,
    tau: float,
    v_th: float,
    v_rest: float,
    hard: bool,
    decay_input: bool,
    save: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Forward launcher. Returns spikes (x's shape and dtype), V[T] (float32) and H [T, N] (empty unless
    ``save``)."""
    x2, T, N = flatten_time_major(x)
    spikes = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    h = torch.empty((T, N) if save else (0,), dtype=torch.float32, device=x.device)
    vT = torch.empty(x.shape[1:], dtype=torch.float32, device=x.device)
    _fwd(
        N,
        x2,
        v0 if v0 is not None else vT,
        spikes,
        h if save else spikes,
        vT,
        N,
        T,
        tau,
        inv_f32(tau),
        v_th,
        v_rest,
        HAS_V0=v0 is not None,
        SAVE=save,
        HARD=hard,
        DECAY_INPUT=decay_input,
        **float_flags(x2),
    )
    return spikes, vT, h


@lif_fwd.register_fake
def _(x, v0, tau, v_th, v_rest, hard, decay_input, save):
    T = x.shape[0]
    h = x.new_empty((T, x.numel() // T) if save else (0,), dtype=torch.float32)
    return torch.empty_like(x), x.new_empty(x.shape[1:], dtype=torch.float32), h


@torch.library.custom_op("snndeploy::lif_bwd", mutates_args=())
def lif_bwd(
    g_spikes: Tensor,
    h: Tensor,
    g_vT: Tensor | None,
    v_th: float,
    v_rest: float,
    a: float,
    b: float,
    alpha: float,
    kind: int,
    hard: bool,
    detach: bool,
    write_gv0: bool,
    x_dtype: torch.dtype,
) -> tuple[Tensor, Tensor]:
    """Backward launcher. Returns dL/dX [T, N] (``x_dtype``) and dL/dV0 [N] (empty unless ``write_gv0``)."""
    T, N = h.shape
    g_s = g_spikes.contiguous().view(T, N)
    g_x = torch.empty((T, N), dtype=x_dtype, device=h.device)
    g_v0 = torch.empty(N if write_gv0 else 0, dtype=torch.float32, device=h.device)
    gvT = g_vT.float().contiguous().view(N) if g_vT is not None else None
    _bwd(
        N,
        g_s,
        h,
        gvT if gvT is not None else h,
        g_x,
        g_v0 if write_gv0 else h,
        N,
        T,
        (T - 1) * N,
        v_th,
        v_rest,
        a,
        b,
        alpha,
        HAS_GVT=gvT is not None,
        WRITE_GV0=write_gv0,
        HARD=hard,
        DETACH=detach,
        KIND=kind,
        LIBDEVICE=float_flags(h)["LIBDEVICE"],
    )
    return g_x, g_v0


@lif_bwd.register_fake
def _(g_spikes, h, g_vT, v_th, v_rest, a, b, alpha, kind, hard, detach, write_gv0, x_dtype):
    return torch.empty_like(h, dtype=x_dtype), h.new_empty(h.shape[1] if write_gv0 else 0)


def _fwd_op(x: Tensor, v0: Tensor | None, p: LIFParams, save: bool) -> tuple[Tensor, Tensor, Tensor]:
    return lif_fwd(x, v0, p.tau, p.v_threshold, p.v_rest, p.hard, p.decay_input, save)


class LIFTritonFunction(torch.autograd.Function):
    """LIF sequence: Triton forward saving H, Triton reverse-time backward (see ``snndeploy.neurons.lif``)."""

    @staticmethod
    def forward(ctx, x_seq: Tensor, v0: Tensor | None, params: LIFParams):  # type: ignore[override]
        spikes, vT, h = _fwd_op(x_seq, v0, params, save=True)
        ctx.save_for_backward(h)
        ctx.params = params
        ctx.shape, ctx.x_dtype, ctx.has_v0 = x_seq.shape, x_seq.dtype, v0 is not None
        ctx.set_materialize_grads(False)
        return spikes, vT

    @staticmethod
    def backward(ctx, g_spikes: Tensor | None, g_vT: Tensor | None):  # type: ignore[override]
        (h,) = ctx.saved_tensors
        p: LIFParams = ctx.params
        write_gv0 = ctx.has_v0 and ctx.needs_input_grad[1]
        g_s = torch.zeros_like(h) if g_spikes is None else g_spikes
        a = 1.0 - 1.0 / p.tau
        b = 1.0 / p.tau if p.decay_input else 1.0
        g_x, g_v0 = lif_bwd(
            g_s,
            h,
            g_vT,
            p.v_threshold,
            p.v_rest,
            a,
            b,
            p.surrogate.alpha,
            p.surrogate.kind_id,
            p.hard,
            p.detach_reset,
            write_gv0,
            ctx.x_dtype,
        )
        return g_x.view(ctx.shape), g_v0.view(ctx.shape[1:]) if write_gv0 else None, None


@register_impl("lif", Backend.TRITON)
def lif_seq_triton(
    x_seq: Tensor, params: LIFParams, state: LIFState | None = None
) -> tuple[Tensor, LIFState]:
    """LIF over ``x_seq`` [T, B, *] with the fused Triton kernels; same results as
    ``lif_seq``/``lif_seq_eager``.

    Runs the lighter inference kernel (nothing saved) when no gradient is needed.
    """
    v0 = state_in(state.v if state is not None else None, x_seq.shape[1:], "v", x_seq)
    needs_grad = torch.is_grad_enabled() and (x_seq.requires_grad or (v0 is not None and v0.requires_grad))
    if needs_grad:
        spikes, vT = LIFTritonFunction.apply(x_seq, v0, params)
    else:
        spikes, vT, _ = _fwd_op(x_seq, v0, params, save=False)
    return spikes, LIFState(vT)
