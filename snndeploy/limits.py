"""Resource limits: inputs that declare absurd sizes are refused with ``ResourceLimitError`` BEFORE
allocating.

Every reader checks the sizes a file declares (file bytes, tensor elements, neurons of a NIR graph, T·B·N of a
simulation) against these limits first. Defaults are generous for real SNNs (a ResNet-19 has ~1.3e7
parameters; CIFAR-10 pickles are 31 MB) and far below what would exhaust a workstation.

Override with environment variables (``SNNDEPLOY_MAX_FILE_BYTES``, ``SNNDEPLOY_MAX_CONFIG_BYTES``,
``SNNDEPLOY_MAX_TENSOR_ELEMENTS``, ``SNNDEPLOY_MAX_GRAPH_ELEMENTS``, ``SNNDEPLOY_MAX_SIM_ELEMENTS``) or in
code with ``with resource_limits(max_sim_elements=...):``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ResourceLimitError

__all__ = ["Limits", "get_limits", "resource_limits", "check_file_size", "check_elements", "numel"]


@dataclass(frozen=True)
class Limits:
    """Upper bounds (all inclusive).

    Attributes:
        max_file_bytes: size of a checkpoint / NIR / ONNX / dataset file (default 4 GiB).
        max_config_bytes: size of a TOML profile or target (default 1 MiB).
        max_tensor_elements: elements of one declared tensor (default 2**30, 4 GiB of float32).
        max_graph_elements: neurons/elements a NIR graph declares over all its nodes (default 2**31).
        max_sim_elements: T · B · (sum of node output sizes) nirsim would hold (default 2**30, 4 GiB of
            float32).
    """

    max_file_bytes: int = 4 << 30
    max_config_bytes: int = 1 << 20
    max_tensor_elements: int = 1 << 30
    max_graph_elements: int = 1 << 31
    max_sim_elements: int = 1 << 30


_override: list[Limits] = []


def get_limits() -> Limits:
    """The limits in force: the innermost ``resource_limits`` block, else defaults updated by the
    environment."""
    if _override:
        return _override[-1]
    kw = {}
    for f in dataclasses.fields(Limits):
        raw = os.environ.get(f"SNNDEPLOY_{f.name.upper()}")
        if raw is not None:
            try:
                kw[f.name] = int(float(raw))
            except ValueError:
                raise ResourceLimitError(f"environment variable SNNDEPLOY_{f.name.upper()}={raw!r} is not "
                                         "a number") from None
    return Limits(**kw)


@contextlib.contextmanager
def resource_limits(**changes: int) -> Iterator[Limits]:
    """Temporarily change some limits (``with resource_limits(max_sim_elements=10**6): ...``)."""
    lim = dataclasses.replace(get_limits(), **changes)
    _override.append(lim)
    try:
        yield lim
    finally:
        _override.pop()


def numel(shape: Iterable[int]) -> int:
    """Product of ``shape`` as an exact Python int (no overflow, unlike numpy's int64 product)."""
    n = 1
    for s in shape:
        n *= int(s)
    return n


def check_elements(n: int, what: str, limit_name: str = "max_tensor_elements") -> None:
    """Raise ``ResourceLimitError`` when ``n`` exceeds the limit ``limit_name``; ``what`` names file and
    field."""
    limit = getattr(get_limits(), limit_name)
    if n > limit:
        raise ResourceLimitError(
            f"{what} declares {n:.3g} elements, above the limit {limit_name}={limit:.3g} "
            f"(set SNNDEPLOY_{limit_name.upper()} to raise it)"
        )


def check_file_size(path: str | os.PathLike[str], what: str, limit_name: str = "max_file_bytes") -> int:
    """Size of ``path`` in bytes; ``ResourceLimitError`` when above the limit (checked before reading)."""
    size = Path(path).stat().st_size
    limit = getattr(get_limits(), limit_name)
    if size > limit:
        raise ResourceLimitError(
            f"{what} {str(path)!r} is {size} bytes, above the limit {limit_name}={limit} "
            f"(set SNNDEPLOY_{limit_name.upper()} to raise it)"
        )
    return size
