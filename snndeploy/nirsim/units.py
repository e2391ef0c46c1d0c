"""Unit checks on a NIR graph's time constants and shapes, and the warning nirsim and hw-check raise for them.

NIR stores continuous-time neurons (τ·dv/dt = (v_leak − v) + r·I) without a dt; a reader discretises with
its own step. Forward Euler with step dt multiplies the state by 1 − dt/τ each step, so:

- τ < dt makes that factor negative (τ < dt/2: |1 − dt/τ| > 1, the state oscillates and grows): almost
  always a unit error, e.g. norse 1.1.0's ``to_nir`` writes τ = dt/τ_mem_inv = τ·dt (norse issue #411), so
  a 10 ms neuron exported at dt = 1 ms arrives as τ = 1e-5 s;
- a batch axis written into an ``Input`` type ([1, N] before a node that takes [N]) is a writer that traced
  with a batched sample;
- 0-dim neuron parameters are a writer that kept scalars (NIR's type inference needs one value per neuron).

``unit_problems(graph, dt)`` returns them as ``UnitProblem`` records (node, kind, message, fix); the energy
and hardware checks call it too. ``warn_unit_problems`` issues them as ``NIRUnitWarning``.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import nir
import numpy as np

__all__ = [
    "UnitProblem",
    "NIRUnitWarning",
    "unit_problems",
    "tau_problems",
    "warn_unit_problems",
    "TAU_FIELDS",
]

#: Time-constant fields per NIR neuron type.
TAU_FIELDS: dict[str, tuple[str, ...]] = {
    "LIF": ("tau",),
    "LI": ("tau",),
    "CubaLIF": ("tau_mem", "tau_syn"),
    "CubaLI": ("tau_mem", "tau_syn"),
}
_NEURONS = ("LIF", "LI", "CubaLIF", "CubaLI", "IF", "I")
_PARAM_FIELDS = ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")


class NIRUnitWarning(UserWarning):
    """A NIR graph whose units look wrong (τ below dt, a batch axis in an Input type, 0-dim parameters)."""


@dataclass(frozen=True)
class UnitProblem:
    """One unit problem: the node (dotted path for nested graphs), its kind, what was found and the likely
    fix."""

    node: str
    kind: str
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"node {self.node!r}: {self.message}" + (f"; fix: {self.fix}" if self.fix else "")


def _walk(graph: nir.NIRGraph, prefix: str = ""):
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            yield from _walk(node, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", node, graph


def tau_problems(graph: nir.NIRGraph, dt: float) -> list[UnitProblem]:
    """Time constants below ``dt`` (with the τ·dt diagnosis when τ/dt is a plausible time constant)."""
    out = []
    for name, node, _ in _walk(graph):
        for field in TAU_FIELDS.get(type(node).__name__, ()):
            tau = np.asarray(getattr(node, field), dtype=np.float64)
            if tau.size == 0 or not np.all(np.isfinite(tau)):
                continue
            lo = float(tau.min())
            if lo >= dt:
                continue
            msg = (
                f"{field} = {lo:.6g} is below dt = {dt:g} (dt/{field} = {dt / lo:.4g}): forward Euler "
                f"multiplies "
                f"the state by 1 − dt/{field} = {1 - dt / lo:.4g} each step"
            )
            fix = "check the time unit of the file and of --dt"
            if dt <= lo / dt <= 10.0:  # τ/dt is itself a time constant in seconds (1 step … 10 s)
                msg += (
                    f"; {field}/dt = {lo / dt:.6g} s is a plausible time constant: the writer probably "
                    f"multiplied {field} by dt (norse 1.1.0 to_nir, norse issue #411)"
                )
                fix = f"divide {field} by dt (check-nir --writer norse)"
            out.append(UnitProblem(name, "tau_below_dt", msg, fix))
    return out


def _zero_dim(graph: nir.NIRGraph) -> list[UnitProblem]:
    out = []
    for name, node, _ in _walk(graph):
        scalars = [
            f
            for f in _PARAM_FIELDS
            if getattr(node, f, None) is not None
            and np.ndim(getattr(node, f)) == 0
            and type(node).__name__ in _NEURONS
        ]
        if scalars:
            out.append(
                UnitProblem(
                    name,
                    "zero_dim_parameters",
                    f"{type(node).__name__} parameters {', '.join(scalars)} are 0-dim scalars; NIR's "
                    "type inference and most importers need one value per neuron",
                    "broadcast them to the layer's shape (check-nir --writer norse)",
                )
            )
    return out


def _input_batch_axis(graph: nir.NIRGraph) -> list[UnitProblem]:
    out = []
    for name, node, g in _walk(graph):
        if not isinstance(node, nir.Input):
            continue
        shape = [int(v) for v in np.asarray(next(iter(node.input_type.values()))).reshape(-1)]
        for a, b in g.edges:
            if a != name.rsplit(".", 1)[-1]:
                continue
            nxt = g.nodes.get(b)
            want = getattr(nxt, "input_type", None) or {}
            want_shape = [int(v) for v in np.asarray(next(iter(want.values()), [])).reshape(-1)]
            if want_shape and len(shape) == len(want_shape) + 1 and shape[1:] == want_shape and shape[0] == 1:
                out.append(
                    UnitProblem(
                        name,
                        "batch_axis_in_input",
                        f"Input type {shape} has a leading batch axis: {b} takes {want_shape}",
                        f"write the Input type without it ({want_shape}; check-nir --writer ...)",
                    )
                )
                break
    return out


def unit_problems(graph: nir.NIRGraph, dt: float | None) -> list[UnitProblem]:
    """Every unit problem of ``graph`` at step ``dt`` (τ checks need a dt; ``None`` skips them).

    This is the function the energy and hardware checks call (``snndeploy.nirsim.unit_problems``).
    """
    found = _input_batch_axis(graph) + _zero_dim(graph)
    if dt is not None:
        found += tau_problems(graph, float(dt))
    return found


def warn_unit_problems(problems: list[UnitProblem], stacklevel: int = 3) -> None:
    """Issue each problem as a ``NIRUnitWarning``."""
    for p in problems:
        warnings.warn(str(p), NIRUnitWarning, stacklevel=stacklevel)
