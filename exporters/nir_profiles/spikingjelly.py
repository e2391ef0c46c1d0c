"""spikingjelly profile (spikingjelly 2.0.0: ``import_from_nir(graph, dt=dt, step_mode='m')``).

What the importer does (``spikingjelly/activation_based/nir_exchange/from_nir.py``): ``nir.LIF`` →
``LIFNode(tau = τ/dt, decay_input, v_reset, v_threshold)`` only when every parameter is uniform over the
layer, τ/dt > 1, r equals 1 (``decay_input=True``) or τ/dt (``decay_input=False``) and v_leak equals
v_reset; the node charges H = V − (V − V_reset)/τ + X (or V + (X − (V − V_reset))/τ), fires at H ≥ θ
(``heaviside(x) = x ≥ 0``) and
resets hard to v_reset: snndeploy's own operation order. No LI, Threshold or Scale mapping (no soft reset);
cycles need ``step_mode='s'``; nested graphs run but were measured wrong, so the profile writes flat
graphs.

Profile: the spec's τ and r as written by ``to_euler``; where r is neither 1 nor τ/dt (folded KLIF: r =
k/τ/(1−a)) the input gain b moves into the weights and r = τ/dt; threshold θ itself (``≥``); junctions as
edges. Soft reset is approximated by a hard reset to V_rest, V_rest ≠ V_reset by V_rest := V_reset
(measured).
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
            dataclasses.replace(spec, reset="hard", v_reset=spec.v_rest, reset_amount=0.0),
            "spikingjelly's importer maps nir.LIF to a hard-reset LIFNode and has no LI/Threshold/"
            "Scale mapping: soft reset exported as a hard reset (approximate)",
        )
    if isinstance(spec.v_reset, np.ndarray):  # per-neuron resets: LIFNode takes one v_reset per layer
        mean = float(np.mean(spec.v_reset))
        return Approximation(
            dataclasses.replace(spec, v_reset=mean, v_rest=mean),
            f"spikingjelly's LIFNode takes one v_reset: per-neuron {format_value(spec.v_reset)} exported as "
            "its mean (approximate)",
        )
    if spec.v_rest != spec.v_reset:
        return Approximation(
            dataclasses.replace(spec, v_rest=spec.v_reset),
            "spikingjelly's importer needs v_leak == v_reset: V_rest exported as V_reset (approximate)",
        )
    return None


def _neuron(spec: LIFSpec, shape: tuple[int, ...], dt: float) -> NeuronNodes:
    e = to_euler(spec, dt)
    full = lambda v: np.full(shape, v, np.float32)  # noqa: E731
    tau_steps = 1.0 / (1.0 - spec.decay)
    k1 = spec.scale == 1.0
    r, scale, notes = e.r, 1.0, []
    if not k1:  # r = b/(1 − a) is neither 1 nor τ/dt: b into the weights, r = τ/dt (decay_input=False form)
        r, scale = tau_steps, spec.input_gain
        notes.append(
            f"r = τ/dt = {tau_steps:.6g} (spikingjelly's decay_input=False form), gain b = "
            f"{spec.input_gain:.6g} moved into the weights"
        )
    node = nir.LIF(
        tau=full(e.tau),
        r=full(r),
        v_leak=full(e.v_leak),
        v_threshold=np.full(shape, PROFILE.threshold_value(spec.v_threshold), np.float32),
        v_reset=full(spec.v_reset),
    )
    notes.append("threshold θ itself (spikingjelly fires at H ≥ θ)")
    return NeuronNodes(node, float(scale), notes)


PROFILE = register_profile(
    NIRProfile(
        name="spikingjelly",
        versions="spikingjelly 2.0.0, nirtorch 2.6",
        reader="spikingjelly.activation_based.nir_exchange.from_nir.import_from_nir(graph, dt=<contract dt>, "
        "step_mode='m')",
        dt=None,
        time_unit="s",
        nir_semantics=True,
        threshold_op=">=",
        supports=_supports,
        neuron_node=_neuron,
        rewrites=(rw.edges_for_junctions,),
        float_order="snndeploy's own charge/fire/reset order (τ recovered as float(τ_n)/dt)",
        node_types=frozenset(
            {
                "Input",
                "Output",
                "Affine",
                "Linear",
                "Conv1d",
                "Conv2d",
                "AvgPool2d",
                "Flatten",
                "IF",
                "LIF",
                "CubaLIF",
            }
        ),
        summary="hard-reset LIF with uniform parameters, threshold for >=, junctions as edges",
    )
)
