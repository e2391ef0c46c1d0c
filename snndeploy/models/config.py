"""``ModelConfig``: the one record that says which network to build; checkpoints store it as a plain dict.

Exporters, ``snndeploy.load`` and the trainer all rebuild a model from it with ``build_model(config)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import InvalidParameterError, UnknownNameError
from ..neurons import NEURONS
from .registry import MODELS

__all__ = ["ModelConfig", "PRIMITIVES"]

#: Value types allowed in ``neuron_kwargs`` (so that a checkpoint loads with
#: ``torch.load(weights_only=True)``).
PRIMITIVES = (bool, int, float, str, type(None))

_SCHEMA = 1


@dataclass(frozen=True)
class ModelConfig:
    """Which model to build, with which neuron, for which input.

    Args:
        model: registered builder name (``snndeploy.models.MODELS``): ``mlp``, ``vgg``, ``vgg11``,
            ``resnet18``, ``resnet19``.
        input_shape: shape of ONE time step of ONE sample, e.g. ``(1, 8, 8)`` for digits images or ``(1,)``
            for mnist1d (one value per step). The model maps ``[T, B, *input_shape]`` to logits
            ``[T, B, num_classes]``.
        num_classes: number of output classes (≥ 2).
        neuron: registered neuron name (``lif``, ``clif``, ``klif``, ``ilif``).
        neuron_kwargs: keyword parameters of the neuron (``tau``, ``v_threshold``, ``surrogate`` as a name
            such as ``"sigmoid:4"``, ...); primitive values only.
        width: channel / hidden-size multiplier (1.0 = the model's published widths; 0.0625 gives tiny test
            nets).
        depth: MLP hidden layers (default 2) or small-VGG stages (default 3); ignored by the fixed-shape
            models.
        batch_norm: BatchNorm after every weight layer (MLP only; CNNs always have it).
        dropout: dropout probability before the classifier and inside residual blocks (0 = none).
        neuron_overrides: per neuron layer (its path in the built model, ``snndeploy.models.tree``), keyword
            parameters that replace ``neuron_kwargs`` there, e.g. ``{"3": {"lsb": 2**-17}}`` (what
            ``train --target loihi2`` stores for each layer's chip-integer ``lsb``); primitive values only.
    """

    model: str
    input_shape: tuple[int, ...]
    num_classes: int
    neuron: str = "clif"
    neuron_kwargs: dict[str, Any] = field(default_factory=dict)
    width: float = 1.0
    depth: int | None = None
    batch_norm: bool = True
    dropout: float = 0.0
    neuron_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or self.model.lower() not in MODELS:
            raise UnknownNameError(f"unknown model {self.model!r}; known: {', '.join(MODELS)}")
        object.__setattr__(self, "model", self.model.lower())
        if not isinstance(self.neuron, str) or self.neuron.lower() not in NEURONS:
            raise UnknownNameError(f"unknown neuron {self.neuron!r}; known: {', '.join(NEURONS)}")
        object.__setattr__(self, "neuron", self.neuron.lower())
        shape = self.input_shape
        if not isinstance(shape, (tuple, list)) or not shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
        ):
            raise InvalidParameterError("input_shape must be a non-empty tuple of positive ints, got "
                                        f"{shape!r}")
        object.__setattr__(self, "input_shape", tuple(shape))
        if (isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int)
                or self.num_classes < 2):
            raise InvalidParameterError(f"num_classes must be an int >= 2, got {self.num_classes!r}")
        if not isinstance(self.neuron_kwargs, dict):
            raise InvalidParameterError("neuron_kwargs must be a dict, got "
                                        f"{type(self.neuron_kwargs).__name__}")
        for k, v in self.neuron_kwargs.items():
            if not isinstance(k, str) or not isinstance(v, PRIMITIVES):
                raise InvalidParameterError(
                    f"neuron_kwargs[{k!r}] must be a bool/int/float/str/None, got {type(v).__name__}"
                )
            if k in ("backend", "step_mode"):
                raise InvalidParameterError(f"neuron_kwargs[{k!r}]: pass the backend to build_model, not "
                                            "the config")
        object.__setattr__(self, "neuron_kwargs", dict(sorted(self.neuron_kwargs.items())))
        if not isinstance(self.neuron_overrides, dict):
            raise InvalidParameterError("neuron_overrides must be a dict, got "
                                        f"{type(self.neuron_overrides).__name__}")
        overrides = {}
        for path, kw in self.neuron_overrides.items():
            if not isinstance(path, str) or not isinstance(kw, dict):
                raise InvalidParameterError(f"neuron_overrides[{path!r}] must map a layer path to a dict")
            for k, v in kw.items():
                if not isinstance(k, str) or not isinstance(v, PRIMITIVES) or k in ("backend", "step_mode"):
                    raise InvalidParameterError(
                        f"neuron_overrides[{path!r}][{k!r}] must be a neuron parameter with a "
                        f"bool/int/float/str/None value, got {type(v).__name__}"
                    )
            overrides[path] = dict(sorted(kw.items()))
        object.__setattr__(self, "neuron_overrides", dict(sorted(overrides.items())))
        if isinstance(self.width, bool) or not isinstance(self.width, (int, float)) or not (
            math.isfinite(self.width) and self.width > 0
        ):
            raise InvalidParameterError(f"width must be a finite number > 0, got {self.width!r}")
        object.__setattr__(self, "width", float(self.width))
        if self.depth is not None and (isinstance(self.depth, bool) or not isinstance(self.depth, int)
                                       or self.depth < 1):
            raise InvalidParameterError(f"depth must be None or an int >= 1, got {self.depth!r}")
        if not isinstance(self.batch_norm, bool):
            raise InvalidParameterError(f"batch_norm must be a bool, got {self.batch_norm!r}")
        if (isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float))
                or not 0 <= self.dropout < 1):
            raise InvalidParameterError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "dropout", float(self.dropout))

    def __hash__(self) -> int:  # neuron_kwargs is a dict: hash the canonical JSON form instead
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def scaled(self, channels: int) -> int:
        """``channels`` times ``width``, at least 1."""
        return max(1, int(round(channels * self.width)))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, not tuples) with a ``schema`` version: what checkpoints store."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["neuron_kwargs"] = dict(self.neuron_kwargs)
        if not self.neuron_overrides:  # older readers know no such field: leave it out when unused
            d.pop("neuron_overrides")
        d["schema"] = _SCHEMA
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of ``to_dict``; unknown or missing fields raise ``InvalidParameterError`` naming them."""
        if not isinstance(d, dict):
            raise InvalidParameterError(f"model config must be a dict, got {type(d).__name__}")
        d = dict(d)
        schema = d.pop("schema", _SCHEMA)
        if schema != _SCHEMA:
            raise InvalidParameterError(f"model config schema {schema!r} is not supported (expected "
                                        f"{_SCHEMA})")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InvalidParameterError(f"model config has unknown field(s) {', '.join(unknown)}")
        missing = [n for n in ("model", "input_shape", "num_classes") if n not in d]
        if missing:
            raise InvalidParameterError(f"model config lacks field(s) {', '.join(missing)}")
        if isinstance(d["input_shape"], list):
            d["input_shape"] = tuple(d["input_shape"])
        return cls(**d)
