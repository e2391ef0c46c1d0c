"""Pieces every neuron kernel shares: surrogate gradients and the sigmoid in Triton, the division by τ in the
reference's rounding, and the launch helpers (device check, flattening, block size / autotuning, grid).

Floating-point contract (see ``snndeploy/neurons/dynamics.py``): the kernels perform the reference's
operations in the same order, in float32, one rounding per operation, so spikes are bit-identical to the
``torch``/``eager`` backends on the same device:

- Division by a Python scalar: PyTorch on CPU divides (``a / τ``); PyTorch on CUDA multiplies by the float32
  reciprocal (``a * (1/τ)``, ``div_true_kernel_cuda``). ``RECIP`` (constexpr) picks the form of the device.
- ``exp`` and ``1/x`` in the sigmoid: on GPU, libdevice ``expf`` and IEEE ``div_rn`` (what ``torch.sigmoid``'s
  CUDA kernel calls), not Triton's fast ``ex2.approx``/``div.full``; in interpreter mode numpy's float32
  ``exp``/divide.
- No fused multiply-add: ``a*b + c`` must round twice as in PyTorch's separate kernels, so every GPU launch
  passes ``enable_fp_fusion=False``. (The interpreter runs numpy, which never fuses.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.language.extra import libdevice

from ...errors import InvalidInputError

__all__ = [
    "INTERPRET",
    "surrogate_grad",
    "sigmoid",
    "div_tau",
    "flatten_time_major",
    "check_device",
    "float_flags",
    "inv_f32",
    "state_in",
    "Launcher",
]

#: Triton's interpreter (numpy on CPU) was active when the kernels were defined (``TRITON_INTERPRET=1``).
INTERPRET: bool = bool(triton.knobs.runtime.interpret)

_HALF_PI = math.pi / 2


@triton.jit
def sigmoid(x, LIBDEVICE: tl.constexpr):
    """σ(x) = 1 / (1 + exp(−x)), the formula of ``torch.sigmoid`` (libdevice expf + IEEE division on GPU)."""
    if LIBDEVICE:
        return tl.math.div_rn(1.0, 1.0 + libdevice.exp(-x))
    else:
        return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def div_tau(a, tau, inv_tau, RECIP: tl.constexpr):
    """``a / τ`` rounded as PyTorch does on the tensors' device: ``a * (1/τ)`` on CUDA, ``a / τ`` on CPU."""
    if RECIP:
        return a * inv_tau
    else:
        return a / tau


@triton.jit
def charge(v, x, v_rest, tau, inv_tau, DECAY_INPUT: tl.constexpr, RECIP: tl.constexpr):
    """``dynamics.charge`` in the same operation order: V + (X − (V − V_rest))/τ or V − (V − V_rest)/τ + X."""
    if DECAY_INPUT:
        return v + div_tau(x - (v - v_rest), tau, inv_tau, RECIP)
    else:
        return v - div_tau(v - v_rest, tau, inv_tau, RECIP) + x


@triton.jit
def surrogate_grad(z, alpha, KIND: tl.constexpr, LIBDEVICE: tl.constexpr):
    """The surrogate of Θ'(z) for ``Surrogate.kind_id`` KIND (0 Rectangle, 1 Sigmoid, 2 ATan, 3 Triangle)."""
    if KIND == 0:
        g = (tl.abs(z) <= alpha * 0.5).to(tl.float32) / alpha
    elif KIND == 1:
        sg = sigmoid(alpha * z, LIBDEVICE)
        g = alpha * sg * (1.0 - sg)
    elif KIND == 2:
        w = 1.5707963267948966 * alpha * z
        g = (alpha * 0.5) / (1.0 + w * w)
    else:
        g = tl.maximum(1.0 - tl.abs(z) / alpha, 0.0) / alpha
    return g


# --------------------------------------------------------------------------- host side


