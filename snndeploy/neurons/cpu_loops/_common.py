"""What the fused CPU loops share: the charge, surrogate gradients and the sigmoid in numba, float32 scalars,
and the numpy views of tensors they run on.

Floating-point contract (as ``snndeploy/neurons/dynamics.py``): every loop performs the reference step's
float32 operations in the same order, one rounding each. Numba keeps float32 arithmetic in float32 when every
operand is float32 (a float64 literal would promote), so the kernels take their constants as ``np.float32``
arguments; it compiles without fast-math, so LLVM neither fuses ``a*b + c`` into an FMA nor reassociates;
division by τ is a true float32 division, as PyTorch's CPU ``tensor / scalar``. Hence states and spikes are
bit-identical to the eager backends. The sigmoid (CLIF, ILIF) needs care: PyTorch's vectorised CPU kernel
computes ``1 / (1 + exp(0 − x))`` with SLEEF's ``expf_u10`` (AVX2/AVX-512), which ``expf`` below reproduces
operation for operation (its FMAs included: 0 differences in 4 M random arguments), but it computes the last
``n mod 2W`` elements of each thread's chunk (W = 8 or 16 floats per vector) with the scalar ``1 / (1 +
expf(−x))`` of libm, which differs by one ulp on a few percent of arguments. ``sigmoid_tails`` works out which
neurons those are for a step of n neurons (from ``torch.get_num_threads()``, ATen's grain size and the CPU
capability) and ``fix_sigmoid_tails`` recomputes them with libm, so the loops match the eager backends bit for
bit on x86 CPUs with AVX2 or AVX-512. (On other CPUs PyTorch uses libm throughout, and so do the loops.)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from torch import Tensor

from ..bptt import reverse_chunks
from ._compile import njit
from ._threads import BLOCK, SPAN

__all__ = [
    "njit",
    "f32",
    "inv_pow2",
    "charge",
    "expf",
    "sigmoid",
    "surrogate_into",
    "sigmoid_into",
    "fix_sigmoid_tails",
    "sigmoid_tails",
    "chunk_tails",
    "step_tails",
    "fix_surrogate_tails",
    "surrogate_args",
    "flat_or_empty",
    "load_state",
    "BLOCK",
    "SPAN",
]


def inv_pow2(tau: float) -> float:
    """1/τ when τ is a power of two (then x/τ = x·(1/τ) bit for bit, and the kernels multiply), else 0.0 (they
    divide, as PyTorch's CPU ``tensor / scalar`` does)."""
    return 1.0 / tau if math.frexp(tau)[0] == 0.5 else 0.0


def f32(value: float) -> np.float32:
    """A Python float as the float32 scalar PyTorch's CPU kernels use for it (rounded once)."""
    return np.float32(value)


@intrinsic
def _fma(typingctx, a, b, c):  # pragma: no cover - compiled
    """a·b + c with one rounding (LLVM ``llvm.fma.f32``; SLEEF's ``vmla`` on FMA hardware)."""

    def codegen(context, builder, signature, args):
        f32t = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f32t], ir.FunctionType(f32t, [f32t] * 3))
        return builder.call(fn, args)

    return types.float32(types.float32, types.float32, types.float32), codegen


@intrinsic
def _pow2i(typingctx, q):  # pragma: no cover - compiled
    """2^q as float32 for an int32 q in [−126, 127]: the bits (q + 127) << 23."""

    def codegen(context, builder, signature, args):
        bits = builder.shl(
            builder.add(args[0], ir.Constant(ir.IntType(32), 127)), ir.Constant(ir.IntType(32), 23)
        )
        return builder.bitcast(bits, ir.FloatType())

    return types.float32(types.int32), codegen


@njit
def expf(d):  # pragma: no cover - compiled
    """exp(d) in float32 by SLEEF's ``xexpf`` (the u10 variant PyTorch's ``Vectorized<float>::exp`` calls):
    Cody–Waite reduction by ln 2, a degree-6 polynomial evaluated with FMAs, scaling by 2^q in two halves."""
    q = np.int32(
        np.rint(d * np.float32(1.442695040888963407359924681001892137426645954152985934135449406931))
    )
    qf = np.float32(q)
    s = _fma(qf, np.float32(-0.693145751953125), d)
    s = _fma(qf, np.float32(-1.428606765330187045e-06), s)
    u = np.float32(0.000198527617612853646278381)
    u = _fma(u, s, np.float32(0.00139304355252534151077271))
    u = _fma(u, s, np.float32(0.00833336077630519866943359))
    u = _fma(u, s, np.float32(0.0416664853692054748535156))
    u = _fma(u, s, np.float32(0.166666671633720397949219))
    u = _fma(u, s, np.float32(0.5))
    u = np.float32(1.0) + _fma(s * s, u, s)
    q1 = q >> 1
    u = u * _pow2i(q1) * _pow2i(q - q1)
    if d < np.float32(-104.0):
        u = np.float32(0.0)
    if d > np.float32(100.0):
        u = np.float32(np.inf)
    return u


