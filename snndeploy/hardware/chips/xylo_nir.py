"""snndeploy NIR → the NIR dialect rockpool 3.1.0 reads (``rockpool.nn.modules.torch.nir.from_nir``,
nir 1.0.8).

Measured in the ``xylosim`` venv (``docs/hardware_xylo.md``): rockpool imports ``Input``, ``Output``,
``Affine``, ``Linear``, ``LI`` and ``CubaLIF`` (and a 4-node ``NIRGraph`` of CubaLIF + Affine/Linear as a
recurrent layer); ``nir.LIF`` fails (``AttributeError: 'LIF' object has no attribute 'tau_mem'``: rockpool
reads the pre-1.0 field name, nir 1.0.x calls it ``tau``), and ``CubaLI``, ``IF``, ``I``, ``Threshold``,
``Scale``, ``Delay``, ``Flatten`` and convolutions raise ``NotImplementedError``. snndeploy writes a
hard-reset LIF as ``nir.LIF`` and a soft-reset LIF as ``LI → Threshold`` with a recurrent ``Scale``
(``exporters/nir.py``), so rockpool reads neither.

How rockpool reads a ``CubaLIF`` (its ``LIFTorch``, and the Xylo ``mapper`` on ``as_graph()``):
``dt = min(tau_mem / (1 + r))``; per step ``isyn += input; v *= α; isyn *= β; v += Σ isyn + bias``; spikes
``floor(v/θ)`` where ``v ≥ θ``; ``v −= spikes·θ``; ``bias`` is ``v_leak`` itself (a per-step increment) and
``r`` and ``w_in`` are read for nothing else. The Xylo mapper turns τ into ``dash = log2(τ/dt)``, i.e. the
decay ``1 − dt/τ`` (forward Euler, as snndeploy's ``LIFSpec``); rockpool's own torch simulation uses
``α = exp(−dt/τ)`` instead, so the two disagree with each other for short τ. ``to_rockpool_nir`` targets the
mapper:

    LIF layer (a, b, c, θ) after weights (W, B)  →  Linear(b·W) → CubaLIF(tau_mem = dt/(1 − a),
        tau_syn = tau_syn_steps·dt, r = a/(1 − a), v_leak = c + b·B, v_threshold = θ, v_reset = 0, w_in = 1)

(a, b, c from the node's ``snndeploy`` metadata, else from NIR's Euler form a = 1 − dt/τ, b = dt·r/τ,
c = dt·v_leak/τ). θ is moved one float32 step up: NIR fires at v > θ_nir, rockpool at v ≥ θ. What stays
different: rockpool (like Xylo) always filters the input through the synaptic current (``tau_syn_steps = 2``
is Xylo's fastest, dash_syn = 1), resets by subtraction (a hard reset is marked approximate in the node
metadata), and fires several spikes per step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ExportError
from ...io import atomic_path

__all__ = ["ROCKPOOL_NIR_NODES", "to_rockpool_nir", "write_rockpool_nir"]

#: NIR node types rockpool 3.1.0's ``from_nir`` converts (measured with nir 1.0.8).
ROCKPOOL_NIR_NODES = ("Input", "Output", "Affine", "Linear", "LI", "CubaLIF")


def _f64(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, np.float64), shape).copy()


def _spec_arrays(node: Any, dt: float, shape: tuple[int, ...]) -> dict[str, np.ndarray] | None:
    """(a, b, c) from the node's snndeploy metadata (the folded ``LIFSpec``), else from its NIR parameters."""
    record = (getattr(node, "metadata", None) or {}).get("snndeploy")
    if record:
        spec = json.loads(record)["spec"]
        k, tau = float(spec["scale"]), float(spec["tau"])
        return {"a": _f64(k * (1 - 1 / tau), shape), "b": _f64(k / tau if spec["decay_input"] else k, shape),
                "c": _f64(k * float(spec["v_rest"]) / tau, shape)}
    tau = np.asarray(node.tau, np.float64)
    return {"a": _f64(1 - dt / tau, shape), "b": _f64(dt * np.asarray(node.r) / tau, shape),
            "c": _f64(dt * np.asarray(node.v_leak) / tau, shape)}


def _up(theta: Any) -> np.ndarray:
    t = np.asarray(theta, np.float32)
    return np.nextafter(t, np.float32(np.inf)).astype(np.float32)


