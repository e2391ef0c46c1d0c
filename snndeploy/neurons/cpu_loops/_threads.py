"""Which threads run the fused CPU loops: one explicit choice, ``threading_choice()`` (shown by
``snndeploy info``).

- ``openmp`` (the default where PyTorch's libgomp is loaded): PyTorch's own OpenMP team runs the kernel's
  entry (``_compile.entry``) through libgomp's ``GOMP_parallel``. Why: PyTorch's CPU ops run on libgomp's
  team, whose workers spin for a few milliseconds after every parallel op; threads of our own compete with
  those spinning workers for the cores (measured: a helper thread of ours made the loops 30–50 % slower on an
  idle machine), while the team's workers are already running. Its closing barrier waits for every thread of
  the team, so on a busy machine a worker that is not scheduled in time holds up the call (on this shared
  2-core VM a thread woken from sleep can wait a scheduler time slice, 4–16 ms).
- ``workers``: the calling thread and ``torch.get_num_threads() - 1`` helper threads of this module all run
  the entry, which claims neuron ranges from a shared counter and then waits only for the ranges still
  running: a helper that is not scheduled in time finds nothing left, and the call never waits for a thread to
  start. The choice for a machine shared with other busy processes.
- ``pool``: the compiled kernels themselves on explicit ranges, one per thread of a small pool: the fallback
  that needs no compiled entry (and the default without libgomp).

The choice is made once, when this module is imported: ``SNNDEPLOY_CPU_THREADS`` (``openmp``, ``workers`` or
``pool``) when set, else ``openmp`` with libgomp, ``pool`` without. ``set_threading`` changes it. If an entry
cannot be compiled (a numba or LLVM that cannot build it), ``split_run`` warns once and switches the choice to
``pool``, recording why (``threading_choice().reason``).

Ranges: ``split_run`` uses up to ``torch.get_num_threads()`` threads, at most one per ``MIN_WORK``
neuron-steps, and cuts the n neurons into contiguous ranges aligned to ``ALIGN``: up to ``RANGES_PER_THREAD``
per thread, claimed in turn (one per thread in the pool). Each neuron's time loop runs in one thread, so
results do not depend on the split.
"""

from __future__ import annotations

import ctypes
import os
import queue
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

#: Loop structure of every kernel: the neurons of a range are taken ``SPAN`` at a time; for each span the time
#: loop runs over all T steps (its states, 128 KiB per float32 state, stay in L2), and within a step the span
#: is processed ``BLOCK`` neurons at a time (per-block scratch in L1), each loop over contiguous memory
#: (vectorisable). Each step reads and writes 128 KiB of contiguous row per array, long streams for the
#: hardware prefetchers (spans of 4 KiB, one page, measured up to 2× slower on large layers).
SPAN = 32768
BLOCK = 2048

#: Ranges are multiples of this many neurons (whole cache lines: no two threads write one line).
ALIGN = 256

#: The neurons are cut into up to ``RANGES_PER_THREAD`` ranges per thread, of at least ``RANGE`` neurons,
#: claimed in turn, so that a thread that runs late leaves its share to the others.
RANGES_PER_THREAD = 4
RANGE = 8192

#: Minimum neuron-steps per thread: below this a second thread costs more than it saves (measured: LIF and
#: CLIF at 16 k neurons × T = 8 ran faster on one thread, at 16 k × 32 and 64 k × 8 on two).
MIN_WORK = 1 << 18

MODES = ("workers", "openmp", "pool")


@dataclass(frozen=True)
class Threading:
    """The threads that run the fused loops: ``mode`` (``workers``, ``openmp`` or ``pool``) and why."""

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
    if asked in ("pool", "workers"):
        return Threading(asked, f"SNNDEPLOY_CPU_THREADS={asked}")
    if _GOMP is not None:
        return Threading("openmp", "PyTorch's libgomp is loaded: its thread team runs the loops")
    return Threading("pool", "no libgomp in this process (PyTorch uses another OpenMP, or none)")


_choice = _initial()


def threading_choice() -> Threading:
    """The current choice (see the module docstring)."""
    return _choice


