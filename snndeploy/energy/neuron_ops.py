"""Arithmetic cost of one neuron-state update, read off each neuron's equations (a registry by module type).

Counting rules (the same for every neuron, so the numbers compare):
- an update is one neuron at one time step; ``per_step`` ops run at every update, ``per_spike`` ops only on an
  update where the neuron spikes (an event-driven implementation skips them otherwise);
- multiplying by a binary spike is a select, not a multiply (it is counted under the op it gates);
- a decay β·V is one ``mult``; V/τ is one ``mult`` (by the constant 1/τ); a comparison (Θ, max, ReLU) is one
  ``compare``; a logistic sigmoid σ is one ``nonlinear``; writing a constant (hard reset to V_r) is free;
- the charge is written in its hardware form H = β·V + b·X (+ V_rest/τ when V_rest ≠ 0), the same value as the
  operation order in ``snndeploy.neurons.dynamics.charge``.

| neuron (defaults)          | states | per step                          | per spike                |
|----------------------------|--------|-----------------------------------|--------------------------|
| LIF soft, decay_input=False| 1      | 1 mult, 1 add, 1 compare          | 1 add (H − V_th)         |
| KLIF (decay_input=True)    | 1      | 3 mult, 1 add, 2 compare          | — (hard reset: a write)  |
| CLIF                       | 2      | 3 mult, 1 add, 1 compare, 1 σ     | 3 add, 1 σ               |
| ILIF                       | 4 (+1 bit) | 2 mult, 2 add, 2 compare      | 4 add, 1 σ               |
| IAF, binary (max_spikes=1) | 1      | 1 add, 1 compare (+1 compare with v_min) | 1 add             |
| IAF, multi-spike           | 1      | 1 add, 1 compare (+1 compare with v_min) | 2 mult, 1 add     |
| CubaLIF (subtract, binary) | 2      | 2 mult, 2 add, 1 compare (+1 add with a bias) | 1 add        |
| CubaLIF (subtract, multi)  | 2      | 2 mult, 2 add, 1 compare (+1 add with a bias) | 2 mult, 1 add |
| CubaLIF (zero reset)       | 2      | 2 mult, 2 add, 1 compare (+1 add with a bias) | — (a write)  |

Multi-spike neurons (IAF, CubaLIF with ``max_spikes`` ≠ 1) count the spike count N = floor(H/θ) as one mult
(by 1/θ) and the reset H − N·θ as one mult and one add, on updates that spike; their spikes are counts, and
the layer after them accumulates each event (``counting.py``: a value n costs n ACs). With ``lsb``
(chip-integer mode) the decays are shifts/rounded multiplies on chip: still counted as one ``mult`` each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from exporters.lifspec import FoldedLIF

from ..neurons import CLIF, IAF, ILIF, KLIF, LIF, CubaLIF
from ..neurons.base import is_neuron
from ..registry import Registry

__all__ = ["OP_KINDS", "NeuronOpCount", "register_neuron_ops", "neuron_ops", "is_neuron", "spec_ops",
           "NEURON_OPS"]

#: Kinds of elementary operation, in report order.
OP_KINDS = ("add", "mult", "compare", "nonlinear")


@dataclass(frozen=True)
class NeuronOpCount:
    """Operations of one update of one neuron of a layer, with the equations they were counted from.

    Attributes:
        neuron: neuron type name (``lif``, ``clif``, ...).
        equations: the update equations, as counted.
        states: float state variables kept per neuron (the memory one update reads and writes).
        per_step: ops executed at every update, keyed by ``OP_KINDS``.
        per_spike: extra ops on an update that emits a spike.
    """

    neuron: str
    equations: str
    states: int
    per_step: dict[str, int] = field(default_factory=dict)
    per_spike: dict[str, int] = field(default_factory=dict)

    @property
    def ops_per_step(self) -> int:
        return sum(self.per_step.values())

    @property
    def ops_per_spike(self) -> int:
        return sum(self.per_spike.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "neuron": self.neuron,
            "equations": self.equations,
            "states": self.states,
            "per_step": {k: int(self.per_step.get(k, 0)) for k in OP_KINDS},
            "per_spike": {k: int(self.per_spike.get(k, 0)) for k in OP_KINDS},
            "ops_per_step": self.ops_per_step,
            "ops_per_spike": self.ops_per_spike,
        }


OpCounter = Callable[[Any], NeuronOpCount]
NEURON_OPS: Registry[type[nn.Module], OpCounter] = Registry("neuron op counter")


def register_neuron_ops(cls: type[nn.Module]) -> Callable[[OpCounter], OpCounter]:
    """Decorator: register the op counter of neuron module type ``cls`` (double registration is an error)."""
    return NEURON_OPS.register(cls)


def neuron_ops(module: nn.Module) -> NeuronOpCount:
    """The ``NeuronOpCount`` of a neuron module, resolved along its MRO; unknown types raise naming the known
    ones."""
    return NEURON_OPS.for_instance(module)(module)


def _charge_ops(decay_input: bool, v_rest: float) -> dict[str, int]:
    """H = β·V + X (decay_input=False) or β·V + X/τ (True), plus V_rest/τ when V_rest ≠ 0."""
    ops = {"mult": 2 if decay_input else 1, "add": 1}
    if v_rest != 0.0:
        ops["add"] += 1
    return ops


def _merge(*dicts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


@register_neuron_ops(LIF)
def _lif_ops(module: LIF) -> NeuronOpCount:
    p = module.params()
    charge = "H = β·V + X/τ" if p.decay_input else "H = β·V + X"
    if p.v_rest != 0.0:
        charge += " + V_r/τ"
    if p.hard:
        reset, per_spike = f"V = V_r = {p.v_reset} on spike (a write)", {}
    else:
        reset, per_spike = "V = H − V_th on spike", {"add": 1}
    return NeuronOpCount(
        neuron="lif",
        equations=f"{charge}; S = Θ(H − V_th); {reset}",
        states=1,
        per_step=_merge(_charge_ops(p.decay_input, p.v_rest), {"compare": 1}),
        per_spike=per_spike,
    )


@register_neuron_ops(KLIF)
def _klif_ops(module: KLIF) -> NeuronOpCount:
    p = module.params()
    charge = "H = β·V + X/τ" if p.decay_input else "H = β·V + X"
    if p.v_reset != 0.0:
        charge += " + V_r/τ"
    return NeuronOpCount(
        neuron="klif",
        equations=f"{charge}; F = ReLU(k·H); S = Θ(F − V_th); V = V_r on spike (a write), else F",
        states=1,
        per_step=_merge(_charge_ops(p.decay_input, p.v_reset), {"mult": 1, "compare": 2}),
        per_spike={},
    )


@register_neuron_ops(CLIF)
def _clif_ops(module: CLIF) -> NeuronOpCount:
    return NeuronOpCount(
        neuron="clif",
        equations=("u' = β·u + x; m' = m·σ(u'/τ); s = Θ(u' − V_th); "
                   "on spike: m = m' + 1, u = u' − (V_th + σ(m))"),
        states=2,
        per_step={"mult": 3, "add": 1, "compare": 1, "nonlinear": 1},
        per_spike={"add": 3, "nonlinear": 1},
    )


@register_neuron_ops(ILIF)
def _ilif_ops(module: ILIF) -> NeuronOpCount:
    return NeuronOpCount(
        neuron="ilif",
        equations=(
            "I = γ·(I + x_prev·s_prev) (the add only after a spike); H = β·v + x − max(I, 0); "
            "s = Θ(H − V_th); "
            "on spike: v' = H − V_th, m = m + v', v = v' − σ(m)"
        ),
        states=4,  # v, m, I, x_prev (+ the 1-bit s_prev)
        per_step={"mult": 2, "add": 2, "compare": 2},
        per_spike={"add": 4, "nonlinear": 1},
    )


def _spike_reset_ops(reset: str, max_spikes: int | None, strict: bool = False) -> tuple[str, dict[str, int]]:
    """(fire and reset equations, per-spike ops) of a subtractive (binary or multi-spike) or zero reset."""
    fire = "S = Θ(H − V_th)" + (" (strict: H > V_th)" if strict else "")
    if reset == "zero":
        return f"{fire}; V = 0 on spike (a write)", {}
    if max_spikes == 1:
        return f"{fire}; V = H − V_th on spike", {"add": 1}
    return "N = floor(H/V_th) (capped, on H ≥ V_th); V = H − N·V_th on spike", {"mult": 2, "add": 1}


@register_neuron_ops(IAF)
def _iaf_ops(module: IAF) -> NeuronOpCount:
    p = module.params()
    reset, per_spike = _spike_reset_ops("subtract", p.max_spikes)
    floor = "; V = max(V, V_min)" if p.v_min is not None else ""
    return NeuronOpCount(
        neuron="iaf",
        equations=f"H = V + X; {reset}{floor}",
        states=1,
        per_step={"add": 1, "compare": 1 + (p.v_min is not None)},
        per_spike=per_spike,
    )


@register_neuron_ops(CubaLIF)
def _cubalif_ops(module: CubaLIF) -> NeuronOpCount:
    p = module.params()
    reset, per_spike = _spike_reset_ops(p.reset, p.max_spikes, p.strict)
    current = "I = α·(I + X)" if p.flavour == "xylo" else "I = α·I + X"
    bias = " + b" if p.bias != 0.0 else ""
    return NeuronOpCount(
        neuron="cubalif",
        equations=f"{current}; H = β·V + I{bias}; {reset}",
        states=2,
        per_step={"mult": 2, "add": 2 + (p.bias != 0.0), "compare": 1},
        per_spike=per_spike,
    )


@register_neuron_ops(FoldedLIF)
def _speclif_ops(module: Any) -> NeuronOpCount:
    return spec_ops(module.spec)


def spec_ops(spec: Any) -> NeuronOpCount:
    """Folded LIF (``exporters.lifspec.LIFSpec``): H = a·V + b·X + c with k folded into a, b, c; fire;
    reset."""
    per_step = {"mult": 1 if spec.input_gain == 1.0 else 2, "add": 1 if spec.leak == 0.0 else 2, "compare": 1}
    soft = spec.reset == "soft"
    return NeuronOpCount(
        neuron="lif",
        equations="H = a·V + b·X + c; S = Θ(H − V_th); "
        + ("V = H − reset_amount on spike" if soft else f"V = {spec.v_reset} on spike (a write)"),
        states=1,
        per_step=per_step,
        per_spike={"add": 1} if soft else {},
    )
