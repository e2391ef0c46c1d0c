"""Speck's chip support: the integer model, its mapping, sinabs' discretised DynapcnnNetwork forward, the
sinabs-dialect NIR artifact (``hw-check``, ``deploy``)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .base import ChipAgreement, ChipSupport, LayerMatch, register_chip
from .speck_map import SpeckMapping, compare_mapping, map_model
from .speck_nir import write_artifacts
from .speck_vendor import vendor_run

__all__ = ["SIMULATOR", "SUPPORT"]

#: What the vendor reference is, in every report.
SIMULATOR = ("sinabs 3.1.3 DynapcnnNetwork forward (discretised), standing in for the chip simulator "
             "specksim, which lives in samna and is not installed")


def compare(mapping: SpeckMapping, model: nn.Module, x: Tensor, labels: Any = None) -> ChipAgreement:
    """The float model vs the integer network on ``x`` (``speck_map.compare_mapping``)."""
    res = compare_mapping(model, mapping, x, labels)
    layers = tuple(LayerMatch(la.name, la.rate_float, la.rate_quant, la.agreement, la.first_divergence)
                   for la in res.layers)
    return ChipAgreement(layers, res.accuracy)


SUPPORT = register_chip(ChipSupport(
    name="speck", targets=("speck",), vendor_env="sinabs", simulator=SIMULATOR,
    map_model=map_model, vendor_run=vendor_run, write_artifacts=write_artifacts, compare=compare,
))