def check_device(x: Tensor) -> None:
    """Refuse tensors the kernels cannot run on, with the way out in the message."""
    if x.device.type == "cuda" or (INTERPRET and x.device.type == "cpu"):
        return
    raise InvalidInputError(
        f"backend 'triton' needs CUDA tensors; x_seq is on {x.device}. CPU tensors run only in Triton's "
        "interpreter "
        "(set TRITON_INTERPRET=1 before importing triton), or use backend='auto' (numba or eager) on CPU"
    )


def flatten_time_major(x: Tensor) -> tuple[Tensor, int, int]:
    """``x`` [T, B, *] as a contiguous [T, N] view (N = all non-time dims), with T and N."""
    if x.dim() < 1 or x.shape[0] < 1:
        raise InvalidInputError(f"x_seq must be [T, B, *] with T >= 1, got shape {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        raise InvalidInputError(f"x_seq must be float32/bfloat16/float16/float64, got {x.dtype}")
    check_device(x)
    T = x.shape[0]
    N = math.prod(x.shape[1:])
    return x.contiguous().view(T, N), T, N


def state_in(s: Tensor | None, shape: Sequence[int], name: str, like: Tensor) -> Tensor | None:
    """A state tensor as contiguous float32 of one time step's ``shape`` (None stays None: zero state)."""
    if s is None:
        return None
    if tuple(s.shape) != tuple(shape):
        raise InvalidInputError(
            f"state.{name} must have shape {tuple(shape)} (one time step of x_seq), got {tuple(s.shape)}"
        )
    if s.device != like.device:
        raise InvalidInputError(f"state.{name} is on {s.device} but x_seq is on {like.device}")
    return s.float().contiguous()


@functools.lru_cache(maxsize=256)
def inv_f32(tau: float) -> float:
    """1/τ rounded as PyTorch's CUDA division by a scalar does: float32(1) / float32(τ)."""
    return float(torch.tensor(1.0, dtype=torch.float32) / torch.tensor(tau, dtype=torch.float32))


def float_flags(x: Tensor) -> dict[str, bool]:
    """Constexpr rounding flags for the tensors' device (see the module docstring)."""
    return {"RECIP": x.device.type == "cuda", "LIBDEVICE": not INTERPRET}


def _block_for(n: int) -> int:
    """Interpreter block: one program per ≤16384 neurons (numpy vectorises over the block)."""
    return max(16, min(16384, triton.next_power_of_2(max(n, 1))))


# (BLOCK, warps, stages): small blocks keep all SMs busy when N is small (the time loop is sequential per
# program);
# stages > 1 lets Triton prefetch the next step's loads.
_CONFIGS = [
    triton.Config({"BLOCK": b}, num_warps=w, num_stages=st)
    for b, w, st in (
        (128, 1, 1),
        (256, 2, 1),
        (512, 4, 1),
        (1024, 4, 1),
        (1024, 8, 1),
        (2048, 8, 1),
        (512, 4, 3),
        (1024, 4, 3),
    )
]


class Launcher:
    """Launches one ``@triton.jit`` kernel over a 1-D grid of neuron blocks.

    On GPU the kernel is wrapped in ``triton.autotune`` keyed on (N, T) (block size and warps; tensors listed
    in ``reset_to_zero`` are zeroed before each trial, for atomics). In interpreter mode autotuning would
    rerun the numpy kernel for every config, so a fixed block is used.
    """

    def __init__(self, kernel: Any, reset_to_zero: list[str] | None = None):
        self.kernel = kernel
        self.tuned: Callable | None = None
        if not INTERPRET:
            self.tuned = triton.autotune(configs=_CONFIGS, key=["N", "T"], reset_to_zero=reset_to_zero)(
                kernel
            )

    def __call__(self, N: int, *args: Any, **kwargs: Any) -> None:
        if N == 0:
            return
        if self.tuned is None:
            block = _block_for(N)
            self.kernel[(triton.cdiv(N, block),)](*args, BLOCK=block, **kwargs)
        else:
            self.tuned[lambda meta: (triton.cdiv(N, meta["BLOCK"]),)](*args, enable_fp_fusion=False, **kwargs)
