"""Atomic artifact writes: every file snndeploy produces goes through ``atomic_write``.

The content is written to a temporary file in the target's directory, flushed and fsynced, then renamed over
the target, so a crash or an exception mid-write leaves the previous file (or no file) intact — never half a
file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_path"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is fsynced and renamed to ``target``.

    For writers that want a file name (``nir.write``, ``onnx.save``, ``torch.save``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
        with contextlib.suppress(OSError):  # make the rename durable where the platform allows it
            dfd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``target`` for writing; rename it over ``target`` only on success."""
    if "r" in mode or "a" in mode:
        raise ValueError(f"atomic_write is for writing whole files, got mode {mode!r}")
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
