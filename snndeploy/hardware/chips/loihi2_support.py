"""Loihi 2's chip support: the integer model, its mapping, lava's simulator, netx artifacts (``hw-check``,
``deploy``)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .base import ChipAgreement, ChipSupport, LayerMatch, register_chip
from .loihi2_agree import compare_mapping
from .loihi2_map import Loihi2Mapping, map_model
from .loihi2_netx import write_artifacts
from .loihi2_vendor import vendor_run

__all__ = ["SUPPORT"]


def compare(mapping: Loihi2Mapping, model: nn.Module, x: Tensor, labels: Any = None) -> ChipAgreement:
    """The float model vs the integer network on ``x`` (``loihi2_agree.compare_mapping``)."""
    res = compare_mapping(mapping, model, x, labels)
    layers = tuple(LayerMatch(la["layer"], la["rate_float"], la["rate_chip"], la["agreement"],
                              la["first_divergence"]) for la in res.layers)
    return ChipAgreement(layers, res.accuracy)


SUPPORT = register_chip(
    ChipSupport(
        name="loihi2",
        targets=("loihi2",),
        vendor_env="lava",
        simulator="lava-nc 0.10.0 Loihi2SimCfg(select_tag='fixed_pt'): RingBuffer -> Dense -> LIF models",
        map_model=map_model,
        vendor_run=vendor_run,
        write_artifacts=write_artifacts,
        compare=compare,
    )
)
