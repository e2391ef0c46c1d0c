"""snndeploy: train, fold, export and verify spiking neural networks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load"]

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from .models import ModelConfig


def load(path: Any, device: Any = "cpu", backend: str = "auto") -> tuple[nn.Module, ModelConfig]:
    """Rebuild ``(model, config)`` from a training checkpoint (lazy: torch is imported on first call).

    See ``snndeploy.checkpoint.load``; errors are ``snndeploy.errors.CheckpointError`` naming the file and
    field.
    """
    from .checkpoint import load as _load

    return _load(path, device=device, backend=backend)
