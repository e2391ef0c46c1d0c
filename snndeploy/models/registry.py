"""Model names → builders, and ``build_model(config)``.

A builder takes the ``ModelConfig`` and a zero-argument neuron factory and returns an ``nn.Sequential`` tree
made only of ``TimeDistributed`` / neuron modules / ``Residual`` / ``nn.Sequential`` (see ``layers``), mapping
``[T, B, *input_shape]`` to logits ``[T, B, num_classes]`` (a classifier output every step; the prediction is
the mean over T).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from ..errors import InvalidParameterError
from ..registry import Registry

if TYPE_CHECKING:
    from ..neurons.base import NeuronModule
    from .config import ModelConfig

__all__ = ["MODELS", "register_model", "build_model", "NeuronFactory"]

NeuronFactory = Callable[[], "NeuronModule"]
Builder = Callable[["ModelConfig", NeuronFactory], nn.Module]

MODELS: Registry[str, Builder] = Registry("model")


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register a builder under ``name`` (double registration is an error)."""
    return MODELS.register(name)


def build_model(config: ModelConfig, backend: str = "auto") -> nn.Module:
    """Build the network ``config`` describes, its neurons on ``backend`` (``auto``, ``torch``, ``eager``,
    ``numba``, ``triton``).

    The root module carries the config as ``model.snndeploy_config`` (not part of its ``state_dict``).

    Args:
        config: the model record (``ModelConfig``).
        backend: neuron implementation; not stored in the config so a GPU checkpoint loads on a CPU.

    Returns:
        ``nn.Sequential``: ``[T, B, *config.input_shape]`` → logits ``[T, B, config.num_classes]``.
    """
    from ..neurons import make_neuron

    builder = MODELS.get(config.model)
    kwargs = dict(config.neuron_kwargs)
    make_neuron(config.neuron, backend=backend, **kwargs)  # validate the kwargs once, with a clear message

    def factory() -> NeuronModule:
        return make_neuron(config.neuron, backend=backend, **kwargs)

    model = builder(config, factory)
    if config.neuron_overrides:
        _override_neurons(model, config, backend)
    model.snndeploy_config = config
    return model


def _override_neurons(model: nn.Module, config: ModelConfig, backend: str) -> None:
    """Replace the neuron at each path of ``config.neuron_overrides`` by one built with its parameters."""
    from ..neurons import make_neuron
    from .tree import neuron_paths

    paths = dict(neuron_paths(model))
    unknown = sorted(set(config.neuron_overrides) - set(paths))
    if unknown:
        raise InvalidParameterError(
            f"neuron_overrides names {', '.join(unknown)}, which are not neuron layers of this "
            f"{config.model} (neuron layers: {', '.join(paths)})"
        )
    for path, kw in config.neuron_overrides.items():
        parent_path, _, leaf = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, leaf, make_neuron(config.neuron, backend=backend, **{**config.neuron_kwargs, **kw}))
