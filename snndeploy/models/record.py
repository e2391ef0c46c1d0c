"""Recording every neuron layer's spikes during a forward pass: the one hook helper that verify, the hardware
quantiser and the chip comparisons share. Layers are named by their module path
(``models.tree.neuron_paths``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from .tree import neuron_paths

__all__ = ["record_neurons", "neuron_outputs"]


@contextlib.contextmanager
def record_neurons(model: nn.Module,
                   keep_inputs: bool = False) -> Iterator[tuple[dict[str, Tensor], dict[str, Tensor]]]:
    """Forward hooks on every neuron layer of ``model``: yields ``(spikes, inputs)`` dicts (path → tensor,
    detached) filled during the forward passes run inside the block (``inputs`` only with ``keep_inputs``)."""
    spikes: dict[str, Tensor] = {}
    inputs: dict[str, Tensor] = {}
    handles = []
    for path, module in neuron_paths(model):

        def hook(_m: nn.Module, args: tuple[Tensor, ...], out: Tensor, path: str = path) -> None:
            spikes[path] = out.detach()
            if keep_inputs:
                inputs[path] = args[0].detach()

        handles.append(module.register_forward_hook(hook))
    try:
        yield spikes, inputs
    finally:
        for h in handles:
            h.remove()


def neuron_outputs(model: nn.Module, x: Tensor) -> tuple[dict[str, Tensor], Tensor]:
    """``(spikes of every neuron layer by path, model output)`` of one forward on ``x`` in eval mode without
    gradients (the model's training flag is restored)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), record_neurons(model) as (spikes, _):
            y = model(x)
    finally:
        model.train(was_training)
    return spikes, y.detach()
