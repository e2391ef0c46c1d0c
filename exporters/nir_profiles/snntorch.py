"""snntorch profile (snntorch 1.0.0 with nirtorch 2.6: ``snntorch.import_nir.import_from_nir(graph)``).

What the importer does (``snntorch/import_nir.py``): ``nir.LIF`` → ``Leaky(beta = 1 − dt/τ, threshold,
reset_mechanism="zero", reset_delay=False)`` with **dt = 1e-4 s hard-coded**, whatever the graph says; it
needs v_leak = 0 and one threshold per layer, and when w = r·dt/τ ≠ 1 it divides the threshold by w instead
of scaling the input. The Leaky neuron computes U = β·U + I, fires at U − θ > 0, and resets U to 0. No
LI/Threshold/Scale mapping; ``Flatten`` goes to ``torch.nn.Flatten`` unchanged (start_dim 0 merges the
batch axis).

Profile: exported with dt = 1e-4 s; r = τ_n/dt so that w = 1 (the input gain b moves into the weights);
thresholds ``nextafter(θ, −∞)``; reset to 0; junctions as edges; Flatten counted from the end. Soft reset,
v_reset ≠ 0 and V_rest ≠ 0 are approximated (hard reset to 0, V_rest := 0; measured).
"""

from __future__ import annotations

import dataclasses

import nir
import numpy as np

from ..lifspec import LIFSpec, format_value, to_euler
from . import rewrites as rw
from .base import Approximation, NeuronNodes, NIRProfile, register_profile

__all__ = ["PROFILE", "SNNTORCH_DT"]

#: The dt snntorch 1.0.0's ``import_from_nir`` assumes for every LIF/CubaLIF node.
SNNTORCH_DT = 1e-4


def _supports(spec: LIFSpec) -> Approximation | None:
    resets_to_nonzero = bool(np.any(np.asarray(spec.v_reset) != 0.0))
    if spec.reset == "soft" or resets_to_nonzero or spec.v_rest != 0.0:
        why = []
        if spec.reset == "soft":
            why.append(
                "no LI/Threshold/Scale mapping and Leaky(reset_mechanism='zero'): soft reset exported as a "
                "hard reset to 0"
            )
        elif resets_to_nonzero:
            why.append(f"Leaky resets to 0: reset to {format_value(spec.v_reset, 'g')} exported as "
                       "reset to 0")
        if spec.v_rest != 0.0:
            why.append(f"the importer asserts v_leak == 0: V_rest {spec.v_rest:g} exported as 0")
        return Approximation(
            dataclasses.replace(spec, reset="hard", v_reset=0.0, reset_amount=0.0, v_rest=0.0),
            "snntorch: " + "; ".join(why) + " (approximate)",
        )
    return None


def _neuron(spec: LIFSpec, shape: tuple[int, ...], dt: float) -> NeuronNodes:
    e = to_euler(spec, dt)
    full = lambda v: np.full(shape, v, np.float32)  # noqa: E731
    node = nir.LIF(
        tau=full(e.tau),
        r=full(1.0 / (1.0 - spec.decay)),
        v_leak=full(0.0),
        v_threshold=np.full(shape, PROFILE.threshold_value(spec.v_threshold), np.float32),
        v_reset=full(0.0),
    )
    return NeuronNodes(
        node,
        float(spec.input_gain),
        ["r = τ_n/dt so that snntorch's w = r·dt/τ_n is 1 (no threshold rescaling)"],
    )


PROFILE = register_profile(
    NIRProfile(
        name="snntorch",
        versions="snntorch 1.0.0, nirtorch 2.6",
        reader="snntorch.import_nir.import_from_nir(graph)",
        dt=SNNTORCH_DT,
        time_unit="s",
        nir_semantics=True,
        threshold_op=">",
        supports=_supports,
        neuron_node=_neuron,
        rewrites=(rw.edges_for_junctions, rw.batch_safe_flatten),
        float_order="U = β·U + I with β = float32(1 − dt/τ_n): the same equation, another float order",
        node_types=frozenset(
            {"Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "AvgPool2d", "IF", "LIF", "CubaLIF"}
        ),
        summary="exported with dt = 1e-4 s (hard-coded in the importer), hard reset to 0, batch-safe Flatten",
    )
)
