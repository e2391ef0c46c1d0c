"""``SpeckIAF``: the float reference of Speck's neuron (sinabs ``IAFSqueeze`` with ``MultiSpike`` and
``MembraneSubtract``), for building float models that ``speck_map.map_model`` maps onto the chip.

snndeploy's LIF family cannot express it: ``LIFSpec`` requires a decay in (0, 1) (an IAF has decay 1), and its
neurons emit at most one spike per step. Per step, in float32 (sinabs ``layers/functional/lif.py``
``lif_forward_single``, ``activation/spike_generation.py`` ``MultiSpike``, ``activation/reset_mechanism.py``
``MembraneSubtract``):

    V ← V + X
    N = trunc(V / θ) · [V > 0]          (spike count: several spikes per step)
    V ← V − N·θ
    V ← max(V, V_min)                   (V_min = −θ by default, as ``sinabs.from_nir`` sets for NIR IF)

``forward(x_seq)``: ``[T, B, *]`` → spike counts ``[T, B, *]`` (non-negative integers, not only 0/1), state
from 0. Not differentiable (no surrogate): it is a deployment reference, not a training neuron.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ...errors import InvalidInputError, InvalidParameterError
from ...neurons.base import SpikingModule

__all__ = ["SpeckIAFParams", "SpeckIAF", "speck_iaf_seq"]


@dataclass(frozen=True)
class SpeckIAFParams:
    """θ (``v_threshold`` > 0) and the lower bound ``min_v_mem`` (≤ 0; ``None`` means −θ)."""

    v_threshold: float = 1.0
    min_v_mem: float | None = None

    def __post_init__(self) -> None:
        th = self.v_threshold
        if isinstance(th, bool) or not isinstance(th, (int, float)) or not math.isfinite(th) or th <= 0:
            raise InvalidParameterError(f"SpeckIAF v_threshold must be a finite number > 0, got {th!r}")
        object.__setattr__(self, "v_threshold", float(th))
        mv = -self.v_threshold if self.min_v_mem is None else self.min_v_mem
        if isinstance(mv, bool) or not isinstance(mv, (int, float)) or not math.isfinite(mv) or mv > 0:
            raise InvalidParameterError("SpeckIAF min_v_mem must be a finite number <= 0, got "
                                        f"{self.min_v_mem!r}")
        object.__setattr__(self, "min_v_mem", float(mv))


def speck_iaf_seq(x_seq: Tensor, params: SpeckIAFParams) -> tuple[Tensor, Tensor]:
    """The module docstring's loop over ``x_seq`` ``[T, B, *]`` in float32: (spike counts, final V)."""
    x32 = x_seq.float()
    v = torch.zeros_like(x32[0])
    out = torch.empty_like(x32)
    th = torch.tensor(params.v_threshold, dtype=torch.float32)
    for t in range(x32.shape[0]):
        v = v + x32[t]
        n = (v > 0) * torch.div(v, th, rounding_mode="trunc")
        v = torch.clamp_min(v - n * th, params.min_v_mem)
        out[t] = n
    return out, v


class SpeckIAF(SpikingModule):
    """Multi-spike integrate-and-fire with subtractive reset and a lower bound (module docstring)."""

    neuron_name = "speck_iaf"

    def __init__(self, v_threshold: float = 1.0, min_v_mem: float | None = None):
        super().__init__()
        self._params = SpeckIAFParams(v_threshold, min_v_mem)

    def params(self) -> SpeckIAFParams:
        return self._params

    def forward(self, x_seq: Tensor) -> Tensor:
        if x_seq.dim() < 2:
            raise InvalidInputError(f"SpeckIAF: input must be [T, B, *], got shape {tuple(x_seq.shape)}")
        spikes, _ = speck_iaf_seq(x_seq, self._params)
        return spikes.to(x_seq.dtype) if x_seq.is_floating_point() else spikes

    def extra_repr(self) -> str:
        return f"v_threshold={self._params.v_threshold}, min_v_mem={self._params.min_v_mem}"
