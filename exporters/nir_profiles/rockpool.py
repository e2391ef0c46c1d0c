"""rockpool profile (rockpool 3.1.0 with nirtorch 2.6: ``rockpool.nn.modules.from_nir(graph)``), a dialect.

What the importer does (``rockpool/nn/modules/torch/nir.py``): ``nir.LIF`` reads ``node.tau_mem``, a field
NIR 1.0 calls ``tau``, so every NIR 1.0 LIF fails (AttributeError). ``nir.CubaLIF`` → ``LIFTorch(tau_mem,
tau_syn, threshold, bias = v_leak, dt = min(τ_mem/(1 + r)))``, which per step computes isyn ← isyn + I, v ←
α·v, isyn ← β·isyn, v ← v + isyn + bias (α = exp(−dt/τ_mem), β = exp(−dt/τ_syn)), emits n = ⌊v/θ⌋ spikes
where v ≥ θ and subtracts n·θ. Only Affine/Linear, LIF/LI/CubaLIF map (no Conv, pooling or Flatten); the
whole [B, T, N] sequence runs at once.

Profile: every neuron is a CubaLIF with r chosen so that rockpool's dt is 1, τ_mem so that its float32 α
equals the spec's decay a, and τ_syn so that β = 2⁻⁴⁰ exactly; the incoming weights are multiplied by
2⁴⁰·b, so that isyn = β·(isyn + 2⁴⁰·bWx) = bWx + 2⁻⁴⁰·isyn_prev: the synapse is the identity except for a
2⁻⁴⁰ residue of the previous step (below float32 resolution unless the current input is 0). bias = c =
k·V_rest/τ, θ itself (``≥``). A dialect (dt = 1, ``time_unit = "step"``), not NIR's semantics.
Representable: subtractive reset by exactly θ; others are approximated by subtracting θ, and multi-spike
steps are measured.
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

__all__ = ["PROFILE", "SYN_SHIFT"]

#: β = 2^−SYN_SHIFT: the synapse's memory of the previous step (and 2^SYN_SHIFT is folded into the weights).
SYN_SHIFT = 40


def _rockpool_dt(tau_mem: np.float32, r: np.float32) -> float:
    """rockpool's dt for one node: ``min(τ_mem / (1 + r)).item()`` in float32, as its importer computes it."""
    return float(np.float32(tau_mem) / (np.float32(1.0) + np.float32(r)))


def _decay(dt: float, tau: np.float32) -> torch.Tensor:
    return torch.exp(-dt / torch.tensor(np.float32(tau)))


def _supports(spec: LIFSpec) -> Approximation | None:
    if spec.subtracts_threshold:
        return None
    why = (
        "rockpool's LIF resets by subtracting θ: hard reset exported as subtract θ"
        if spec.reset == "hard"
        else f"rockpool subtracts exactly θ: reset amount {format_value(spec.reset_amount)} exported as θ"
    )
    return Approximation(
        dataclasses.replace(spec, reset="soft", v_reset=0.0, reset_amount=spec.v_threshold),
        why + " (approximate)",
    )


def _neuron(spec: LIFSpec, shape: tuple[int, ...], dt: float) -> NeuronNodes:
    full = lambda v: np.full(shape, v, np.float32)  # noqa: E731
    target = torch.tensor(np.float32(spec.decay))
    # r = τ_mem − 1 makes dt = τ_mem/(1 + r) ≈ 1; α is checked with the dt rockpool will actually compute.
    tau_mem = float32_solving(
        lambda t: bool(_decay(_rockpool_dt(t, np.float32(t - 1)), t) == target),
        -1.0 / math.log(spec.decay),
        True,
    )
    r = np.float32(tau_mem - np.float32(1.0))
    rp_dt = _rockpool_dt(tau_mem, r)
    beta = torch.tensor(np.float32(2.0**-SYN_SHIFT))
    tau_syn = float32_solving(
        lambda t: bool(_decay(rp_dt, t) == beta), rp_dt / (SYN_SHIFT * math.log(2)), True
    )
    exact_syn = bool(_decay(rp_dt, tau_syn) == beta)
    node = nir.CubaLIF(
        tau_syn=full(tau_syn),
        tau_mem=full(tau_mem),
        r=full(r),
        v_leak=full(spec.leak),
        v_threshold=np.full(shape, PROFILE.threshold_value(spec.v_threshold), np.float32),
        v_reset=full(0.0),
        w_in=full(1.0),
    )
    notes = [
        f"CubaLIF: τ_mem = {float(tau_mem):.9g}, r = {float(r):.9g} (rockpool dt = {rp_dt:.9g}), τ_syn = "
        f"{float(tau_syn):.9g} (β = 2^-{SYN_SHIFT}{'' if exact_syn else ', not exact'}), bias = c"
    ]
    return NeuronNodes(node, float(spec.input_gain) * 2.0**SYN_SHIFT, notes)


PROFILE = register_profile(
    NIRProfile(
        name="rockpool",
        versions="rockpool 3.1.0, nirtorch 2.6",
        reader="rockpool.nn.modules.from_nir(graph)",
        dt=1.0,
        time_unit="step",
        nir_semantics=False,
        threshold_op=">=",
        supports=_supports,
        neuron_node=_neuron,
        rewrites=(rw.edges_for_junctions, rw.graph_executor_order),
        emulate=MultiSpikeLIF,
        float_order="v = α·v + β·(isyn + I) + bias: another order; a 2^-40 residue of the previous step's "
                    "input",
        node_types=frozenset({"Input", "Output", "Affine", "Linear", "CubaLIF", "LI"}),
        summary="CubaLIF with an identity synapse (β = 2^-40), soft reset by θ (multi-spike), MLPs only (a "
                "dialect)",
    )
)
