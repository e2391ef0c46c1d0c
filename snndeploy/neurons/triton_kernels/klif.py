"""KLIF in Triton: fused forward and reverse-time BPTT backward with the gradient of the learnable scalar k.

Equations and BPTT: ``snndeploy/neurons/klif.py`` (the ``eager`` engine, ``eager_loops/klif.py``, is the spec;
same operation order). k is read from device memory inside the kernel (no ``.item()``, no host-device sync).
dL/dk: each program accumulates Σ_t g_F·H·[kH > 0] per lane in registers, reduces its block with ``tl.sum``
and adds it to one float32 cell with ``tl.atomic_add`` (one atomic per program, not per neuron-step; the
summation order, hence the last bits of dL/dk, depends on the schedule).

Saved for backward: H in float32 (4 B/neuron-step); F = ReLU(kH) and S are recomputed from H and k.
Bytes per neuron-step (fp32 I/O): forward 12, backward 12, inference 8; bf16 I/O: 8 / 8 / 4.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ...errors import InvalidInputError
from ..engine import Backend, register_impl
from ..klif import KLIFParams, KLIFState
from ._common import Launcher, charge, flatten_time_major, float_flags, inv_f32, state_in, surrogate_grad

__all__ = ["klif_seq_triton", "KLIFTritonFunction", "klif_fwd", "klif_bwd"]


@triton.jit
def _klif_fwd_kernel(
    x_ptr,
    v0_ptr,
    k_ptr,
    s_ptr,
    h_ptr,
    vT_ptr,
    N,
    T,
    tau,
    inv_tau,
    v_th,
    v_reset,
    HAS_V0: tl.constexpr,
    SAVE: tl.constexpr,
    DECAY_INPUT: tl.constexpr,
    RECIP: tl.constexpr,
    LIBDEVICE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    k = tl.load(k_ptr).to(tl.float32)
    if HAS_V0:
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    else:
        v = tl.zeros([BLOCK], dtype=tl.float32)
    x_p = x_ptr + offs
    s_p = s_ptr + offs
    h_p = h_ptr + offs
    for _ in range(T):
        x = tl.load(x_p, mask=mask, other=0.0).to(tl.float32)
        h = charge(v, x, v_reset, tau, inv_tau, DECAY_INPUT, RECIP)
        f = tl.maximum(k * h, 0.0)
        s = ((f - v_th) >= 0.0).to(tl.float32)
        v = (1.0 - s) * f + s * v_reset
        tl.store(s_p, s.to(s_ptr.dtype.element_ty), mask=mask)
        if SAVE:
            tl.store(h_p, h, mask=mask)
            h_p += N
        x_p += N
        s_p += N
    tl.store(vT_ptr + offs, v, mask=mask)


@triton.jit
def _klif_bwd_kernel(
    gs_ptr,
    h_ptr,
    k_ptr,
    gvT_ptr,
    gx_ptr,
    gv0_ptr,
    gk_ptr,
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
    DETACH: tl.constexpr,
    KIND: tl.constexpr,
    LIBDEVICE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    k = tl.load(k_ptr).to(tl.float32)
    if HAS_GVT:
        g_v = tl.load(gvT_ptr + offs, mask=mask, other=0.0)
    else:
        g_v = tl.zeros([BLOCK], dtype=tl.float32)
    g_k = tl.zeros([BLOCK], dtype=tl.float32)
    gs_p = gs_ptr + last_off + offs
    h_p = h_ptr + last_off + offs
    gx_p = gx_ptr + last_off + offs
    for _ in range(T):
        h = tl.load(h_p, mask=mask, other=0.0)
        g_spk = tl.load(gs_p, mask=mask, other=0.0).to(tl.float32)
        kh = k * h
        pos = (kh > 0.0).to(tl.float32)
        f = kh * pos
        z = f - v_th
        s = (z >= 0.0).to(tl.float32)
        if DETACH:
            g_s = g_spk
        else:
            g_s = g_spk + g_v * (v_reset - f)
        g_f = (g_s * surrogate_grad(z, alpha, KIND, LIBDEVICE) + g_v * (1.0 - s)) * pos
        g_k += g_f * h
        g_h = g_f * k
        tl.store(gx_p, (g_h * b).to(gx_ptr.dtype.element_ty), mask=mask)
        g_v = g_h * a
        h_p -= N
        gs_p -= N
        gx_p -= N
    if WRITE_GV0:
        tl.store(gv0_ptr + offs, g_v, mask=mask)
    tl.atomic_add(gk_ptr, tl.sum(tl.where(mask, g_k, 0.0), axis=0))


_fwd = Launcher(_klif_fwd_kernel)
_bwd = Launcher(_klif_bwd_kernel, reset_to_zero=["gk_ptr"])


@torch.library.custom_op("snndeploy::klif_fwd", mutates_args=())
def klif_fwd(
    x: Tensor,
    v0: Tensor | None,
    k: Tensor,
    tau: float,
    v_th: float,
    v_reset: float,
    decay_input: bool,
    save: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Forward launcher: spikes (x's shape and dtype), V[T] (float32), H [T, N] (float32, empty unless
    ``save``)."""
    x2, T, N = flatten_time_major(x)
    if k.device != x.device:
        raise InvalidInputError(f"KLIF k is on {k.device} but x_seq is on {x.device}")
    spikes = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    h = torch.empty((T, N) if save else (0,), dtype=torch.float32, device=x.device)
    vT = torch.empty(x.shape[1:], dtype=torch.float32, device=x.device)
    _fwd(
        N,
        x2,
        v0 if v0 is not None else vT,
        k.contiguous(),
        spikes,
        h if save else spikes,
        vT,
        N,
        T,
        tau,
        inv_f32(tau),
        v_th,
        v_reset,
        HAS_V0=v0 is not None,
        SAVE=save,
        DECAY_INPUT=decay_input,
        **float_flags(x2),
    )
    return spikes, vT, h


