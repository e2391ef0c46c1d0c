"""norse profile (norse 1.1.0 with nirtorch 2.6: ``norse.torch.from_nir(graph, dt=dt)``).

What the importer does (``norse/torch/utils/import_nir.py``): ``nir.LIF`` → ``LIFBoxCell(tau_mem_inv = 1/τ,
v_th, v_leak)`` stepped with the ``dt`` given to ``from_nir``: v ← v + dt·(1/τ)·(i + v_leak − v), z = Θ(v −
v_th) with Θ(0) = 0 (fires at ``>``), v ← v_reset where z, **v_reset fixed at 0** (the node's v_reset is
not read) and **r not read** (it logs a warning). No mapping for LI, Threshold, Scale or AvgPool2d;
``SumPool2d`` becomes ``LPPool2d(1)``; ``Flatten`` is passed to ``torch.nn.Flatten`` unchanged (so
start_dim 0 merges the batch axis).

Profile: r folded into the incoming weights, thresholds ``nextafter(θ, −∞)``, v_reset 0, flat graph with
junctions as edges, Flatten counted from the end, AvgPool2d as SumPool2d with 1/k² in the next weights.
Soft reset and v_reset ≠ 0 are approximated by a hard reset to 0 (measured).
"""

from __future__ import annotations

import dataclasses

import nir
import numpy as np

from ..lifspec import LIFSpec, format_value, to_euler
from . import rewrites as rw
from .base import Approximation, NeuronNodes, NIRProfile, register_profile

__all__ = ["PROFILE"]


def _supports(spec: LIFSpec) -> Approximation | None:
    if spec.reset == "soft":
        return Approximation(
            dataclasses.replace(spec, reset="hard", v_reset=0.0, reset_amount=0.0),
            "norse's importer maps no LI/Threshold/Scale (the exact soft-reset cycle) and resets "
            "nir.LIF to 0: soft reset exported as a hard reset to 0 (approximate)",
        )
    if np.any(np.asarray(spec.v_reset) != 0.0):
        return Approximation(
            dataclasses.replace(spec, v_reset=0.0),
            "norse's importer ignores nir.LIF.v_reset (always 0): reset to "
            f"{format_value(spec.v_reset, 'g')} exported as reset to 0 (approximate)",
        )
    return None


def _neuron(spec: LIFSpec, shape: tuple[int, ...], dt: float) -> NeuronNodes:
    e = to_euler(spec, dt)
    full = lambda v: np.full(shape, v, np.float32)  # noqa: E731
    node = nir.LIF(
        tau=full(e.tau),
        r=full(1.0),
        v_leak=full(e.v_leak),
        v_threshold=np.full(shape, PROFILE.threshold_value(spec.v_threshold), np.float32),
        v_reset=full(0.0),
    )
    return NeuronNodes(node, float(e.r), ["r = 1 (norse ignores nir.LIF.r; the gain moves into the weights)"])


PROFILE = register_profile(
    NIRProfile(
        name="norse",
        versions="norse 1.1.0, nirtorch 2.6",
        reader="norse.torch.from_nir(graph, dt=<contract dt>)",
        dt=None,
        time_unit="s",
        nir_semantics=True,
        threshold_op=">",
        supports=_supports,
        neuron_node=_neuron,
        rewrites=(
            rw.edges_for_junctions,
            rw.batch_safe_flatten,
            rw.avgpool_as_sumpool,
            rw.graph_executor_order,
        ),
        float_order="v + dt·(1/τ)·(i + v_leak − v) with i = (rW)x: the same equation, another float order",
        node_types=frozenset(
            {"Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "SumPool2d", "LIF", "IF", "CubaLIF"}
        ),
        summary="hard-reset LIF, r folded into the weights, SumPool for AvgPool, batch-safe Flatten",
    )
)
