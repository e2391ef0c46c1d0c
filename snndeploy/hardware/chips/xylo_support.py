"""Xylo's chip support (Audio 2, Audio 3, IMU): the integer model, its mapping, xylosim, the specification
artifacts (``hw-check``, ``deploy``)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .base import ChipAgreement, ChipSupport, LayerMatch, register_chip
from .xylo import XYLO_CHIPS
from .xylo_agree import compare_mapping
from .xylo_map import XyloMapping, map_model
from .xylo_vendor import vendor_run, write_artifacts

__all__ = ["SUPPORT"]


def compare(mapping: XyloMapping, model: nn.Module, x: Tensor, labels: Any = None) -> ChipAgreement:
    """The float model vs the integer network on ``x`` (``xylo_agree.compare_mapping``)."""
    res = compare_mapping(mapping, model, x, labels)
    layers = tuple(LayerMatch(la.name, la.rate_float, la.rate_chip, la.agreement, la.first_divergence)
                   for la in res.layers)
    return ChipAgreement(layers, res.accuracy)


SUPPORT = register_chip(ChipSupport(
    name="xylo",
    targets=tuple(XYLO_CHIPS),
    vendor_env="xylosim",
    simulator="rockpool 3.1.0 XyloSim.from_specification on the C++ bit-accurate xylosim 0.1.3 "
              "(xylosim.v2.XyloLayer)",
    map_model=map_model,
    vendor_run=vendor_run,
    write_artifacts=write_artifacts,
    compare=compare,
))