@klif_fwd.register_fake
def _(x, v0, k, tau, v_th, v_reset, decay_input, save):
    T = x.shape[0]
    h = x.new_empty((T, x.numel() // T) if save else (0,), dtype=torch.float32)
    return torch.empty_like(x), x.new_empty(x.shape[1:], dtype=torch.float32), h


@torch.library.custom_op("snndeploy::klif_bwd", mutates_args=())
def klif_bwd(
    g_spikes: Tensor,
    h: Tensor,
    k: Tensor,
    g_vT: Tensor | None,
    v_th: float,
    v_reset: float,
    a: float,
    b: float,
    alpha: float,
    kind: int,
    detach: bool,
    write_gv0: bool,
    x_dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor]:
    """Backward launcher: dL/dX [T, N] (``x_dtype``), dL/dV0 [N] (empty unless ``write_gv0``), dL/dk [1]
    (float32)."""
    T, N = h.shape
    g_s = g_spikes.contiguous().view(T, N)
    g_x = torch.empty((T, N), dtype=x_dtype, device=h.device)
    g_v0 = torch.empty(N if write_gv0 else 0, dtype=torch.float32, device=h.device)
    g_k = torch.zeros(1, dtype=torch.float32, device=h.device)
    gvT = g_vT.float().contiguous().view(N) if g_vT is not None else None
    _bwd(
        N,
        g_s,
        h,
        k.contiguous(),
        gvT if gvT is not None else h,
        g_x,
        g_v0 if write_gv0 else h,
        g_k,
        N,
        T,
        (T - 1) * N,
        v_th,
        v_reset,
        a,
        b,
        alpha,
        HAS_GVT=gvT is not None,
        WRITE_GV0=write_gv0,
        DETACH=detach,
        KIND=kind,
        LIBDEVICE=float_flags(h)["LIBDEVICE"],
    )
    return g_x, g_v0, g_k


@klif_bwd.register_fake
def _(g_spikes, h, k, g_vT, v_th, v_reset, a, b, alpha, kind, detach, write_gv0, x_dtype):
    return torch.empty_like(h, dtype=x_dtype), h.new_empty(h.shape[1] if write_gv0 else 0), h.new_empty(1)


def _fwd_op(
    x: Tensor, v0: Tensor | None, k: Tensor, p: KLIFParams, save: bool
) -> tuple[Tensor, Tensor, Tensor]:
    return klif_fwd(x, v0, k, p.tau, p.v_threshold, p.v_reset, p.decay_input, save)


class KLIFTritonFunction(torch.autograd.Function):
    """KLIF sequence: Triton forward saving H, Triton reverse-time backward reducing dL/dk on the device."""

    @staticmethod
    def forward(ctx, x_seq: Tensor, v0: Tensor | None, k: Tensor, params: KLIFParams):  # type: ignore[override]
        kd = k.detach()
        spikes, vT, h = _fwd_op(x_seq, v0, kd, params, save=True)
        ctx.save_for_backward(h, kd)
        ctx.params = params
        ctx.shape, ctx.x_dtype, ctx.has_v0 = x_seq.shape, x_seq.dtype, v0 is not None
        ctx.k_shape, ctx.k_dtype = k.shape, k.dtype
        ctx.set_materialize_grads(False)
        return spikes, vT

    @staticmethod
    def backward(ctx, g_spikes: Tensor | None, g_vT: Tensor | None):  # type: ignore[override]
        h, k = ctx.saved_tensors
        p: KLIFParams = ctx.params
        write_gv0 = ctx.has_v0 and ctx.needs_input_grad[1]
        g_s = torch.zeros_like(h) if g_spikes is None else g_spikes
        a = 1.0 - 1.0 / p.tau
        b = 1.0 / p.tau if p.decay_input else 1.0
        g_x, g_v0, g_k = klif_bwd(
            g_s,
            h,
            k,
            g_vT,
            p.v_threshold,
            p.v_reset,
            a,
            b,
            p.surrogate.alpha,
            p.surrogate.kind_id,
            p.detach_reset,
            write_gv0,
            ctx.x_dtype,
        )
        g_v0 = g_v0.view(ctx.shape[1:]) if write_gv0 else None
        return g_x.view(ctx.shape), g_v0, g_k.reshape(ctx.k_shape).to(ctx.k_dtype), None


@register_impl("klif", Backend.TRITON)
def klif_seq_triton(
    x_seq: Tensor, params: KLIFParams, state: KLIFState | None = None
) -> tuple[Tensor, KLIFState]:
    """KLIF over ``x_seq`` [T, B, *] with the fused Triton kernels; same results as
    ``klif_seq``/``klif_seq_eager``.

    Runs the lighter inference kernel (nothing saved) when no gradient is needed.
    """
    v0 = state_in(state.v if state is not None else None, x_seq.shape[1:], "v", x_seq)
    k = params.k
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x_seq, v0, k))
    if needs_grad:
        spikes, vT = KLIFTritonFunction.apply(x_seq, v0, k, params)
    else:
        spikes, vT, _ = _fwd_op(x_seq, v0, k.detach(), params, save=False)
    return spikes, KLIFState(vT)
