"""Known NIR writers: the dt each one assumes and the corrections that make its files mean what its model
computes.

A NIR file carries no dt and no reset or decay convention that every tool honours, so a file runs as its
writer intended only when the reader knows the writer's conventions. ``WRITERS`` records them, one
``Writer`` per peer (read from each peer's exporter, versions named; measured by
``benchmarks/interop_matrix.py``):

- norse 1.1.0 ``to_nir``: τ written as dt/τ_mem_inv = τ·dt (norse issue #411) → τ /= dt; 0-dim parameters →
  broadcast; dt 1e-3 s (its default).
- snntorch 1.0.0 ``export_to_nir``: Leaky β → τ = dt/(1 − β), r = τ/dt with dt = 1e-4 s (hard-coded); fires
  at U − θ > 0 and resets to 0 (``reset_mechanism="zero"``): NIR's own semantics at dt = 1e-4 s.
- spikingjelly 2.0.0 ``export_to_nir``: τ·dt, r ∈ {1, τ}, dt 1e-4 s (its default), threshold θ for its H ≥
  θ → threshold ``nextafter(θ, −∞)`` for NIR's ``>``.
- sinabs 3.1.3 ``to_nir``: ``IAF`` → ``IF(r=1, θ)`` but sinabs subtracts θ (``MembraneSubtract``) and
  counts trunc(v/θ) spikes; ``LIF`` → ``LIF(τ = τ_mem in steps)`` with an exponential decay: dt = 1 step;
  each neuron → an integrator (``I``, or ``LI`` with 1 − 1/τ' = exp(−1/τ)) → ``Threshold(nextafter θ)`` →
  ``Scale(w)`` back into the integrator, w = −a·θ/b (the exact NIR form of a subtractive reset, as
  ``exporters.nir`` writes it).
- rockpool 3.1.0 ``to_nir``: ``LIFTorch`` → ``CubaLIF(τ_mem, τ_syn, r = τ_mem·exp(−dt/τ_mem)/dt)`` with no
  dt; rockpool computes isyn ← β(isyn + I), v ← α·v + isyn with α, β = exp(−dt/τ) and subtracts θ per
  spike; the writer puts the batch axis in the Input/Output types and drops the bias (v_leak = 0).
  Correction: dt inferred from r (r·dt = τ·exp(−dt/τ)), batch axes stripped, each CubaLIF → synapse ``LI``
  → membrane ``LI`` → ``Threshold`` → ``Scale(−α·θ)``.

Multi-spike steps (sinabs, rockpool: n = ⌊v/θ⌋ > 1 spikes) have no NIR form: where v ≥ 2θ the corrected
graph emits one spike and subtracts θ once, so agreement is measured, not assumed. Every correction returns
notes that say what it changed; ``correct(graph, writer, dt)`` applies a writer's list.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nir
import numpy as np

from ..errors import InvalidInputError, UnknownNameError
from ..registry import Registry
from .units import TAU_FIELDS

__all__ = [
    "Writer",
    "WRITERS",
    "correct",
    "infer_dt",
    "guess_writer",
    "strip_batch_axes",
    "broadcast_zero_dim",
]

Nodes = dict[str, nir.NIRNode]
Correction = Callable[[nir.NIRGraph, float], list[str]]


@dataclass(frozen=True)
class Writer:
    """One NIR writer: its default dt (``None``: inferred from the file), the corrections, a one-line
    summary."""

    name: str
    dt: float | None
    corrections: tuple[Correction, ...]
    summary: str


def _f32(a: Any) -> np.ndarray:
    return np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, dtype=np.float32)


def _neuron_size(graph: nir.NIRGraph, name: str) -> tuple[int, ...] | None:
    """The shape feeding ``name`` (the output of its weighted predecessor), when it can be read."""
    for a, b in graph.edges:
        if b != name:
            continue
        w = getattr(graph.nodes.get(a), "weight", None)
        if w is not None:
            return (int(np.asarray(w).shape[0]),)
    return None


def broadcast_zero_dim(graph: nir.NIRGraph, dt: float) -> list[str]:
    """0-dim neuron parameters → one value per neuron (size from the weighted predecessor)."""
    notes = []
    for name, node in graph.nodes.items():
        fields = [
            f
            for f in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")
            if getattr(node, f, None) is not None and np.ndim(getattr(node, f)) == 0
        ]
        if not fields or type(node).__name__ not in ("LIF", "LI", "CubaLIF", "CubaLI", "IF", "I"):
            continue
        size = _neuron_size(graph, name)
        if size is None:
            continue
        for f in fields:
            setattr(node, f, np.full(size, _f32(getattr(node, f)), np.float32))
        node.input_type = {"input": np.array(size)}
        node.output_type = {"output": np.array(size)}
        notes.append(f"{name}: 0-dim {', '.join(fields)} broadcast to shape {list(size)}")
    return notes


def strip_batch_axes(graph: nir.NIRGraph, dt: float) -> list[str]:
    """Input/Output types with leading size-1 axes that their neighbour does not have → without them."""
    notes = []
    for name, node in graph.nodes.items():
        if not isinstance(node, (nir.Input, nir.Output)):
            continue
        key = "input_type" if isinstance(node, nir.Input) else "output_type"
        types = getattr(node, key)
        shape = [int(v) for v in np.asarray(next(iter(types.values()))).reshape(-1)]
        other = (
            [b for a, b in graph.edges if a == name]
            if isinstance(node, nir.Input)
            else [a for a, b in graph.edges if b == name]
        )
        ref = (
            getattr(
                graph.nodes.get(other[0]),
                "input_type" if isinstance(node, nir.Input) else "output_type",
                None,
            )
            if other
            else None
        )
        want = [int(v) for v in np.asarray(next(iter(ref.values()), [])).reshape(-1)] if ref else []
        if not want or shape == want:
            continue
        while len(shape) > len(want) and shape[0] == 1:
            shape = shape[1:]
        if shape == want:
            arr = {k: np.array(shape) for k in types}
            if isinstance(node, nir.Input):
                graph.nodes[name] = nir.Input(input_type=arr, metadata=dict(node.metadata or {}))
            else:
                graph.nodes[name] = nir.Output(output_type=arr, metadata=dict(node.metadata or {}))
            notes.append(f"{name}: batch axis removed from its type ({shape})")
    return notes


def _norse_tau(graph: nir.NIRGraph, dt: float) -> list[str]:
    notes = []
    for name, node in graph.nodes.items():
        for f in TAU_FIELDS.get(type(node).__name__, ()):
            tau = _f32(getattr(node, f))
            if tau.size and float(tau.min()) < dt:
                setattr(node, f, (tau / np.float32(dt)).astype(np.float32))
                notes.append(
                    f"{name}: {f} divided by dt = {dt:g} (norse 1.1.0 writes τ·dt): "
                    f"{float(tau.min()):.6g} → {float(tau.min()) / dt:.6g} s"
                )
    return notes


def _inclusive_threshold(graph: nir.NIRGraph, dt: float) -> list[str]:
    notes = []
    for name, node in graph.nodes.items():
        if isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            th = _f32(node.v_threshold)
            node.v_threshold = np.nextafter(th, np.float32(-np.inf))
            notes.append(f"{name}: threshold → nextafter(θ, −∞) (the writer fires at v ≥ θ, NIR at v > θ)")
    return notes


def _edges_of(graph: nir.NIRGraph, name: str) -> tuple[list[str], list[str]]:
    return [a for a, b in graph.edges if b == name], [b for a, b in graph.edges if a == name]


def _soft_cycle(
    graph: nir.NIRGraph,
    name: str,
    integrator: nir.NIRNode,
    theta: np.ndarray,
    w: np.ndarray,
    pre: list[tuple[str, nir.NIRNode]] = (),
) -> None:
    """Replace node ``name`` by [pre …] → integrator → Threshold(name) → Scale(w) → integrator (subtractive
    reset).

    The Threshold keeps the node's name, so its spikes line up with the original node's in comparisons.
    """
    ins, outs = _edges_of(graph, name)
    graph.edges = [e for e in graph.edges if name not in e]
    chain = [f"{name}_{label}" for label, _ in pre] + [f"{name}_v"]
    for label, node in pre:
        graph.nodes[f"{name}_{label}"] = node
    graph.nodes[f"{name}_v"] = integrator
    graph.nodes[name] = nir.Threshold(threshold=np.nextafter(theta, np.float32(-np.inf)).astype(np.float32))
    graph.nodes[f"{name}_reset"] = nir.Scale(scale=w.astype(np.float32))
    graph.edges += [(a, chain[0]) for a in ins] + list(zip(chain[:-1], chain[1:], strict=True))
    graph.edges += [(chain[-1], name), (name, f"{name}_reset"), (f"{name}_reset", chain[-1])]
    graph.edges += [(name, b) for b in outs]


def _sinabs(graph: nir.NIRGraph, dt: float) -> list[str]:
    notes = []
    for name, node in list(graph.nodes.items()):
        if isinstance(node, nir.IF):
            theta = _f32(node.v_threshold)
            r = _f32(node.r)
            _soft_cycle(graph, name, nir.I(r=r), theta, -theta)
            notes.append(
                f"{name}: IF (sinabs IAF: subtract θ per spike) → I → Threshold → Scale(−θ) cycle; "
                "more than one spike per step (v ≥ 2θ) has no NIR form"
            )
        elif isinstance(node, nir.LIF):
            theta = _f32(node.v_threshold)
            alpha = np.exp(-1.0 / _f32(node.tau).astype(np.float64))
            tau = (1.0 / (1.0 - alpha)).astype(np.float32)
            # H = α·H + (1 − α)·(x + w·S) with w = −α·θ/(1 − α): the reset subtracts θ from the post-spike v
            _soft_cycle(
                graph,
                name,
                nir.LI(tau=tau, r=np.ones_like(tau), v_leak=np.zeros_like(tau)),
                theta,
                -(alpha * theta) / (1.0 - alpha),
            )
            notes.append(
                f"{name}: LIF (sinabs: τ in steps, α = exp(−1/τ), norm_input=True, subtract θ) → LI(τ' = "
                "1/(1 − α)) → Threshold → Scale(−α·θ/(1 − α)) cycle at dt = 1"
            )
    return notes


def infer_dt(graph: nir.NIRGraph) -> float | None:
    """rockpool's dt from a CubaLIF it wrote: r·dt = τ_mem·exp(−dt/τ_mem) (bisection; None when not
    found)."""
    for node in graph.nodes.values():
        if not isinstance(node, nir.CubaLIF):
            continue
        tau, r = float(_f32(node.tau_mem).ravel()[0]), float(_f32(node.r).ravel()[0])

        def f(d: float, r: float = r, tau: float = tau) -> float:  # increasing in d
            return r * d - tau * math.exp(-d / tau)

        lo, hi = 1e-9, tau * 10
        if f(lo) > 0 or f(hi) < 0:
            return None
        for _ in range(200):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return float(np.float32(hi))
    return None


def _rockpool(graph: nir.NIRGraph, dt: float) -> list[str]:
    notes = []
    for name, node in list(graph.nodes.items()):
        if not isinstance(node, nir.CubaLIF):
            continue
        theta = _f32(node.v_threshold)
        alpha = np.exp(-dt / _f32(node.tau_mem).astype(np.float64))
        beta = np.exp(-dt / _f32(node.tau_syn).astype(np.float64))
        syn_tau = (dt / (1.0 - beta)).astype(np.float32)
        mem_tau = (dt / (1.0 - alpha)).astype(np.float32)
        syn = nir.LI(tau=syn_tau, r=(beta / (1.0 - beta)).astype(np.float32), v_leak=np.zeros_like(syn_tau))
        mem = nir.LI(tau=mem_tau, r=(1.0 / (1.0 - alpha)).astype(np.float32), v_leak=_f32(node.v_leak))
        _soft_cycle(graph, name, mem, theta, -(alpha * theta), pre=[("syn", syn)])
        notes.append(
            f"{name}: CubaLIF (rockpool: isyn ← β(isyn + I), v ← α·v + isyn, subtract θ) → LI synapse → "
            "LI membrane → Threshold → Scale(−α·θ) cycle; v_leak is 0 because rockpool's writer drops "
            "the bias"
        )
    return notes


WRITERS: Registry[str, Writer] = Registry("NIR writer", UnknownNameError)
for _w in (
    Writer(
        "norse",
        1e-3,
        (strip_batch_axes, broadcast_zero_dim, _norse_tau),
        "norse 1.1.0 to_nir: τ·dt (issue #411), 0-dim parameters, dt 1e-3 s",
    ),
    Writer(
        "snntorch",
        1e-4,
        (strip_batch_axes, broadcast_zero_dim),
        "snntorch 1.0.0 export_to_nir: dt 1e-4 s hard-coded, 0-dim parameters from a scalar beta",
    ),
    Writer(
        "spikingjelly",
        1e-4,
        (strip_batch_axes, _inclusive_threshold),
        "spikingjelly 2.0.0 export_to_nir: dt 1e-4 s (default), threshold for H ≥ θ",
    ),
    Writer(
        "sinabs",
        1.0,
        (strip_batch_axes, broadcast_zero_dim, _sinabs),
        "sinabs 3.1.3 to_nir: τ in steps (dt = 1), exponential decay, subtractive multi-spike reset",
    ),
    Writer(
        "rockpool",
        None,
        (strip_batch_axes, _rockpool),
        "rockpool 3.1.0 to_nir: dt from r, batch axes in Input/Output, exponential synapse and membrane, "
        "subtractive multi-spike reset, bias dropped",
    ),
):
    WRITERS.add(_w.name, _w)


def _refresh_neuron_types(graph: nir.NIRGraph) -> None:
    """Neuron nodes whose declared type is empty but whose parameters have a shape get that shape (objects
    built in memory and edited, like norse's after broadcasting; a file read back recomputes them anyway)."""
    for node in graph.nodes.values():
        if type(node).__name__ not in ("LIF", "LI", "CubaLIF", "CubaLI", "IF", "I"):
            continue
        shape = np.shape(getattr(node, "v_threshold", getattr(node, "r", None)))
        declared = np.asarray(next(iter((node.input_type or {"input": []}).values()))).reshape(-1)
        if shape and declared.size == 0:
            node.input_type = {"input": np.array(shape)}
            node.output_type = {"output": np.array(shape)}


def correct(graph: nir.NIRGraph, writer: str, dt: float) -> tuple[nir.NIRGraph, list[str]]:
    """A corrected copy of ``graph`` (written by ``writer``) and one note per change; the result is
    type-checked."""
    w = WRITERS.get(writer, "--writer")
    g = copy.deepcopy(graph)
    notes: list[str] = []
    for fix in w.corrections:
        notes += fix(g, dt)
    _refresh_neuron_types(g)
    try:
        g = nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=dict(g.metadata or {}), type_check=True)
    except (ValueError, AssertionError, NotImplementedError, KeyError) as exc:
        raise InvalidInputError(
            f"the graph corrected for writer {writer!r} fails NIR's type check: {exc}"
        ) from None
    return g, notes


