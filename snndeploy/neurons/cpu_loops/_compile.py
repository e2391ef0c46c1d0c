"""How the fused CPU loops are compiled and cached: ``njit`` (numba's, with fixed options and our own cache)
and ``entry`` (one C entry point per kernel, which runs the kernel over neuron ranges claimed from a shared
counter).

Cache. Compiled code is cached on disk in ``CACHE_DIR`` = ``$XDG_CACHE_HOME/snndeploy/numba-<digest>``
(``~/.cache`` by default), the digest taken over every source file of this package and the numba version;
``None`` (compile in every process) when that directory cannot be written or ``SNNDEPLOY_NUMBA_CACHE=0`` when
this module is imported. numba re-validates a cached function against its own file only, not the helpers it
calls from ``_common.py``; keying the directory on all the sources makes a stale kernel impossible. Each
function gets its own cache object pointing there (``_DirCache``), so numba's global ``CACHE_DIR`` is never
touched.

Entries. ``entry(kernel, kinds)`` generates, compiles and caches a numba ``cfunc`` ``void(void*)`` for one
kernel and one layout of arguments (``kinds``: per argument ("a", rank, torch dtype) for an array, ("b",) for
a bool, ("i",) for an int, ("f",) for a float). Called with a descriptor (an int64 array, layout in
``Descriptor``), it unpacks the arguments, then repeatedly claims a range number r with an atomic add on a
shared counter and runs ``kernel(*args, n0, n1)`` on the neurons of range r, until all ranges are taken. Any
number of threads may call it at once: it needs no thread id, so it can run on PyTorch's OpenMP team
(``GOMP_parallel``), on pool threads or on the caller alone, and it refers to no process-specific address (no
ctypes pointer), so numba can cache it. A cached entry loads in a few milliseconds (the kernel's code is
inside it; ``_load_cached`` skips numba's import of all its registries, which a cached function does not
need).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import carray, types
from numba.core import sigutils
from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator
from numba.core.ccallback import CFunc
from numba.core.registry import cpu_target
from numba.core.runtime import rtsys
from numba.extending import intrinsic

__all__ = ["CACHE_DIR", "njit", "entry", "Entry", "Descriptor"]


def _cache_dir() -> str | None:
    """The cache directory for this package's sources and numba version (see the module docstring), or
    ``None``."""
    if os.environ.get("SNNDEPLOY_NUMBA_CACHE", "1") == "0":
        return None
    h = hashlib.sha256(numba.__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "snndeploy" / f"numba-{h.hexdigest()[:16]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return None
    return str(path)


#: Where compiled kernels and entries are cached (``None``: not cached). Fixed when this module is imported.
CACHE_DIR: str | None = _cache_dir()


class _DirLocator(_CacheLocator):
    """numba cache locator: every function of this package is cached in ``CACHE_DIR``; its freshness is the
    directory's digest, so the source stamp is constant."""

    def __init__(self, py_func: Callable, py_file: str) -> None:
        self._py_file = py_file

    def get_cache_path(self) -> str:
        assert CACHE_DIR is not None
        return CACHE_DIR

    def get_source_stamp(self) -> str:
        return "digest-keyed directory"

    def get_disambiguator(self) -> str:
        return "snndeploy"

    @classmethod
    def from_function(cls, py_func: Callable, py_file: str) -> _DirLocator | None:
        return cls(py_func, py_file) if CACHE_DIR is not None else None


class _DirCacheImpl(CompileResultCacheImpl):
    _locator_classes = [_DirLocator]


class _DirCache(FunctionCache):
    """numba's per-function cache, located by ``_DirLocator``."""

    _impl_class = _DirCacheImpl


def _cached(compiled: Any, py_func: Callable) -> Any:
    """Attach the disk cache to a numba dispatcher or cfunc (what its ``enable_caching()`` does, with our
    locator)."""
    if CACHE_DIR is not None:
        compiled._cache = _DirCache(py_func)
    return compiled


def njit(fn: Callable) -> Callable:
    """numba's ``njit`` as every kernel uses it: no GIL (threads run in parallel), no fast-math (IEEE float32,
    no FMA contraction), numpy's error model (no zero-division checks in the loops), cached in
    ``CACHE_DIR``."""
    return _cached(numba.njit(nogil=True, fastmath=False, error_model="numpy")(fn), fn)


# --------------------------------------------------------------------------- entries


@intrinsic
def _ptr(typingctx, address):  # pragma: no cover - compiled
    """An int64 address as a ``void*``."""

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

    return types.voidptr(types.int64), codegen


@intrinsic
def _claim(typingctx, address):  # pragma: no cover - compiled
    """Atomically add 1 to the int64 at ``address``; the value before (the claimed range number). Sequentially
    consistent: the kernel's writes before a completion count are visible to whoever reads that count."""

    def codegen(context, builder, signature, args):
        counter = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.atomic_rmw("add", counter, ir.Constant(ir.IntType(64), 1), "seq_cst")

    return types.int64(types.int64), codegen


@intrinsic
def _count(typingctx, address):  # pragma: no cover - compiled
    """Atomically read the int64 at ``address``."""

    def codegen(context, builder, signature, args):
        counter = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.load_atomic(counter, "seq_cst", 8)

    return types.int64(types.int64), codegen


