"""Check a model against a hardware target's documented constraints, before any vendor SDK call (NIR graphs:
``nir_check.py``).

``check_model`` walks the model's units in execution order (``snndeploy.models.tree.walk``) and applies the
rules of ``rules.py`` (neuron model, reset, decay, ranges; layer types, biases, pooling, convolutions; sizes)
and, for chips with one layer per core, the core-memory placement of ``cores.py``. Everything target-specific
is target data (``targets/*.toml``). Tensors are time-major ``[T, B, *]``; shape-dependent checks (neuron
counts, feature-map sizes, core memory) need ``example_input``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import HardwareConstraintError
from ..models.layers import Residual
from ..models.tree import walk as walk_model
from ..neurons.base import is_neuron
from .cores import layer_memory, place_on_cores
from .report import CheckReport, Violation, limit_check
from .rules import check_layer, check_neuron, check_ranges, check_sizes
from .targets import HardwareTarget, get_target
from .views import SYNAPTIC, NeuronView, neuron_view, threshold_of

__all__ = [
    "HardwareConstraintError", "Violation", "CheckReport", "NeuronView", "neuron_view", "walk_model",
    "check_model", "threshold_of", "limit_check",
]


def _shapes(model: nn.Module, units: list[tuple[str, nn.Module]],
            x: Tensor) -> dict[int, tuple[tuple, tuple]]:
    """(input shape, output shape) per unit, per single sample and step, from one forward on ``x[:, :1]``."""
    shapes: dict[int, tuple[tuple, tuple]] = {}
    handles = []
    for _, mod in units:
        def hook(m: nn.Module, args: tuple, out: Any, key: int = id(mod)) -> None:
            if args and isinstance(args[0], Tensor) and isinstance(out, Tensor):
                shapes[key] = (tuple(args[0].shape[1:]), tuple(out.shape[1:]))
        handles.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x[:, :1])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return shapes


def _check_residual(rep: CheckReport, t: HardwareTarget, name: str) -> None:
    if t.residual == "no":
        rep.add(name, "layer.residual", "error", f"residual/skip connections cannot be loaded on {t.name}",
                "remove the skip connection (plain VGG/MLP) or pick a target with merge support",
                t.layers_source)
    elif t.residual == "unsourced":
        rep.add(name, "layer.residual", "warning", f"residual support on {t.name} is unsourced",
                "check with the vendor toolchain before relying on it", t.layers_source)


def _check_model_level(rep: CheckReport, t: HardwareTarget, neurons: list, synaptic: list,
                       last_weight: str | None, core_layers: list[tuple[str, int, int]],
                       shapes: dict) -> None:
    """Rules about the whole model: readout from neurons, sizes, layer count and core placement, neuron
    layers."""
    if synaptic and last_weight is not None:
        rep.add(last_weight, "layers.output_from_neurons", "error" if t.output_from_neurons else "warning",
                f"the last weight layer {last_weight} has no neurons after it: its real-valued output must "
                "be read off-chip",
                "add an output neuron layer (read spike counts) or compute the readout on the host",
                t.layers_source)
    check_sizes(rep, t, neurons, synaptic, shapes, readout_is_weight=last_weight is not None)
    limit_check(rep, t, "max_layers", len(synaptic), synaptic[0][0] if synaptic else "model",
                "weight layers (cores)", "use at most {limit} Conv/Linear layers")
    if core_layers:
        place_on_cores(rep, t, core_layers)
    if len(neurons) < t.min_neuron_layers:
        rep.add("model", "layers.min_neuron_layers", "error",
                f"{len(neurons)} neuron layer(s); {t.name} needs at least {t.min_neuron_layers} "
                "(hidden + output)",
                "add a hidden neuron layer", t.layers_source)


def check_model(model: nn.Module, target: str | HardwareTarget,
                example_input: Tensor | None = None) -> CheckReport:
    """Check ``model`` against ``target``; ``example_input`` [T, B, *] enables the shape-dependent checks."""
    t = get_target(target)
    rep = CheckReport(t.name, not_checked=list(t.unsourced))
    units = walk_model(model)
    shapes = _shapes(model, units, example_input) if example_input is not None else {}
    rep.checked = ["layer types", "neuron model, reset, decay", "weights and threshold range"]
    if shapes:
        rep.checked.append("sizes")
    neurons: list[tuple[str, nn.Module, int]] = []
    synaptic: list[tuple[str, nn.Module]] = []
    core_layers: list[tuple[str, int, int]] = []
    last_weight = None
    for name, mod in units:
        if is_neuron(mod):
            check_neuron(rep, t, name, mod)
            neurons.append((name, mod, int(math.prod(shapes[id(mod)][1])) if id(mod) in shapes else 0))
            last_weight = None
            if synaptic:
                check_ranges(rep, t, synaptic[-1][0], synaptic[-1][1], name, mod)
        elif isinstance(mod, Residual):
            _check_residual(rep, t, name)
        else:
            check_layer(rep, t, name, mod)
            if isinstance(mod, SYNAPTIC):
                if last_weight is not None and not t.consecutive_weights:
                    rep.add(name, "layer.consecutive_weights", "error",
                            f"weight layer {name} follows weight layer {last_weight} with no neurons between",
                            "merge the two weight matrices into one, or put a neuron layer between them",
                            t.layers_source)
                last_weight = name
                synaptic.append((name, mod))
                if t.cores is not None and id(mod) in shapes:
                    core_layers.append((name, *layer_memory(mod, shapes[id(mod)][1])))
    _check_model_level(rep, t, neurons, synaptic, last_weight, core_layers, shapes)
    return rep
