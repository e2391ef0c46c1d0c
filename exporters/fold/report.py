"""Fold report records: what each fold rule did to each layer, and whether it is exact."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LayerFold", "FoldReport"]


@dataclass(frozen=True)
class LayerFold:
    """One layer's fold.

    Args:
        layer: module path in the source model.
        source: source module type (``CLIF``, ``BatchNorm2d``, ...).
        rule: fold rule name (``lif.hard``, ``klif.rescale``, ``clif.soft_c``, ``bn.into_previous``, ...).
        exact: spikes/outputs equal the source's in real arithmetic for every input (``conditions`` aside).
        conditions: when the fold is exact (or why it is not).
        params: the parameters of the result (a ``LIFSpec`` dict for neurons).
        spike_agreement: fraction of identical neuron-steps vs the source layer on calibration data (None: no
        data). extra: rule-specific measurements (ReLU-floor rate, BN max abs difference, calibration
        candidates).
    """

    layer: str
    source: str
    rule: str
    exact: bool
    conditions: str
    params: dict[str, Any] = field(default_factory=dict)
    spike_agreement: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FoldReport:
    """Per-layer fold records of one model, plus optional accuracy/agreement before and after fine-tuning."""

    layers: list[LayerFold] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """True when every neuron fold is exact (BatchNorm folds count as exact up to float rounding)."""
        return all(entry.exact for entry in self.layers)

    def for_layer(self, layer: str) -> LayerFold | None:
        """The neuron (or the last) record of ``layer``."""
        hits = [e for e in self.layers if e.layer == layer]
        return hits[-1] if hits else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "exact": self.exact,
            "layers": [e.to_dict() for e in self.layers],
            "metrics": dict(self.metrics),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=float)