class Descriptor:
    """Slots of an entry's int64 descriptor: 0 address of the float64 scalars (one per argument), 1 and 2 the
    addresses of the ranges-claimed and ranges-done counters (slots 6 and 7 of the descriptor itself, zero at
    the start), 3 number of ranges, 4 neurons per range, 5 neurons; then three slots per argument (address and
    up to two dimensions of an array, or the value of a bool or an int)."""

    FLOATS, CLAIM, DONE, RANGES, PER, N, CLAIMED, FINISHED, ARGS = range(9)


_NP = {
    torch.float32: "np.float32",
    torch.float64: "np.float64",
    torch.bool: "np.bool_",
    torch.int64: "np.int64",
}


def _entry_source(name: str, kinds: tuple) -> str:
    d = Descriptor
    lines = [
        f"def {name}(data):",
        f"    d = carray(data, ({d.ARGS + 3 * len(kinds)},), np.int64)",
        f"    f = carray(_ptr(d[{d.FLOATS}]), ({max(1, len(kinds))},), np.float64)",
    ]
    names = []
    for i, k in enumerate(kinds):
        s = d.ARGS + 3 * i
        if k[0] == "a":
            shape = f"(d[{s + 1}],)" if k[1] == 1 else f"(d[{s + 1}], d[{s + 2}])"
            lines.append(f"    a{i} = carray(_ptr(d[{s}]), {shape}, {_NP[k[2]]})")
        elif k[0] == "b":
            lines.append(f"    a{i} = d[{s}] != 0")
        elif k[0] == "i":
            lines.append(f"    a{i} = d[{s}]")
        else:
            lines.append(f"    a{i} = np.float32(f[{i}])")
        names.append(f"a{i}")
    lines += [
        "    while True:",
        f"        r = _claim(d[{d.CLAIM}])",
        f"        if r >= d[{d.RANGES}]:",
        "            break",
        f"        n0 = r * d[{d.PER}]",
        f"        n1 = min(d[{d.N}], n0 + d[{d.PER}])",
        f"        kernel({', '.join(names)}, n0, n1)",
        f"        _claim(d[{d.DONE}])",
        f"    while _count(d[{d.DONE}]) < d[{d.RANGES}]:",  # ranges claimed by others still running
        "        pass",
    ]
    return "\n".join(lines) + "\n"


def _load_cached(cfunc: CFunc) -> bool:
    """Load a compiled entry from the disk cache the way ``CFunc.compile`` does, minus its first step, which
    imports every implementation registry of numba (numba.np.*, and through it scipy: 0.3–0.8 s, most of a
    process's first call) although a cached function needs none of them, only the code generator and numba's
    runtime.
    False when the entry is not cached or anything here fails (numba's private layout may change): ``compile``
    then does it all."""
    if CACHE_DIR is None:
        return False
    try:
        context = cpu_target.target_context
        rtsys.initialize(context)  # what refresh() does first: numba's runtime (the kernels allocate scratch)
        cache = cfunc._cache
        data = cache._cache_file.load(cache._index_key(cfunc._sig, context.codegen()))
        if data is None:
            return False
        compiled = cache._impl.rebuild(context, data)
        cfunc._library = compiled.library
        cfunc._wrapper_name = compiled.fndesc.llvm_cfunc_wrapper_name
        cfunc._wrapper_address = compiled.library.get_pointer_to_function(cfunc._wrapper_name)
        cfunc._cache_hits += 1
    except Exception:  # noqa: BLE001 - any failure: take numba's own path
        return False
    return True


class Entry(NamedTuple):
    """A compiled entry: ``call(descriptor_address)`` runs it on the calling thread, ``address`` is the C
    pointer."""

    call: Callable[[int], None]
    address: int
    cfunc: Any  # keeps the compiled library alive


_entries: dict[tuple, Entry] = {}
_lock = threading.Lock()
_VOID_PTR_SIG = sigutils.normalize_signature(types.void(types.voidptr))


def entry(kernel: Callable, kinds: tuple) -> Entry:
    """The compiled entry of ``kernel`` for arguments of ``kinds`` (cached on disk and per process)."""
    key = (kernel, kinds)
    fn = _entries.get(key)
    if fn is not None:
        return fn
    with _lock:
        fn = _entries.get(key)
        if fn is None:
            py = kernel.py_func
            tag = hashlib.sha256(repr(kinds).encode()).hexdigest()[:12]
            name = f"entry_{Path(py.__code__.co_filename).stem}_{py.__name__.lstrip('_')}_{tag}"
            # __name__: numba rebuilds a cached function's environment by importing its module.
            namespace = {
                "__name__": __name__,
                "carray": carray,
                "np": np,
                "_ptr": _ptr,
                "_claim": _claim,
                "_count": _count,
                "kernel": kernel,
            }
            exec(compile(_entry_source(name, kinds), f"<{name}>", "exec"), namespace)  # noqa: S102
            cfunc = _cached(
                CFunc(namespace[name], _VOID_PTR_SIG, locals={}, options={"nopython": True}), namespace[name]
            )
            if not _load_cached(cfunc):
                cfunc.compile()
            fn = Entry(ctypes.CFUNCTYPE(None, ctypes.c_void_p)(cfunc.address), cfunc.address, cfunc)
            _entries[key] = fn
    return fn
