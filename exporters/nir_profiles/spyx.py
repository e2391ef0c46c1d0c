"""spyx profile (spyx 1.0.0, JAX: ``spyx.nir.from_nir(graph, x, dt)``), export only: nothing runs spyx here.

What the importer does (``spyx/nir.py``, ``spyx/nn.py``, read from the source; JAX needs its own venv,
``../shared/VENDOR_SIMS.md``): ``nir.LIF`` → ``spyx.nn.LIF(beta = 1 − dt/τ, threshold)``, which computes
S[t] = Θ(V[t−1] − θ) **from the previous step's membrane** and V[t] = β·V[t−1] + x[t] − S[t]·θ
(subtractive, undecayed); r and v_leak are not read; the weights of the Affine/Linear/Conv2d before a LIF
are multiplied by dt/τ. So every spiking layer emits one step later than snndeploy's, and the reset
subtracts θ instead of a·θ: no snndeploy neuron is represented exactly.

Profile: τ = dt/(1 − a) so β = a; weights multiplied by b·τ/dt (undoing spyx's dt/τ); soft reset by θ; the
cost of the one-step delay is measured with ``SpyxLIF`` (spyx's equations in torch).
"""

from __future__ import annotations

import dataclasses

import nir
import numpy as np
import torch
from torch import Tensor, nn

from ..lifspec import LIFSpec
from . import rewrites as rw
from .base import Approximation, NeuronNodes, NIRProfile, register_profile

__all__ = ["PROFILE", "SpyxLIF"]


class SpyxLIF(nn.Module):
    """spyx's LIF on a spec: S[t] = [V[t−1] > θ], V[t] = a·V[t−1] + b·x[t] − S[t]·θ. [T, B, *] → [T, B, *]."""

    def __init__(self, spec: LIFSpec):
        super().__init__()
        self.spec = spec

    def forward(self, x_seq: Tensor) -> Tensor:
        sp = self.spec
        v = torch.zeros_like(x_seq[0], dtype=torch.float32)
        out = []
        for t in range(x_seq.shape[0]):
            s = (v > sp.v_threshold).float()
            v = sp.decay * v + sp.input_gain * x_seq[t].float() - s * sp.v_threshold
            out.append(s)
        return torch.stack(out)


def _supports(spec: LIFSpec) -> Approximation | None:
    return Approximation(
        dataclasses.replace(spec, reset="soft", v_reset=0.0, reset_amount=spec.v_threshold, v_rest=0.0),
        "spyx's LIF fires from the previous step's membrane (every layer one step later) and "
        "subtracts θ undecayed; r and v_leak are not read (approximate)",
    )


def _neuron(spec: LIFSpec, shape: tuple[int, ...], dt: float) -> NeuronNodes:
    full = lambda v: np.full(shape, v, np.float32)  # noqa: E731
    tau = dt / (1.0 - spec.decay)
    node = nir.LIF(
        tau=full(tau),
        r=full(1.0),
        v_leak=full(0.0),
        v_threshold=np.full(shape, PROFILE.threshold_value(spec.v_threshold), np.float32),
        v_reset=full(0.0),
    )
    return NeuronNodes(
        node,
        float(spec.input_gain * tau / dt),
        ["weights multiplied by b·τ/dt (spyx multiplies them by dt/τ and ignores r)"],
    )


PROFILE = register_profile(
    NIRProfile(
        name="spyx",
        versions="spyx 1.0.0 (read from source, not run here)",
        reader="spyx.nir.from_nir(graph, sample_batch, dt=<contract dt>)",
        dt=None,
        time_unit="s",
        nir_semantics=False,
        threshold_op=">",
        supports=_supports,
        neuron_node=_neuron,
        rewrites=(rw.edges_for_junctions,),
        emulate=SpyxLIF,
        float_order="V = β·V + x − S·θ with S from the previous V",
        node_types=frozenset(
            {"Input", "Output", "Affine", "Linear", "Conv2d", "SumPool2d", "IF", "LIF", "CubaLIF", "Flatten"}
        ),
        summary="export only (JAX, not run here): spikes one step late, subtractive reset by θ",
    )
)
