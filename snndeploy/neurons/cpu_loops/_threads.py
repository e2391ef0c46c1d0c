"""Which threads run the fused CPU loops: one explicit choice, ``threading_choice()`` (shown by ``snndeploy
info``).

- ``openmp``: PyTorch's own OpenMP team runs the kernel's entry (``_compile.entry``) through libgomp's
  ``GOMP_parallel``. Why: PyTorch's CPU ops run on libgomp's team, whose workers spin for a few milliseconds
  after every parallel op (libgomp's default wait policy). Threads of our own compete with those spinning
  workers for the cores (the loops' second thread ran at about half speed after any PyTorch op, and a neuron
  always follows one, a Linear or a Conv); running on the same team uses the spinning workers instead, as
  every PyTorch op does. With one range the calling thread runs the entry itself.
- ``pool``: a small thread pool (plus the calling thread) runs the compiled kernels on explicit ranges.

The choice is made once, when this module is imported: ``SNNDEPLOY_CPU_THREADS`` (``openmp`` or ``pool``) when
set, else ``openmp`` when the process has libgomp loaded (PyTorch's Linux wheels), else ``pool``.
``set_threading`` changes it. If an entry cannot be compiled (a numba or LLVM that cannot build it),
``split_run`` warns once and switches the choice to ``pool``, recording why (``threading_choice().reason``).

Ranges: ``split_run`` uses up to ``torch.get_num_threads()`` threads, at most one per ``MIN_WORK``
neuron-steps, and cuts the n neurons into contiguous ranges aligned to ``ALIGN``: on the OpenMP team up to
``RANGES_PER_THREAD`` per thread, claimed in turn, in the pool one per thread. Each neuron's time loop runs in
one thread, so results do not depend on the split.
"""

from __future__ import annotations

import ctypes
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...errors import InvalidParameterError
from ._compile import Descriptor, Entry, entry

__all__ = [
    "SPAN",
    "BLOCK",
    "ALIGN",
    "MIN_WORK",
    "Threading",
    "threading_choice",
    "set_threading",
    "split_run",
    "libgomp",
]

#: Loop structure of every kernel: the neurons of a thread's range are taken ``SPAN`` at a time; for each span
#: the
#: time loop runs over all T steps (its states, 128 KiB per float32 state, stay in L2), and within a step the
#: span is
#: processed ``BLOCK`` neurons at a time (per-block scratch in L1), each loop over contiguous memory
#: (vectorisable).
#: Each step reads and writes 128 KiB of contiguous row per array: long streams for the hardware prefetchers
#: (a
#: span of 4 KiB, one page, measured up to 2× slower on large layers).
SPAN = 32768
BLOCK = 2048

#: Thread ranges are multiples of this many neurons (whole cache lines: no two threads write one line).
ALIGN = 256

#: On the OpenMP team the neurons are cut into up to ``RANGES_PER_THREAD`` ranges per thread, of at least
#: ``RANGE``
#: neurons, claimed in turn: on a shared machine a thread that was descheduled leaves its share to the others
#: instead of holding up the whole call.
RANGES_PER_THREAD = 4
RANGE = 8192

#: Minimum neuron-steps per thread: below this a second thread costs more than it saves (measured: LIF and
#: CLIF at
#: 16 k neurons × T = 8 ran faster on one thread, at 16 k × 32 and 64 k × 8 on two).
MIN_WORK = 1 << 18

MODES = ("openmp", "pool")


@dataclass(frozen=True)
class Threading:
    """The threads that run the fused loops: ``mode`` (``openmp`` or ``pool``) and why."""

    mode: str
    reason: str


