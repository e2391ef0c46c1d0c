"""Which threads run the fused CPU loops: one explicit choice, ``threading_choice()`` (shown by ``snndeploy info``).

- ``openmp``: PyTorch's own OpenMP team runs the kernel's entry (``_compile.entry``) through libgomp's
  ``GOMP_parallel``. Why: PyTorch's CPU ops run on libgomp's team, whose workers spin for a few milliseconds after
  every parallel op (libgomp's default wait policy). Threads of our own compete with those spinning workers for the
  cores (the loops' second thread ran at about half speed after any PyTorch op, and a neuron always follows one, a
  Linear or a Conv); running on the same team uses the spinning workers instead, as every PyTorch op does. With one
  range the calling thread runs the entry itself.
- ``pool``: a small thread pool (plus the calling thread) runs the compiled kernels on explicit ranges.

The choice is made once, when this module is imported: ``SNNDEPLOY_CPU_THREADS`` (``openmp`` or ``pool``) when set,
else ``openmp`` when the process has libgomp loaded (PyTorch's Linux wheels), else ``pool``. ``set_threading``
changes it. If an entry cannot be compiled (a numba or LLVM that cannot build it), ``split_run`` warns once and
switches the choice to ``pool``, recording why (``threading_choice().reason``).

Ranges: ``split_run`` cuts the n neurons into contiguous ranges aligned to ``BLOCK``, one per thread
(``torch.get_num_threads()``, at most one range per ``MIN_WORK`` neuron-steps). Each neuron's time loop runs in one
thread, so results do not depend on the split.
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

from ...errors import InvalidParameterError
from ._compile import Descriptor, Entry, entry, kinds_of

__all__ = ["BLOCK", "MIN_WORK", "Threading", "threading_choice", "set_threading", "split_run", "libgomp"]

#: Neurons per block of the inner loops: the time loop runs over a block whose states stay in L1 (4 KiB per float32
#: state), and the innermost loop over the block's neurons reads contiguous memory (vectorisable).
BLOCK = 1024

#: Minimum neuron-steps per thread: below this a second thread costs more than it saves (measured: LIF and CLIF at
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
        raise InvalidParameterError("threading mode 'openmp' needs PyTorch's libgomp, which this process has not loaded")
    previous, _choice = _choice, Threading(mode, reason)
    return previous


def split_run(kernel: Callable[..., Any], n: int, steps: int, *args: Any) -> None:
    """Run ``kernel(*args, n0, n1)`` over contiguous neuron ranges ``[n0, n1)`` covering ``0..n`` on the threads of
    ``threading_choice()``."""
    threads = max(1, min(torch.get_num_threads(), (n * max(steps, 1)) // MIN_WORK, -(-n // BLOCK)))
    per = -(-(-(-n // threads)) // BLOCK) * BLOCK
    ranges = max(1, -(-n // per))
    if _choice.mode == "openmp":
        kinds = kinds_of(args)
        try:
            compiled = entry(kernel, kinds)
        except Exception as exc:  # a numba/LLVM that cannot build it: switch to the pool, say why once
            reason = f"the OpenMP entry of {kernel.__name__} could not be compiled ({type(exc).__name__}: {exc})"
            warnings.warn(f"snndeploy: the fused CPU loops switch to a thread pool: {reason}", RuntimeWarning,
                          stacklevel=3)
            set_threading("pool", reason)
        else:
            _run_entry(compiled, n, per, ranges, args)
            return
    _run_pool(kernel, n, per, ranges, args)


def _run_entry(compiled: Entry, n: int, per: int, ranges: int, args: tuple) -> None:
    floats = np.zeros(max(1, len(args)), np.float64)
    counter = np.zeros(1, np.int64)
    desc = np.zeros(Descriptor.ARGS + 3 * len(args), np.int64)
    desc[: Descriptor.ARGS] = (floats.ctypes.data, counter.ctypes.data, ranges, per, n)
    for i, a in enumerate(args):
        s = Descriptor.ARGS + 3 * i
        if isinstance(a, np.ndarray):
            desc[s] = a.ctypes.data
            desc[s + 1 : s + 1 + a.ndim] = a.shape
        elif isinstance(a, (bool, np.bool_, int, np.integer)):
            desc[s] = int(a)
        else:
            floats[i] = float(a)
    if ranges == 1:
        compiled.call(desc.ctypes.data)
    else:  # the team may be smaller than asked for (nested regions, limits): its threads claim every range
        _GOMP.GOMP_parallel(compiled.address, desc.ctypes.data, ranges, 0)


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None  # (pid, workers): a forked child or a new thread count gets a new pool


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
