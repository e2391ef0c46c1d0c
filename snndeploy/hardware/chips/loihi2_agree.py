"""Float model vs Loihi 2 integer network: spike agreement per layer and accuracy, on the same input events.

``compare_mapping(mapping, model, x, labels)``:

1. ``x_int = mapping.encode(x)``; the float model runs on ``mapping.decode(x_int)`` (the float input those
   events stand for), so input rounding is not counted as a chip difference;
2. the integer network runs on ``x_int`` followed by L zero steps (L = number of layers) with
   ``Loihi2Network.run`` or, with ``vendor=True``, lava's own models (``loihi2_vendor.vendor_run``);
3. layer l's chip spikes lag by l + 1 steps (one per Dense), so chip steps l+1 … l+T are compared with float
   steps 0 … T−1, exactly (``snndeploy.verify.compare.compare_spikes``: agreement, first divergence);
4. accuracy (with ``labels``): argmax over classes of the output summed over time: the float model's output,
   and for the chip the host readout (``mapping.readout``) applied to the last layer's spikes, or its spike
   counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ...models.record import neuron_outputs
from ...verify.compare import compare_spikes
from .base import ChipRun
from .loihi2_map import Loihi2Mapping
from .loihi2_vendor import vendor_run

__all__ = ["Loihi2Agreement", "compare_mapping", "chip_outputs"]


@dataclass
class Loihi2Agreement:
    """Per-layer spike agreement (float model vs chip); accuracies ``(float, chip)`` with labels; the chip's
    spikes per layer realigned to the input steps (``[T, B, N]``, not in ``to_dict``)."""

    simulator: str
    layers: list[dict[str, Any]] = field(default_factory=list)
    accuracy: tuple[float, float] | None = None
    chip_spikes: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def agreement(self) -> float:
        """Spike agreement of the last neuron layer."""
        return self.layers[-1]["agreement"] if self.layers else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "simulator": self.simulator,
            "layers": self.layers,
            "accuracy": {"float": self.accuracy[0], "chip": self.accuracy[1]} if self.accuracy else None,
        }


def _float_spikes(model: nn.Module, names: tuple[str, ...], x: Tensor) -> tuple[list[Tensor], Tensor]:
    spikes, y = neuron_outputs(model, x)
    return [spikes[n] for n in names], y


def chip_outputs(
    mapping: Loihi2Mapping, x_int: np.ndarray, vendor: bool = False
) -> tuple[ChipRun, list[np.ndarray]]:
    """Run the mapped network on ``x_int`` plus L zero steps; returns the run and each layer's spikes
    realigned to the input's time steps ``[T, B, N]``."""
    net = mapping.network
    t_steps = x_int.shape[0]
    pad = np.concatenate([x_int, np.zeros((len(net.layers),) + x_int.shape[1:], np.int64)])
    if vendor:
        run = vendor_run(net, pad)
    else:
        run = net.run(pad, states=False)
    return run, [s[d : d + t_steps] for s, d in zip(run.spikes, net.delays, strict=True)]


def compare_mapping(
    mapping: Loihi2Mapping,
    model: nn.Module,
    x: Tensor | np.ndarray,
    labels: Tensor | np.ndarray | None = None,
    vendor: bool = False,
) -> Loihi2Agreement:
    """Spike agreement and accuracy of ``model`` vs its mapping on ``x`` ``[T, B, *]`` (module docstring)."""
    x_int = mapping.encode(x)
    f_spikes, y = _float_spikes(model, mapping.neuron_names, mapping.decode(x_int))
    _, c_spikes = chip_outputs(mapping, x_int, vendor)
    result = Loihi2Agreement("lava (vendor)" if vendor else "snndeploy integer model", chip_spikes=c_spikes)
    for name, fs, cs in zip(mapping.neuron_names, f_spikes, c_spikes, strict=True):
        chip = torch.from_numpy(cs.astype(np.float32)).reshape(fs.shape)
        cmp = compare_spikes(fs, chip, layer=name)
        result.layers.append(
            {
                "layer": name,
                "rate_float": float(fs.float().mean()),
                "rate_chip": float(chip.mean()),
                "agreement": cmp.agreement,
                "mismatches": cmp.mismatches,
                "total": cmp.total,
                "first_divergence": cmp.first.to_dict() if cmp.first is not None else None,
            }
        )
    if labels is not None:
        lab = torch.as_tensor(np.asarray(labels)).long()
        last = c_spikes[-1].astype(np.float64)
        if mapping.readout is not None:
            w, b = mapping.readout
            out = last @ w.T + b
        else:
            out = last
        acc_f = float((y.sum(0).reshape(len(lab), -1).argmax(-1) == lab).float().mean())
        acc_c = float((torch.from_numpy(out.sum(0)).argmax(-1) == lab).float().mean())
        result.accuracy = (acc_f, acc_c)
    return result