def _find_libgomp() -> Any:
    """PyTorch's libgomp as a ctypes library (with ``GOMP_parallel``), or ``None`` when none is loaded."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libgomp" in line.rsplit("/", 1)[-1]}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.GOMP_parallel.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
            lib.GOMP_parallel.restype = None
        except (OSError, AttributeError):
            continue
        return lib
    return None


_GOMP = _find_libgomp()


def libgomp() -> Any:
    """The libgomp that PyTorch loaded (ctypes), or ``None``."""
    return _GOMP


def _initial() -> Threading:
    asked = os.environ.get("SNNDEPLOY_CPU_THREADS", "").strip().lower()
    if asked in ("omp", "openmp") and _GOMP is not None:
        return Threading("openmp", "SNNDEPLOY_CPU_THREADS=openmp")
    if asked == "pool":
        return Threading("pool", "SNNDEPLOY_CPU_THREADS=pool")
    if _GOMP is not None:
        return Threading("openmp", "PyTorch's libgomp is loaded: its thread team runs the loops")
    return Threading("pool", "no libgomp in this process (PyTorch uses another OpenMP, or none)")


_choice = _initial()


def threading_choice() -> Threading:
    """The current choice (see the module docstring)."""
    return _choice


def set_threading(mode: str, reason: str = "set_threading()") -> Threading:
    """Run the fused loops on ``mode`` (``openmp`` or ``pool``) from now on; returns the previous choice."""
    global _choice
    if mode not in MODES:
        raise InvalidParameterError(f"threading mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "openmp" and _GOMP is None:
        raise InvalidParameterError(
            "threading mode 'openmp' needs PyTorch's libgomp, which this process has not loaded"
        )
    previous, _choice = _choice, Threading(mode, reason)
    return previous


def split_run(kernel: Callable[..., Any], n: int, steps: int, *args: Any) -> None:
    """Run ``kernel(*args, n0, n1)`` over contiguous neuron ranges ``[n0, n1)`` covering ``0..n`` on the
    threads of ``threading_choice()``. ``args``: CPU tensors (C-contiguous, rank 1 or 2; the kernels see numpy
    views), bools, ints, and Python floats, which the kernels receive as float32 scalars (rounded once, as
    PyTorch rounds a Python
    scalar for a float32 op)."""
    threads = max(1, min(torch.get_num_threads(), (n * max(steps, 1)) // MIN_WORK, -(-n // ALIGN)))
    if _choice.mode == "openmp":
        kinds, slots, floats = _describe(args)
        try:
            compiled = entry(kernel, kinds)
        except Exception as exc:  # a numba/LLVM that cannot build it: switch to the pool, say why once
            reason = (
                f"the OpenMP entry of {kernel.__name__} could not be compiled ({type(exc).__name__}: {exc})"
            )
            warnings.warn(
                f"snndeploy: the fused CPU loops switch to a thread pool: {reason}",
                RuntimeWarning,
                stacklevel=3,
            )
            set_threading("pool", reason)
        else:  # more ranges than threads: whoever is free claims the next one
            per = _aligned(max(RANGE, -(-n // (RANGES_PER_THREAD * threads)))) if threads > 1 else n
            ranges = -(-n // per)
            _run_entry(compiled, n, per, ranges, min(threads, ranges), slots, floats)
            return
    per = _aligned(-(-n // threads))
    _run_pool(kernel, n, per, -(-n // per), _as_numba_args(args))


def _aligned(count: int) -> int:
    return max(ALIGN, -(-count // ALIGN) * ALIGN)


def _describe(args: tuple) -> tuple[tuple, list[int], list[float]]:
    """One pass over the arguments: their kinds (the layout ``_compile.entry`` generates code for), their
    three
    descriptor slots each, and the float scalars (in argument order; the slots of a float argument are
    unused)."""
    kinds, slots, floats = [], [], [0.0] * len(args)
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            shape = a.shape
            # an internal invariant: the entries' layout
            if len(shape) > 2 or not a.is_contiguous() or a.is_cuda:
                raise ValueError("fused CPU loops take C-contiguous CPU tensors of rank 1 or 2")
            kinds.append(("a", len(shape), a.dtype))
            slots += (a.data_ptr(), shape[0], shape[1] if len(shape) == 2 else 0)
        elif isinstance(a, bool):
            kinds.append(("b",))
            slots += (int(a), 0, 0)
        elif isinstance(a, int):
            kinds.append(("i",))
            slots += (a, 0, 0)
        else:
            kinds.append(("f",))
            floats[i] = float(a)
            slots += (0, 0, 0)
    return tuple(kinds), slots, floats


def _run_entry(
    compiled: Entry, n: int, per: int, ranges: int, threads: int, slots: list[int], floats: list[float]
) -> None:
    """Fill the descriptor (``_compile.Descriptor``) and run the entry: on the calling thread alone for one
    thread,
    else on ``threads`` threads of PyTorch's OpenMP team (which may be smaller: its threads claim every
    range)."""
    scalars = (ctypes.c_double * max(1, len(floats)))(*floats)
    desc = (ctypes.c_int64 * (Descriptor.ARGS + len(slots)))(
        ctypes.addressof(scalars), 0, ranges, per, n, 0, *slots
    )
    # the range counter lives in desc
    desc[Descriptor.COUNTER] = ctypes.addressof(desc) + 8 * Descriptor.CLAIMED
    if threads == 1:
        compiled.call(ctypes.addressof(desc))
    else:
        _GOMP.GOMP_parallel(compiled.address, ctypes.addressof(desc), threads, 0)


def _as_numba_args(args: tuple) -> tuple:
    """Tensors as numpy views, floats as float32 scalars (the kernels' float32 contract)."""
    return tuple(
        a.detach().numpy() if isinstance(a, Tensor) else a if isinstance(a, (bool, int)) else np.float32(a)
        for a in args
    )


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
# (pid, workers): a forked child or a new thread count gets a new pool
_pool_key: tuple[int, int] | None = None


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_key
    key = (os.getpid(), workers)
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key is not None and _pool_key[0] == key[0]:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snndeploy-cpu")
            _pool_key = key
        return _pool


def _run_pool(kernel: Callable[..., Any], n: int, per: int, ranges: int, args: tuple) -> None:
    bounds = [(r * per, min(n, (r + 1) * per)) for r in range(ranges)]
    if ranges == 1:
        kernel(*args, 0, n)
        return
    # The calling thread runs the first range itself: one thread per core, none waiting idle.
    futures = [_executor(ranges - 1).submit(kernel, *args, n0, n1) for n0, n1 in bounds[1:]]
    kernel(*args, *bounds[0])
    for f in futures:
        f.result()
