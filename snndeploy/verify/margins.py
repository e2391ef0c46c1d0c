"""Membrane margin to threshold (z = membrane − V_th, the argument of Θ) of a source neuron layer, per
neuron-step.

At a divergence, a margin within a few float32 ulps of 0 points at rounding, ``≥`` vs ``>`` or operation
order; a large margin points at a real model difference (reset mode, dt/τ scaling, a changed weight or
threshold). The margin is read exactly where the neuron fires: every step function calls ``surrogate(z)``
once per step, so a recording surrogate captures z without duplicating any neuron's maths.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..neurons.base import NeuronModule
from ..neurons.surrogate import Surrogate, heaviside

__all__ = ["membrane_margin"]


@dataclass(frozen=True, eq=False)
class _Recorder(Surrogate):
    """A surrogate that records every z it is called with (forward only)."""

    seen: list = field(default_factory=list)
    kind_id: ClassVar[int] = -1

    def __call__(self, z: Tensor) -> Tensor:
        self.seen.append(z.detach())
        return heaviside(z)


@torch.no_grad()
def membrane_margin(module: nn.Module, x_seq: Tensor) -> Tensor | None:
    """z[t] = membrane − V_th of ``module`` on its input ``x_seq`` [T, B, *] (None for non-reference
    neurons)."""
    if not isinstance(module, NeuronModule):
        return None
    rec = _Recorder()
    params = dataclasses.replace(module.params(), surrogate=rec)
    state = module.init_state(x_seq[0])
    for t in range(x_seq.shape[0]):
        _, state = module.step(x_seq[t].float(), state, params)
    return torch.stack(rec.seen)
