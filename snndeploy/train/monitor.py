"""Per-layer firing rates measured with forward hooks on every neuron module.

rate(layer) = (number of spikes) / (number of neuron-steps) = mean of the layer's output ``[T, B, *]``.
"""

from __future__ import annotations

from types import TracebackType

import torch
from torch import Tensor, nn

from ..models.tree import neuron_paths

__all__ = ["FiringRateMonitor"]


class FiringRateMonitor:
    """Context manager: ``with FiringRateMonitor(model) as mon: model(x)``; then ``mon.rates()``.

    Layer names are the module paths in ``model`` (``"3"``, ``"4.2.main.2"``, ...).
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.spikes: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> FiringRateMonitor:
        for name, mod in neuron_paths(self.model):
            self.spikes[name], self.counts[name] = 0.0, 0
            self._handles.append(mod.register_forward_hook(self._hook(name)))
        return self

    def _hook(self, name: str):  # noqa: ANN202 - hook signature is torch's
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            self.spikes[name] += float(output.detach().float().sum())
            self.counts[name] += output.numel()

        return hook

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def rates(self) -> dict[str, float]:
        """Firing rate per neuron layer (0 for a layer that never ran)."""
        return {k: (self.spikes[k] / self.counts[k] if self.counts[k] else 0.0) for k in self.spikes}

    def mean_rate(self) -> float:
        """All spikes over all neuron-steps of all layers."""
        total = sum(self.counts.values())
        return sum(self.spikes.values()) / total if total else 0.0
