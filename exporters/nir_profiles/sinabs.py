"""sinabs profile (sinabs 3.1.3 with nirtorch 2.6: ``sinabs.from_nir(graph, batch_size=B)``), a dialect.

What the importer does (``sinabs/nir.py``): ``nir.LIF`` → ``LIFSqueeze(tau_mem = τ, spike_threshold = θ)``
reading **τ in time steps** with an exponential decay α = exp(−1/τ) (float32), ignoring r, dt and v_reset
and requiring v_leak = 0 (checked with ``any(node.v_leak)``, which fails for multi-dimensional parameter
arrays, i.e. every conv layer); the layer computes v = α·v + I, emits n = trunc(v/θ) spikes where v > 0
(``MultiSpike``: several per step) and subtracts n·θ. ``Affine`` (not ``Linear``), ``Conv2d``,
``SumPool2d``, ``Flatten`` (batch-aware) map; AvgPool2d does not. Inputs are batch-major ``[B·T, *]``.

Profile: τ written so that sinabs' float32 exp(−1/τ) equals the spec's decay a (searched among float32
neighbours), the input gain b in the weights, r = 1, θ itself (``v ≥ θ``), junctions as edges, Linear as
Affine, AvgPool2d as SumPool2d + 1/k² in the next weights; dt = 1 and ``time_unit = "step"``: the file is
**not** NIR's semantics (a NIR reader would Euler-step it), only sinabs' dialect. Representable:
subtractive reset by exactly θ with V_rest = 0; hard reset and other reset amounts are approximated by
subtracting θ, and ``MultiSpike`` emits more than one spike where H ≥ 2θ: both measured.
"""

from __future__ import annotations

import dataclasses
import math

import nir
import numpy as np
import torch

from ..lifspec import LIFSpec, format_value
from . import rewrites as rw
from .base import Approximation, MultiSpikeLIF, NeuronNodes, NIRProfile, float32_solving, register_profile

__all__ = ["PROFILE", "exp_decay_tau"]


def exp_decay_tau(a: float) -> np.float32:
    """The float32 τ (in steps) whose ``torch.exp(-1.0 / τ)`` in float32 equals float32(a), where one
    exists."""
    target = torch.tensor(np.float32(a))
    return float32_solving(
        lambda t: bool(torch.exp(-1.0 / torch.tensor(t)) == target), -1.0 / math.log(a), True
    )


def _supports(spec: LIFSpec) -> Approximation | None:
    why = []
    if spec.reset == "hard":
        why.append("sinabs' LIF resets by subtracting θ: hard reset exported as subtract θ")
    elif not spec.subtracts_threshold:
        why.append(
            f"sinabs subtracts exactly θ: reset amount {format_value(spec.reset_amount)} exported as θ = "
            f"{spec.v_threshold:.6g}"
        )
    if spec.v_rest != 0.0:
        why.append("the importer requires v_leak = 0: V_rest exported as 0")
    if not why:
        return None
    return Approximation(
        dataclasses.replace(spec, reset="soft", v_reset=0.0, reset_amount=spec.v_threshold, v_rest=0.0),
        "; ".join(why) + " (approximate)",
    )


def _neuron(spec: LIFSpec, shape: tuple[int, ...], dt: float) -> NeuronNodes:
    full = lambda v: np.full(shape, v, np.float32)  # noqa: E731
    tau = exp_decay_tau(spec.decay)
    node = nir.LIF(
        tau=full(tau),
        r=full(1.0),
        v_leak=full(0.0),
        v_threshold=np.full(shape, PROFILE.threshold_value(spec.v_threshold), np.float32),
        v_reset=full(0.0),
    )
    problems = (
        []
        if len(shape) == 1
        else [
            f"sinabs 3.1.3's LIF import evaluates any(node.v_leak), which raises for a "
            f"{len(shape)}-dimensional "
            "parameter array (every conv layer): not importable"
        ]
    )
    return NeuronNodes(
        node,
        float(spec.input_gain),
        problems=problems,
        notes=[
            f"τ = {float(tau):.9g} steps (sinabs: α = exp(−1/τ) = {spec.decay:.9g}); r = 1, gain in the "
            "weights; θ itself (sinabs fires where trunc(v/θ) ≥ 1, i.e. v ≥ θ)"
        ],
    )


PROFILE = register_profile(
    NIRProfile(
        name="sinabs",
        versions="sinabs 3.1.3, nirtorch 2.6",
        reader="sinabs.from_nir(graph, batch_size=B)",
        dt=1.0,
        time_unit="step",
        nir_semantics=False,
        threshold_op=">=",
        supports=_supports,
        neuron_node=_neuron,
        rewrites=(
            rw.edges_for_junctions,
            rw.affine_for_linear,
            rw.avgpool_as_sumpool,
            rw.graph_executor_order,
        ),
        emulate=MultiSpikeLIF,
        float_order="v = α·v + I (α = exp(−1/τ) in float32): equal to snndeploy's where τ = 2, another order "
                    "otherwise",
        node_types=frozenset(
            {"Input", "Output", "Affine", "Conv1d", "Conv2d", "SumPool2d", "Flatten", "LIF", "LI", "IF"}
        ),
        summary="soft reset by θ (multi-spike), τ in steps with exp decay (a dialect, not NIR semantics)",
    )
)
