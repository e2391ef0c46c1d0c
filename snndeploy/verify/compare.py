"""Compare two spike (or state) tensors exactly and locate the first divergence.

This is the one comparison helper of the project (STYLE.md #7): tests, kernels and ``verify`` all use it.
Spikes are compared with tolerance 0; NaN/inf parity is checked separately (a NaN where the reference has a
number is a divergence even though NaN != NaN would also flag it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import InvalidInputError

__all__ = ["Divergence", "SpikeComparison", "compare_spikes"]


@dataclass(frozen=True)
class Divergence:
    """Where two spike trains first differ: earliest time step, then lowest sample, then lowest neuron (C
    order).

    ``margin`` is the reference membrane minus the threshold at that point when the caller supplies it: a
    margin within a few ulps of 0 points at rounding or ``≥``/``>`` semantics, a large one at a real model
    difference.
    """

    t: int
    sample: int
    neuron: tuple[int, ...]
    reference: float
    other: float
    margin: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["neuron"] = list(self.neuron)
        return d


@dataclass(frozen=True)
class SpikeComparison:
    """Result of comparing one layer's spikes of two runtimes."""

    layer: str
    total: int
    mismatches: int
    nonfinite_mismatches: int
    first: Divergence | None

    @property
    def agreement(self) -> float:
        """Fraction of identical neuron-steps (1.0 when ``total`` is 0)."""
        return 1.0 - self.mismatches / self.total if self.total else 1.0

    @property
    def identical(self) -> bool:
        return self.mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "total": self.total,
            "mismatches": self.mismatches,
            "nonfinite_mismatches": self.nonfinite_mismatches,
            "agreement": self.agreement,
            "first_divergence": self.first.to_dict() if self.first is not None else None,
        }


def compare_spikes(
    reference: Tensor, other: Tensor, layer: str = "", margin: Tensor | None = None
) -> SpikeComparison:
    """Compare ``other`` with ``reference`` elementwise and exactly.

    Args:
        reference: [T, B, *] tensor (spikes or any values).
        other: same shape.
        layer: name stored in the result.
        margin: optional [T, B, *] tensor of reference membrane − threshold, reported at the first divergence.
    """
    if reference.shape != other.shape:
        raise InvalidInputError(
            f"layer {layer!r}: shapes differ: reference {tuple(reference.shape)} vs other "
            f"{tuple(other.shape)}"
        )
    if reference.dim() < 2:
        raise InvalidInputError(f"layer {layer!r}: expected [T, B, *], got shape {tuple(reference.shape)}")
    ref = reference.detach().to("cpu", torch.float64)
    oth = other.detach().to("cpu", torch.float64)
    fin_r, fin_o = torch.isfinite(ref), torch.isfinite(oth)
    nonfinite = fin_r != fin_o
    both_nan = torch.isnan(ref) & torch.isnan(oth)
    diff = ((ref != oth) & ~both_nan) | nonfinite
    n = int(diff.sum())
    first = None
    if n:
        idx = torch.nonzero(
            diff.reshape(diff.shape[0], diff.shape[1], -1)
        )  # rows sorted by (t, sample, flat)
        t, b, flat = (int(v) for v in idx[0])
        neuron = (
            tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), tuple(ref.shape[2:])))
            if ref.dim() > 2
            else ()
        )
        pos = (t, b, *neuron)
        m = float(margin.detach().to("cpu", torch.float64)[pos]) if margin is not None else None
        first = Divergence(t, b, neuron, float(ref[pos]), float(oth[pos]), m)
    return SpikeComparison(layer, ref.numel(), n, int(nonfinite.sum()), first)
