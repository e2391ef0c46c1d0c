"""``SpeckIAF``: ``snndeploy.neurons.IAF`` with Speck's defaults (a thin alias kept for existing code).

Speck's neuron in float32 (sinabs ``IAFSqueeze`` with ``MultiSpike`` and ``MembraneSubtract``, the way
``sinabs.from_nir`` builds it for a NIR ``IF``; equations and sources in ``snndeploy/neurons/iaf.py``):

    V ← V + X;   N = floor(V/θ) for V ≥ θ, else 0 (no cap);   V ← V − N·θ;   V ← max(V, V_min)

with V_min = ``min_v_mem`` = −θ by default. ``SpeckIAF(θ, min_v_mem)`` is ``IAF(θ, max_spikes=None,
v_min=min_v_mem or −θ)``: the same module, trainable through IAF's multi-spike surrogate; new code can use
``IAF`` directly (``speck_map.map_model`` takes both).
"""

from __future__ import annotations

from torch import Tensor

from ...neurons.base import check_threshold
from ...neurons.iaf import IAF, iaf_seq
from ...neurons.surrogate import Surrogate

__all__ = ["SpeckIAF", "speck_iaf_seq"]


class SpeckIAF(IAF):
    """Multi-spike integrate-and-fire with subtractive reset and a lower bound −θ (module docstring)."""

    def __init__(
        self,
        v_threshold: float = 1.0,
        min_v_mem: float | None = None,
        surrogate: Surrogate | str | None = None,
        detach_reset: bool = False,
        backend: str = "auto",
        step_mode: str = "m",
        check_inputs: bool = True,
    ):
        theta = check_threshold("v_threshold", v_threshold)
        super().__init__(theta, None, -theta if min_v_mem is None else min_v_mem, surrogate, detach_reset,
                         backend, step_mode, check_inputs)


def speck_iaf_seq(x_seq: Tensor, neuron: IAF) -> tuple[Tensor, Tensor]:
    """The IAF loop over ``x_seq`` ``[T, B, *]`` in float32: (spike counts, final V)."""
    spikes, state = iaf_seq(x_seq, neuron.params())
    return spikes, state.v