@njit
def sigmoid(x):  # pragma: no cover - compiled
    """σ(x) = 1 / (1 + exp(0 − x)) in float32, as ``torch.sigmoid``'s vectorised CPU kernel computes it."""
    one = np.float32(1.0)
    return one / (one + expf(np.float32(0.0) - x))


@njit
def charge(v, x, tau, decay_input, v_rest):  # pragma: no cover - compiled
    """H = V + (X − (V − V_rest))/τ (decay_input) or V − (V − V_rest)/τ + X: ``dynamics.charge``'s operation
    order."""
    if decay_input:
        return v + (x - (v - v_rest)) / tau
    return v - (v - v_rest) / tau + x


@njit
def surrogate_into(
    z, shift, out, kind, alpha, half_alpha, inv_alpha, atan_scale
):  # pragma: no cover - compiled
    """out[j] = surrogate of Θ'(z[j] − shift) for ``kind`` (``Surrogate.kind_id``): 0 Rectangle, 1 Sigmoid, 2
    ATan,
    3 Triangle, with the constants of ``surrogate_args``. One simple loop per kind, so that each
    vectorises."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    n = out.shape[0]
    if kind == 0:  # 1/α on |z| ≤ α/2
        for j in range(n):
            out[j] = inv_alpha if abs(z[j] - shift) <= half_alpha else zero
    elif kind == 1:  # α·σ(αz)(1 − σ(αz))
        for j in range(n):
            sg = sigmoid(alpha * (z[j] - shift))
            out[j] = alpha * (one - sg) * sg
    elif kind == 2:  # (α/2) / (1 + (π/2·α·z)²), as reciprocal then product (``ATan.grad_``)
        for j in range(n):
            w = atan_scale * (z[j] - shift)
            out[j] = (one / (w * w + one)) * half_alpha
    else:  # max(0, 1 − |z|/α)/α, two divisions (``Triangle.grad_``)
        for j in range(n):
            tri = one - abs(z[j] - shift) / alpha
            out[j] = (tri if tri > zero else zero) / alpha


@njit
def fix_surrogate_tails(z, shift, out, c0, tails, kind, alpha):  # pragma: no cover - compiled
    """For the Sigmoid surrogate (``kind`` 1): out[j] = α·(1 − σ)·σ with σ = 1 / (1 + expf(−α·(z[j] − shift)))
    from
    libm's expf (PyTorch's scalar loop) for the neurons c0 + j in the ``tails`` ranges (see
    ``fix_sigmoid_tails``)."""
    if kind != 1:
        return
    one = np.float32(1.0)
    n = out.shape[0]
    for r in range(tails.shape[0]):
        for j in range(max(tails[r, 0], c0) - c0, min(tails[r, 1], c0 + n) - c0):
            sg = one / (one + np.float32(math.exp(-(alpha * (z[j] - shift)))))
            out[j] = alpha * (one - sg) * sg


@njit
def fix_sigmoid_tails(src, div, out, c0, tails):  # pragma: no cover - compiled
    """out[j] = 1 / (1 + expf(−src[j]/div)) with libm's expf (PyTorch's scalar loop) for the neurons c0 + j
    that lie
    in one of the ``tails`` ranges ([a, b) rows of global neuron indices, from ``sigmoid_tails``)."""
    one = np.float32(1.0)
    n = out.shape[0]
    for r in range(tails.shape[0]):
        for j in range(max(tails[r, 0], c0) - c0, min(tails[r, 1], c0 + n) - c0):
            out[j] = one / (one + np.float32(math.exp(-(src[j] / div))))


def sigmoid_tails(n: int) -> np.ndarray:
    """The neurons [a, b) (rows of an int64 array) whose sigmoid PyTorch computes with libm's expf, for one op
    over a contiguous float32 tensor of ``n`` elements: the remainder of each thread's chunk after its vector
    loop.

    ATen's ``TensorIterator`` runs serially below its grain size (32768 elements) or with one thread, else
    splits into ``min(threads, ⌈n/32768⌉)`` equal chunks of ``⌈n/chunks⌉``; ``vectorized_loop`` steps by two
    vectors (32 floats with AVX-512, 16 with AVX2) and leaves the rest to the scalar op. Without AVX2 every
    element is scalar.
    """
    width = {"AVX512": 32, "AVX2": 16}.get(torch.backends.cpu.get_cpu_capability())
    if width is None:
        return np.array([[0, n]], np.int64)
    threads = torch.get_num_threads()
    chunks = 1 if n < 32768 or threads == 1 else min(threads, -(-n // 32768))
    size = -(-n // chunks)
    rows = []
    for a in range(0, n, size):
        b = min(n, a + size)
        if (b - a) % width:
            rows.append((b - (b - a) % width, b))
    return np.array(rows, np.int64).reshape(-1, 2)


_CAPABILITY = torch.backends.cpu.get_cpu_capability()  # fixed for the process


@functools.lru_cache(maxsize=64)
def _chunk_tails(T: int, N: int, threads: int, capability: str) -> tuple[np.ndarray, np.ndarray]:
    per_step: list[list[tuple[int, int]]] = [[] for _ in range(T)]
    for t0, t1 in reverse_chunks(T, N):
        for a, b in sigmoid_tails((t1 - t0) * N).tolist():
            while a < b:  # a tail of the chunk's flat index, split at step boundaries
                t, j = t0 + a // N, a % N
                e = min(b, (a // N + 1) * N)
                per_step[t].append((j, j + e - a))
                a = e
    offsets = torch.zeros(T + 1, dtype=torch.int64)
    offsets[1:] = torch.tensor([len(r) for r in per_step]).cumsum(0)
    rows = torch.tensor([r for step in per_step for r in step], dtype=torch.int64).reshape(-1, 2)
    return rows, offsets


def chunk_tails(T: int, N: int) -> tuple[Tensor, Tensor]:
    """The scalar tails of the eager backward's sigmoids, which run over chunks of steps
    (``bptt.reverse_chunks``)
    rather than one step: for step t, the neuron ranges [a, b) are ``rows[offsets[t]:offsets[t + 1]]``."""
    return _chunk_tails(T, N, torch.get_num_threads(), _CAPABILITY)


@functools.lru_cache(maxsize=64)
def _step_tails(n: int, threads: int, capability: str) -> Tensor:
    return torch.from_numpy(sigmoid_tails(n))


def step_tails(n: int) -> Tensor:
    """``sigmoid_tails(n)`` as a tensor, cached per thread count: the tails of a sigmoid over one step."""
    return _step_tails(n, torch.get_num_threads(), _CAPABILITY)


@njit
def sigmoid_into(src, out):  # pragma: no cover - compiled
    """out[j] = σ(src[j])."""
    for j in range(out.shape[0]):
        out[j] = sigmoid(src[j])


@functools.lru_cache(maxsize=64)
def surrogate_args(surrogate: Any) -> tuple[int, np.float32, np.float32, np.float32, np.float32]:
    """(kind, α, α/2, 1/α, π/2·α) of a ``Surrogate`` for ``surrogate_into``, each rounded to float32 as
    PyTorch
    rounds the Python scalars of the ``Surrogate.grad_`` ops (1/α as the float32 division 1/α that ``div_``
    does)."""
    a = float(surrogate.alpha)
    return (int(surrogate.kind_id), f32(a), f32(a / 2), np.float32(1.0) / f32(a), f32(math.pi / 2 * a))


_NONE = torch.empty(0, dtype=torch.float32)


def flat_or_empty(t: Tensor | None) -> Tensor:
    """A state tensor as a flat contiguous float32 tensor, or an empty one for ``None`` (the kernels then
    start from zeros).

    The copies into the kernels' own state buffers happen inside the kernels: a PyTorch op over a whole step
    here would run on ATen's OpenMP threads, whose spin-wait afterwards takes a core from the kernels' second
    thread.
    """
    return _NONE if t is None else t.detach().float().contiguous().reshape(-1)


@njit
def load_state(dst, src, c0):  # pragma: no cover - compiled
    """dst[:] = src[c0 : c0 + len(dst)], or zeros when ``src`` is empty (no initial state given)."""
    if src.shape[0] == 0:
        dst[:] = 0.0
    else:
        dst[:] = src[c0 : c0 + dst.shape[0]]