def to_rockpool_nir(graph: Any, dt: float | None = None, tau_syn_steps: float = 2.0) -> Any:
    """Rewrite an snndeploy NIR graph (``exporters.nir.to_nir``) into the dialect rockpool reads (module
    docstring).

    Raises ``ExportError`` naming the node for anything rockpool cannot import or the rewrite cannot express.
    """
    import nir

    dt = float(dt if dt is not None else (graph.metadata or {}).get("dt", 0.0))
    if not dt > 0:
        raise ExportError("to_rockpool_nir: the graph has no dt in its metadata; pass dt")
    nodes, edges = dict(graph.nodes), list(graph.edges)
    succ = {n: [d for s, d in edges if s == n] for n in nodes}
    pred = {n: [s for s, d in edges if d == n] for n in nodes}
    groups: list[tuple[str, str, list[str], np.ndarray, bool]] = []  # (in, out, dropped, θ, hard)
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind == "LIF":
            groups.append((name, name, [], np.asarray(node.v_threshold), True))
        elif kind == "LI":
            thr = [t for t in succ[name] if type(nodes[t]).__name__ == "Threshold"]
            if thr:
                scale = [s for s in succ[thr[0]] if type(nodes[s]).__name__ == "Scale" and name in succ[s]]
                groups.append((name, thr[0], scale, np.asarray(nodes[thr[0]].threshold), False))
    grouped = {n for g in groups for n in (g[0], g[1], *g[2])}
    for name, node in nodes.items():
        if name not in grouped and type(node).__name__ not in ROCKPOOL_NIR_NODES:
            raise ExportError(f"to_rockpool_nir: node {name!r} ({type(node).__name__}) has no rockpool "
                              f"equivalent; rockpool 3.1.0 reads {', '.join(ROCKPOOL_NIR_NODES)}")
    for n_in, n_out, dropped, theta, hard in groups:
        node = nodes[n_in]
        shape = tuple(np.shape(theta))
        p = _spec_arrays(node, dt, shape)
        ws = pred[n_in]
        ws = [w for w in ws if w not in dropped]
        if len(ws) != 1 or type(nodes[ws[0]]).__name__ not in ("Affine", "Linear") or len(succ[ws[0]]) != 1:
            raise ExportError(f"to_rockpool_nir: neuron node {n_in!r} must be fed by exactly one "
                              "Affine/Linear node of its own (rockpool's Xylo mapper: every neuron input "
                              "comes from a weight)")
        w_node = nodes[ws[0]]
        w = np.asarray(w_node.weight, np.float64)
        bias = np.asarray(getattr(w_node, "bias", np.zeros(w.shape[0])), np.float64)
        nodes[ws[0]] = nir.Linear(weight=(p["b"].reshape(-1, 1) * w).astype(np.float32))
        a = p["a"]
        if np.any((a <= 0) | (a >= 1)):
            raise ExportError(f"to_rockpool_nir: node {n_in!r}: decay a must lie in (0, 1) for a CubaLIF")
        meta = {"rockpool_dialect": json.dumps({"source": type(node).__name__,
                                                "reset": "hard, approximated by "
                                                "subtraction" if hard else "subtract (exact)",
                                                "tau_syn_steps": tau_syn_steps})}
        for d in (n_out, *dropped):
            if d != n_in:
                del nodes[d]
        nodes[n_in] = nir.CubaLIF(
            tau_syn=np.full(shape, tau_syn_steps * dt, np.float32), tau_mem=(dt / (1 - a)).astype(np.float32),
            r=(a / (1 - a)).astype(np.float32), v_leak=(p["c"] + p["b"] * bias).astype(np.float32),
            v_threshold=_up(theta), v_reset=np.zeros(shape, np.float32), w_in=np.ones(shape, np.float32),
            metadata=meta)
        inner = {n_in, n_out, *dropped}
        edges = [(n_in if s == n_out else s, d) for s, d in edges if not (s in inner and d in inner)]
        edges = [(s, d) for s, d in edges if s not in dropped and d not in dropped]
    md = dict(graph.metadata or {})
    md["rockpool_dialect"] = json.dumps({"reader": "rockpool 3.1.0 from_nir", "dt": dt,
                                         "tau_syn_steps": tau_syn_steps})
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=md)


def write_rockpool_nir(graph: Any, path: str | Path) -> Path:
    """Write ``graph`` (already in rockpool's dialect) as a NIR HDF5 file, atomically."""
    import nir

    target = Path(path)
    with atomic_path(target) as tmp:
        nir.write(str(tmp), graph)
    return target
