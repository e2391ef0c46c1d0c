"""Run a fused loop on PyTorch's own OpenMP thread team (libgomp's ``GOMP_parallel``).

Why: PyTorch's CPU ops run on libgomp's team, whose workers spin for a few milliseconds after every parallel op
(libgomp's default wait policy). Threads of our own would compete with those spinning workers for the cores (the
loops' second thread ran at about half speed after any PyTorch op, and a neuron always follows one, a Linear or a
Conv); running on the same team uses the spinning workers instead, as every PyTorch op does.

How: ``GOMP_parallel(fn, data, threads, 0)`` calls the C function ``fn(data)`` on each thread of a team. ``fn`` is a
numba ``cfunc`` generated once per (kernel, argument types): it unpacks the arguments from an int64 descriptor
(array pointers and shapes, integers) and a float64 array (scalars), takes the neuron range of its thread
(``omp_get_thread_num``, ranges aligned to ``BLOCK``) and calls the compiled kernel. Python's GIL is released for
the whole call (ctypes), and the kernels never touch Python objects.

``team()`` is ``None`` when the process has no libgomp (PyTorch built with another OpenMP, or none): ``split_run``
then uses a small thread pool.
"""

from __future__ import annotations

import ctypes
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.extending import intrinsic

__all__ = ["team", "usable", "run_on_team"]

_lock = threading.Lock()


class _Fallback(Exception):
    """Raised by ``run_on_team`` when the trampoline cannot be built: run the ranges elsewhere."""


_team: Any = False  # not looked up yet
_tramps: dict[tuple, Any] = {}


def team() -> Any:
    """PyTorch's libgomp as a ctypes library (``GOMP_parallel``, ``omp_get_thread_num``, ``omp_get_num_threads``), or
    ``None`` when no libgomp is loaded in this process."""
    global _team
    if _team is False:
        with _lock:
            if _team is False:
                _team = _load()
    return _team


_broken: str | None = None  # why the trampolines cannot be built here (then split_run uses its thread pool)


def usable() -> bool:
    """libgomp is loaded and no trampoline has failed to compile in this process."""
    return _broken is None and team() is not None


def _load() -> Any:
    import torch  # noqa: F401  (PyTorch loads its libgomp)

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
            for name in ("omp_get_thread_num", "omp_get_num_threads"):
                getattr(lib, name).argtypes = []
                getattr(lib, name).restype = ctypes.c_int
        except (OSError, AttributeError):
            continue
        return lib
    return None


@intrinsic
def _ptr(typingctx, address):  # pragma: no cover - compiled
    """An int64 address as a ``void*``."""

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

    return types.voidptr(types.int64), codegen


_NP = {np.dtype(np.float32): "np.float32", np.dtype(np.bool_): "np.bool_", np.dtype(np.int64): "np.int64"}


def _kind(a: Any) -> tuple:
    if isinstance(a, np.ndarray):
        return ("a", a.ndim, a.dtype.str)
    if isinstance(a, (bool, np.bool_)):
        return ("b",)
    if isinstance(a, (int, np.integer)):
        return ("i",)
    return ("f",)


def _trampoline(kernel: Callable, kinds: tuple, result: bool) -> Any:
    """The cfunc for ``kernel`` with arguments of ``kinds``: descriptor slots 0–3 are (float array, results array,
    neuron count, block), then three slots per argument."""
    lines = [
        "def tramp(data):",
        f"    d = carray(data, ({4 + 3 * len(kinds)},), np.int64)",
        f"    f = carray(_ptr(d[0]), ({max(1, len(kinds))},), np.float64)",
        "    tid = thread_num()",
        "    nth = num_threads()",
        "    n = d[2]",
        "    per = (n + nth - 1) // nth",
        "    per = ((per + d[3] - 1) // d[3]) * d[3]",
        "    n0 = tid * per",
        "    n1 = min(n, n0 + per)",
        "    if n0 < n1:",
    ]
    names = []
    for i, k in enumerate(kinds):
        s = 4 + 3 * i
        if k[0] == "a":
            shape = f"(d[{s + 1}],)" if k[1] == 1 else f"(d[{s + 1}], d[{s + 2}])"
            lines.append(f"        a{i} = carray(_ptr(d[{s}]), {shape}, {_NP[np.dtype(k[2])]})")
        elif k[0] == "b":
            lines.append(f"        a{i} = d[{s}] != 0")
        elif k[0] == "i":
            lines.append(f"        a{i} = d[{s}]")
        else:
            lines.append(f"        a{i} = np.float32(f[{i}])")
        names.append(f"a{i}")
    call = f"kernel({', '.join(names)}, n0, n1)"
    if result:
        lines += ["        r = carray(_ptr(d[1]), (nth,), np.float64)", f"        r[tid] = {call}"]
    else:
        lines.append(f"        {call}")
    lib = team()
    namespace = {"carray": carray, "np": np, "_ptr": _ptr, "kernel": kernel,
                 "thread_num": lib.omp_get_thread_num, "num_threads": lib.omp_get_num_threads}
    exec("\n".join(lines), namespace)  # noqa: S102 - source built above from argument kinds only
    return numba.cfunc(types.void(types.voidptr), nopython=True, nogil=True)(namespace["tramp"])


def run_on_team(kernel: Callable, n: int, block: int, threads: int, args: tuple, result: bool) -> list[Any]:
    """``kernel(*args, n0, n1)`` on ``threads`` threads of PyTorch's OpenMP team; the return values (float) in thread
    order when ``result``. Raises ``_Fallback`` (after one warning) when the trampoline cannot be compiled."""
    global _broken
    kinds = tuple(_kind(a) for a in args)
    key = (kernel, kinds, result)
    tramp = _tramps.get(key)
    if tramp is None:
        with _lock:
            try:
                tramp = _tramps.get(key) or _trampoline(kernel, kinds, result)
            except Exception as exc:  # a numba/LLVM that cannot build it: fall back to the pool, say why once
                _broken = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"snndeploy: fused CPU loops fall back to a thread pool ({_broken})", RuntimeWarning,
                              stacklevel=3)
                raise _Fallback from exc
            _tramps[key] = tramp
    floats = np.zeros(max(1, len(args)), np.float64)
    results = np.zeros(threads, np.float64)
    desc = np.zeros(4 + 3 * len(args), np.int64)
    desc[:4] = (floats.ctypes.data, results.ctypes.data, n, block)
    for i, (a, k) in enumerate(zip(args, kinds, strict=True)):
        s = 4 + 3 * i
        if k[0] == "a":
            desc[s] = a.ctypes.data
            desc[s + 1 : s + 1 + a.ndim] = a.shape
        elif k[0] in ("b", "i"):
            desc[s] = int(a)
        else:
            floats[i] = float(a)
    team().GOMP_parallel(tramp.address, desc.ctypes.data, threads, 0)
    # The team may be smaller than asked for (nested regions, limits): only its threads wrote results.
    return list(results) if result else [None]