def guess_writer(graph: nir.NIRGraph, dt: float) -> str | None:
    """The writer a file most likely came from, from traces each writer leaves (``None`` when nothing fits).

    rockpool names nodes ``<i>_LIFTorch`` and writes CubaLIF; spikingjelly names its Input ``input_1`` and
    nodes ``_<i>``; sinabs writes ``IF`` nodes with r = 1; snntorch writes LIF with r = τ/1e-4; norse
    writes LIF τ below dt (τ·dt). A guess only: ``check-nir`` says it and asks for ``--writer``.
    """
    names = list(graph.nodes)
    nodes = list(graph.nodes.values())
    lifs = [n for n in nodes if isinstance(n, nir.LIF)]
    if any(n.endswith("_LIFTorch") for n in names) or any(isinstance(n, nir.CubaLIF) for n in nodes):
        return "rockpool" if any(n.endswith("_LIFTorch") for n in names) else None
    if "input_1" in names and any(n.startswith("_") for n in names):
        return "spikingjelly"
    if any(isinstance(n, nir.IF) for n in nodes) and not lifs:
        return "sinabs"
    if lifs and all(np.allclose(_f32(n.r), _f32(n.tau) / 1e-4, rtol=1e-4) for n in lifs):
        return "snntorch"
    if lifs and all(float(_f32(n.tau).min()) < dt for n in lifs):
        return "norse"
    return None
