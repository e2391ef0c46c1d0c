"""Walking the model trees every exporter accepts (``snndeploy.models.layers``): one place that knows the shape.

A model is ``nn.Sequential`` / ``TimeDistributed(stateless layer)`` / neuron module / ``Residual(main, shortcut)``
(and, after folding, ``SpecLIF``). ``check_tree`` refuses anything else with an ``ExportError`` naming the module
path, before any file is written.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn

from snndeploy.errors import ExportError
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.neurons.base import NeuronModule

from .lifspec import SpecLIF

__all__ = ["STATELESS_LAYERS", "NEURON_TYPES", "check_tree", "neuron_paths", "get_module", "set_module", "path_name"]

#: Layers allowed inside ``TimeDistributed``.
STATELESS_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity,
)
NEURON_TYPES: tuple[type[nn.Module], ...] = (NeuronModule, SpecLIF)


def path_name(path: str) -> str:
    """Human-readable module path ("<root>" for the model itself)."""
    return path or "<root>"


def check_tree(model: nn.Module, path: str = "") -> None:
    """Raise ``ExportError`` naming the first module that is not an accepted building block."""
    if isinstance(model, nn.Sequential):
        for name, child in model.named_children():
            check_tree(child, f"{path}.{name}" if path else name)
    elif isinstance(model, Residual):
        check_tree(model.main, f"{path}.main" if path else "main")
        check_tree(model.shortcut, f"{path}.shortcut" if path else "shortcut")
    elif isinstance(model, TimeDistributed):
        if not isinstance(model.layer, STATELESS_LAYERS):
            raise ExportError(
                f"layer {path_name(path)}: unsupported layer {type(model.layer).__name__} inside TimeDistributed; "
                f"supported: {', '.join(t.__name__ for t in STATELESS_LAYERS)}"
            )
    elif isinstance(model, (*NEURON_TYPES, nn.Identity)):
        return
    else:
        raise ExportError(
            f"layer {path_name(path)}: unsupported module {type(model).__name__}; a model must be built from "
            "nn.Sequential, TimeDistributed(layer), neuron modules and Residual"
        )


def neuron_paths(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(path, module) of every neuron module, in forward order."""
    for name, m in model.named_modules():
        if isinstance(m, NEURON_TYPES):
            yield name, m


def get_module(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path) if path else model


def set_module(model: nn.Module, path: str, new: nn.Module) -> None:
    """Replace the submodule at ``path`` (dotted) with ``new``."""
    parent_path, _, name = path.rpartition(".")
    parent = get_module(model, parent_path)
    setattr(parent, name, new)
