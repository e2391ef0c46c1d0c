"""How well a Xylo mapping reproduces its float model: spike agreement per layer and accuracy.

``compare_mapping(mapping, model, x, labels)`` encodes ``x`` (``mapping.encode``), runs the integer network
(``XyloNetwork.run``; pass ``run=`` to reuse a vendor run instead), and runs the float model on the *decoded*
inputs (``mapping.decode``: the same events, so input quantisation is not counted as a disagreement). Per
spiking layer, the chip's spike counts on the float time axis (``mapping.align``, delays removed) are compared
with the float spikes exactly (``snndeploy.verify.compare.compare_spikes``: a count of 2 against a float spike
is a mismatch). Predictions: the class with the most output spikes, or, for a ``vmem`` readout, the largest
last readout ``Vmem`` against the largest Σₜ y of the float model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ...models.record import neuron_outputs
from ...verify.compare import compare_spikes
from .base import ChipRun

if TYPE_CHECKING:  # xylo_map chooses among mappings with compare_mapping: it imports this module
    from .xylo_map import XyloMapping

__all__ = ["LayerAgreement", "MappingAgreement", "compare_mapping", "float_run"]


@dataclass(frozen=True)
class LayerAgreement:
    """One spiking layer: firing rates (spikes per neuron-step) and exact agreement, float vs chip."""

    name: str
    rate_float: float
    rate_chip: float
    agreement: float
    first_divergence: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class MappingAgreement:
    """All layers, the prediction agreement, and accuracies (float, chip) when labels were given."""

    chip: str
    layers: tuple[LayerAgreement, ...]
    prediction_agreement: float
    accuracy: tuple[float, float] | None = None

    @property
    def score(self) -> float:
        """Mean spike agreement over the layers and the prediction agreement (used to choose a mapping)."""
        parts = [la.agreement for la in self.layers] + [self.prediction_agreement]
        return float(np.mean(parts))

    def to_dict(self) -> dict[str, Any]:
        return {"chip": self.chip, "layers": [la.to_dict() for la in self.layers],
                "prediction_agreement": self.prediction_agreement,
                "accuracy": {"float": self.accuracy[0], "chip": self.accuracy[1]} if self.accuracy else None}


#: Spikes of every neuron layer (by path) and the output of ``model`` on ``x`` (eval, no grad).
float_run = neuron_outputs


def compare_mapping(mapping: XyloMapping, model: nn.Module, x: Any, labels: Any = None,
                    run: ChipRun | None = None) -> MappingAgreement:
    """Float model vs the mapped integer network on the same events (module docstring)."""
    counts = mapping.encode(x)
    chip_run = run if run is not None else mapping.network.run(counts)
    spikes_f, y = float_run(model, mapping.decode(counts))
    chip = mapping.align(chip_run)
    layers = []
    for layer in mapping.layers:
        if not layer.spiking:
            continue
        f = spikes_f[layer.name].reshape(chip[layer.name].shape[0], chip[layer.name].shape[1], -1)
        c = torch.from_numpy(chip[layer.name]).to(f.dtype)
        cmp = compare_spikes(f, c, layer=layer.name)
        layers.append(LayerAgreement(layer.name, float(f.float().mean()), float(c.float().mean()),
                                     cmp.agreement, cmp.first.to_dict() if cmp.first is not None else None))
    pred_chip = mapping.predict(chip_run)
    pred_float = y.reshape(y.shape[0], y.shape[1], -1).sum(0).argmax(-1).numpy()
    acc = None
    if labels is not None:
        lab = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        acc = (float((pred_float == lab).mean()), float((pred_chip == lab).mean()))
    return MappingAgreement(mapping.chip, tuple(layers), float((pred_chip == pred_float).mean()), acc)