def set_threading(mode: str, reason: str = "set_threading()") -> Threading:
    """Run the fused loops on ``mode`` (``workers``, ``openmp`` or ``pool``) from now on; returns the previous
    choice."""
    global _choice
    if mode not in MODES:
        raise InvalidParameterError(f"threading mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "openmp" and _GOMP is None:
        raise InvalidParameterError(
            "threading mode 'openmp' needs PyTorch's libgomp, which this process lacks"
        )
    previous, _choice = _choice, Threading(mode, reason)
    return previous


def split_run(kernel: Callable[..., Any], n: int, steps: int, *args: Any) -> None:
    """Run ``kernel(*args, n0, n1)`` over contiguous neuron ranges ``[n0, n1)`` covering ``0..n`` on the
    threads of ``threading_choice()``.

    ``args``: CPU tensors (C-contiguous, rank 1 or 2; the kernels see numpy views), bools, ints, and Python
    floats, which the kernels receive as float32 scalars (rounded once, as PyTorch rounds a Python scalar for
    a float32 op).
    """
    threads = max(1, min(torch.get_num_threads(), (n * max(steps, 1)) // MIN_WORK, -(-n // ALIGN)))
    if _choice.mode != "pool":
        kinds, slots, floats = _describe(args)
        try:
            compiled = entry(kernel, kinds)
        except Exception as exc:  # a numba/LLVM that cannot build it: switch to the pool, say why once
            reason = f"the entry of {kernel.__name__} could not be compiled ({type(exc).__name__}: {exc})"
            warnings.warn(
                f"snndeploy: the fused CPU loops switch to a thread pool: {reason}",
                RuntimeWarning,
                stacklevel=3,
            )
            set_threading("pool", reason)
        else:
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
    three descriptor slots each, and the float scalars (in argument order; a float's slots are unused)."""
    kinds, slots, floats = [], [], [0.0] * len(args)
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            shape = a.shape
            if len(shape) > 2 or not a.is_contiguous():  # an internal invariant: the entries' layout
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
    """Fill the descriptor (``_compile.Descriptor``: its two counters live in it) and run the entry on
    ``threads`` threads: the caller plus helpers (``workers``), or PyTorch's OpenMP team (``openmp``)."""
    scalars = (ctypes.c_double * max(1, len(floats)))(*floats)
    desc = (ctypes.c_int64 * (Descriptor.ARGS + len(slots)))(
        ctypes.addressof(scalars), 0, 0, ranges, per, n, 0, 0, *slots
    )
    base = ctypes.addressof(desc)
    desc[Descriptor.CLAIM] = base + 8 * Descriptor.CLAIMED
    desc[Descriptor.DONE] = base + 8 * Descriptor.FINISHED
    if threads == 1:
        compiled.call(base)
    elif _choice.mode == "openmp":
        _GOMP.GOMP_parallel(compiled.address, base, threads, 0)
    else:
        _HELPERS.run(compiled, desc, scalars, threads - 1)


class _Helpers:
    """Helper threads that run an entry alongside the caller. Each waits on its own queue; a job holds the
    descriptor and scalars alive until its helper is done with them (a helper that starts after the call ended
    finds every range claimed and returns at once). Recreated in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: list[queue.SimpleQueue] = []
        self._pid = 0

    def run(self, compiled: Entry, desc: Any, scalars: Any, helpers: int) -> None:
        queues = self._ensure(helpers)
        for q in queues[:helpers]:
            q.put((compiled, desc, scalars))
        compiled.call(ctypes.addressof(desc))  # claims ranges, then waits for those still running

    def _ensure(self, helpers: int) -> list[queue.SimpleQueue]:
        if self._pid != os.getpid() or len(self._queues) < helpers:
            with self._lock:
                if self._pid != os.getpid():
                    self._queues, self._pid = [], os.getpid()
                while len(self._queues) < helpers:
                    q: queue.SimpleQueue = queue.SimpleQueue()
                    name = f"snndeploy-cpu-{len(self._queues)}"
                    threading.Thread(target=self._serve, args=(q,), name=name, daemon=True).start()
                    self._queues.append(q)
        return self._queues

    @staticmethod
    def _serve(q: queue.SimpleQueue) -> None:
        while True:
            compiled, desc, _scalars = q.get()
            compiled.call(ctypes.addressof(desc))


_HELPERS = _Helpers()


def _as_numba_args(args: tuple) -> tuple:
    """Tensors as numpy views, floats as float32 scalars (the kernels' float32 contract)."""
    return tuple(
        a.detach().numpy() if isinstance(a, Tensor) else a if isinstance(a, (bool, int)) else np.float32(a)
        for a in args
    )


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = (
    None  # (pid, workers): a forked child or a new thread count gets a new pool
)


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_key
    key = (os.getpid(), workers)
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key is not None and _pool_key[0] == key[0]:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snndeploy-cpu-pool")
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
