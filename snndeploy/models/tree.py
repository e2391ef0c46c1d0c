"""The one walker of model trees (``snndeploy.models.layers``): the only place that knows their shape.

A model is ``nn.Sequential`` / ``TimeDistributed(stateless layer)`` / neuron layer (``is_neuron``: every
snndeploy neuron and the folded ``FoldedLIF``) / ``Residual(main, shortcut)``.

- ``walk(model)``: the units in execution order (stateless layers unwrapped from ``TimeDistributed``, neuron
  layers, ``Residual`` blocks followed by their branches' units); used by the hardware checks, quantisation
  and energy.
- ``neuron_paths(model)``: (path, module) of every neuron layer in forward order; used by fold, export,
  verify, train.
- ``check_tree(model)``: refuses anything else with an ``ExportError`` naming the module path, before any file
  is written.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn

from ..errors import ExportError
from ..neurons.base import is_neuron
from .layers import Residual, TimeDistributed

__all__ = ["STATELESS_LAYERS", "walk", "check_tree", "neuron_paths", "get_module", "set_module", "path_name",
           "join"]

#: Layers allowed inside ``TimeDistributed``.
STATELESS_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity,
)


def path_name(path: str) -> str:
    """Human-readable module path ("<root>" for the model itself)."""
    return path or "<root>"


def join(path: str, name: str) -> str:
    """The dotted path of child ``name`` under ``path``."""
    return f"{path}.{name}" if path else name


def walk(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's units in execution order: (path, layer) for stateless layers (unwrapped from
    ``TimeDistributed``), neuron layers and ``Residual`` blocks (followed by their branches' units); any other
    module comes back as one unit (its path, or its type name at the root)."""
    out: list[tuple[str, nn.Module]] = []

    def visit(path: str, mod: nn.Module) -> None:
        if isinstance(mod, TimeDistributed):
            out.append((path, mod.layer))
        elif is_neuron(mod):
            out.append((path, mod))
        elif isinstance(mod, Residual):
            out.append((path, mod))
            visit(join(path, "main"), mod.main)
            visit(join(path, "shortcut"), mod.shortcut)
        elif isinstance(mod, nn.Sequential):
            for name, child in mod.named_children():
                visit(join(path, name), child)
        else:
            out.append((path or type(mod).__name__, mod))

    visit("", model)
    return out


def check_tree(model: nn.Module, path: str = "") -> None:
    """Raise ``ExportError`` naming the first module that is not an accepted building block."""
    if isinstance(model, nn.Sequential):
        for name, child in model.named_children():
            check_tree(child, join(path, name))
    elif isinstance(model, Residual):
        check_tree(model.main, join(path, "main"))
        check_tree(model.shortcut, join(path, "shortcut"))
    elif isinstance(model, TimeDistributed):
        if not isinstance(model.layer, STATELESS_LAYERS):
            raise ExportError(
                f"layer {path_name(path)}: unsupported layer {type(model.layer).__name__} inside "
                f"TimeDistributed; supported: {', '.join(t.__name__ for t in STATELESS_LAYERS)}"
            )
    elif is_neuron(model) or isinstance(model, nn.Identity):
        return
    else:
        raise ExportError(
            f"layer {path_name(path)}: unsupported module {type(model).__name__}; a model must be built from "
            "nn.Sequential, TimeDistributed(layer), neuron modules and Residual"
        )


def neuron_paths(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(path, module) of every neuron layer, in forward order."""
    for name, m in model.named_modules():
        if is_neuron(m):
            yield name, m


def get_module(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path) if path else model


def set_module(model: nn.Module, path: str, new: nn.Module) -> None:
    """Replace the submodule at ``path`` (dotted) with ``new``."""
    parent_path, _, name = path.rpartition(".")
    parent = get_module(model, parent_path)
    setattr(parent, name, new)
