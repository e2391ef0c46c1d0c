"""A pool that recycles the large output and saved buffers of the numba engine (``empty``).

Why: a fresh [T, B, *] buffer from the system allocator is often fresh memory, and its first touch costs a
page fault per 4 KiB page (measured: 2.6 ms to first-touch 8 MiB on one core, against 0.07 ms to rewrite warm
memory), more than the loop that fills it. glibc hands back recently freed memory only while its heap stays
below its trim threshold, which sequences of multi-MiB tensors exceed; the reference engine, whose per-step
tensors are small, is not hit. The pool keeps buffers the engine allocated and hands one out again once no
tensor uses it any more.

How: buffers are torch storages keyed by byte size; a buffer is free when the pool holds the only reference
(``torch._C._storage_Use_Count``). Tensors built on them are ordinary CPU tensors (resizable, any view). Only
buffers of at least ``MIN_BYTES`` are pooled. Free buffers beyond ``max_free_bytes`` (least recently used
first) are released, so the memory the pool holds while unused is bounded: ``pool_stats()`` shows it,
``release_buffers()`` frees it, ``set_pool_limit(0)`` turns pooling off. Every kernel writes all of a buffer
it is given, so recycled contents never show.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor

from ...errors import InvalidParameterError

__all__ = ["empty", "PoolStats", "pool_stats", "release_buffers", "set_pool_limit", "MIN_BYTES"]

#: Smaller buffers come straight from the allocator (they are cheap, and glibc recycles them well).
MIN_BYTES = 1 << 20

_DEFAULT_LIMIT = 1 << 30
_use_count = torch._C._storage_Use_Count


@dataclass(frozen=True)
class PoolStats:
    """Buffers the pool holds: how many, their bytes, and the bytes of those no tensor uses now."""

    buffers: int
    bytes: int
    free_bytes: int
    max_free_bytes: int


class _Pool:
    def __init__(self, max_free_bytes: int) -> None:
        self.max_free_bytes = max_free_bytes
        self._lock = threading.Lock()
        # id → (nbytes, storage)
        self._buffers: OrderedDict[int, tuple[int, torch.UntypedStorage]] = OrderedDict()

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < MIN_BYTES or self.max_free_bytes <= 0:
            return torch.empty(shape, dtype=dtype)
        with self._lock:
            for key, (size, storage) in self._buffers.items():
                if size == nbytes and _use_count(storage._cdata) == 1:
                    self._buffers.move_to_end(key)
                    return torch.empty((0,), dtype=dtype).set_(storage, 0, shape)
            out = torch.empty(shape, dtype=dtype)
            storage = out.untyped_storage()
            self._buffers[id(storage)] = (nbytes, storage)
            self._trim()
            return out

    def _trim(self) -> None:
        free = [(k, n) for k, (n, s) in self._buffers.items() if _use_count(s._cdata) == 1]  # oldest first
        excess = sum(n for _, n in free) - self.max_free_bytes
        for key, n in free:
            if excess <= 0:
                break
            del self._buffers[key]
            excess -= n

    def stats(self) -> PoolStats:
        with self._lock:
            sizes = [(n, _use_count(s._cdata) == 1) for n, s in self._buffers.values()]
        return PoolStats(
            len(sizes), sum(n for n, _ in sizes), sum(n for n, f in sizes if f), self.max_free_bytes
        )

    def release(self) -> None:
        with self._lock:
            for key in [k for k, (_, s) in self._buffers.items() if _use_count(s._cdata) == 1]:
                del self._buffers[key]


_POOL = _Pool(_DEFAULT_LIMIT)


def empty(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> Tensor:
    """An uninitialised CPU tensor of ``shape``, on a recycled buffer when one of the same size is free."""
    return _POOL.empty(tuple(shape), dtype)


def pool_stats() -> PoolStats:
    """What the pool holds now."""
    return _POOL.stats()


def release_buffers() -> None:
    """Free every pooled buffer that no tensor uses (buffers in use stay pooled)."""
    _POOL.release()


def set_pool_limit(max_free_bytes: int) -> int:
    """Keep at most ``max_free_bytes`` of unused buffers (0: no pooling); returns the previous limit."""
    if isinstance(max_free_bytes, bool) or not isinstance(max_free_bytes, int) or max_free_bytes < 0:
        raise InvalidParameterError(f"max_free_bytes must be an int >= 0, got {max_free_bytes!r}")
    previous, _POOL.max_free_bytes = _POOL.max_free_bytes, max_free_bytes
    with _POOL._lock:
        _POOL._trim()
    return previous
