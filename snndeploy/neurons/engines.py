"""The one place the neuron engines are loaded (``snndeploy.neurons`` imports this module last).

- ``torch`` (the reference) is registered by each neuron module, ``eager`` by ``eager_loops/``: always
  present.
- ``numba`` (``cpu_loops/``) when numba is installed, ``triton`` (``triton_kernels/``) when Triton is
  installed and imports. A missing engine is recorded with the reason (``engine.unavailable()``), which
  ``get_impl``'s error and ``snndeploy info`` show; ``auto`` then falls back to ``eager`` on that device.

Only a missing or broken third-party package counts as missing: an ImportError raised for one of snndeploy's
own modules propagates.
"""

from __future__ import annotations

from importlib.util import find_spec
from types import ModuleType

import torch

from . import eager_loops
from .engine import Backend, available_backends, mark_unavailable, resolve_backend, unavailable

__all__ = ["eager_loops", "cpu_loops", "describe"]

cpu_loops: ModuleType | None = None  # the numba engine's package, when loaded


def _third_party(exc: ImportError, backend: Backend, package: str) -> None:
    """Record an optional engine whose package failed to import; re-raise an ImportError of snndeploy
    itself."""
    if (exc.name or "").startswith("snndeploy"):
        raise exc
    mark_unavailable(backend, f"{package} does not import: {exc}")


if find_spec("numba") is None:
    mark_unavailable(Backend.NUMBA, "numba is not installed")
else:
    try:
        from . import cpu_loops  # registers the numba engine
    except ImportError as exc:
        _third_party(exc, Backend.NUMBA, "numba")

if find_spec("triton") is None:
    mark_unavailable(Backend.TRITON, "triton is not installed")
else:
    try:
        from . import triton_kernels  # noqa: F401  (registers the triton engine)
    except ImportError as exc:
        _third_party(exc, Backend.TRITON, "triton")


def describe() -> list[tuple[str, str]]:
    """(what, value) rows about the engines of this process, for ``snndeploy info`` and bug reports: the
    engines loaded, why one is missing, what ``auto`` picks per device and neuron (a neuron without a fused
    engine runs the reference), and the numba engine's cache and threads."""
    rows = [("neuron engines loaded", ", ".join(b.value for b in available_backends("lif")))]
    rows += [(f"engine {b.value} missing", why) for b, why in unavailable().items()]
    from .registry import NEURONS

    for device in ("cpu", "cuda"):
        note = "" if device == "cpu" or torch.cuda.is_available() else " (no CUDA device here)"
        picks: dict[str, list[str]] = {}
        for name in NEURONS.keys():
            picks.setdefault(resolve_backend(name, "auto", device).value, []).append(name)
        text = "; ".join(f"{engine} ({', '.join(names)})" for engine, names in picks.items())
        rows.append((f"backend auto on {device}", text + note))
    if cpu_loops is not None:
        choice = cpu_loops.threading_choice()
        pool = cpu_loops.pool_stats()
        mib = 2.0**20
        rows += [
            ("numba cache", cpu_loops.CACHE_DIR or "off (SNNDEPLOY_NUMBA_CACHE=0, or not writable)"),
            ("numba loop threads", f"{choice.mode}, up to {torch.get_num_threads()} ({choice.reason})"),
            (
                "numba buffer pool",
                f"keeps up to {pool.max_free_bytes / mib:.0f} MiB unused; holds {pool.buffers} buffers, "
                f"{pool.bytes / mib:.1f} MiB ({pool.free_bytes / mib:.1f} MiB unused)",
            ),
        ]
    return rows
