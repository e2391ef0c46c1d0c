"""Graph rewrites that peers' NIR importers need, shared by the profiles (flat graphs: ``nodes`` dict +
``edges``).

Each rewrite edits ``nodes``/``edges`` in place and returns notes (what it changed and whether it is
exact):

- ``edges_for_junctions``: a residual junction ``Scale(1)`` (``snndeploy_role = residual_add``) is removed
  and both branches feed its successors directly (a NIR node sums its inputs; ``a + b == b + a`` in floats,
  so exact).
- ``batch_safe_flatten``: ``Flatten(s, e)`` written with negative dimensions (``s − ndim``, ``e − ndim``),
  which mean the same for NIR's unbatched shapes and for ``torch.nn.Flatten`` on a batched tensor;
  importers that pass ``start_dim`` to ``torch.nn.Flatten`` unchanged (norse, snntorch) otherwise merge the
  batch axis.
- ``avgpool_as_sumpool``: ``AvgPool2d(k)`` → ``SumPool2d(k)`` with 1/(k₀k₁) folded into the next weighted
  node (through Flatten): W∗avg = (W/k²)∗sum in real arithmetic, and bit for bit when k₀k₁ is a power of
  two.
- ``affine_for_linear``: ``Linear(W)`` → ``Affine(W, 0)`` for importers without a ``nir.Linear`` mapping.
- ``fold_input_scale``: multiply the weights (and bias) of a neuron's weighted predecessors by s (the
  neuron's r); exact in real arithmetic, and bit for bit when s is a power of two.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import nir
import numpy as np

__all__ = [
    "edges_for_junctions",
    "batch_safe_flatten",
    "avgpool_as_sumpool",
    "affine_for_linear",
    "graph_executor_order",
    "fold_input_scale",
    "preds",
    "succs",
    "fold_r_into_weights",
    "WEIGHTED",
]

WEIGHTED = (nir.Affine, nir.Linear, nir.Conv2d, nir.Conv1d)
Nodes = dict[str, nir.NIRNode]
Edges = list[tuple[str, str]]


def preds(edges: Edges, name: str) -> list[str]:
    return [a for a, b in edges if b == name]


def succs(edges: Edges, name: str) -> list[str]:
    return [b for a, b in edges if a == name]


def _meta_role(node: nir.NIRNode) -> str:
    role = (node.metadata or {}).get("snndeploy_role", "")
    return role.decode() if isinstance(role, bytes) else str(role)


def _is_power_of_two(x: float) -> bool:
    m, _ = np.frexp(np.float64(x))
    return bool(x > 0 and m == 0.5)


def edges_for_junctions(nodes: Nodes, edges: Edges, ctx: dict[str, Any]) -> list[str]:
    """Replace every residual-junction ``Scale(1)`` by direct edges from its inputs to its successors."""
    notes = []
    for name in [n for n, v in nodes.items() if isinstance(v, nir.Scale) and _meta_role(v) == "residual_add"]:
        ins, outs = preds(edges, name), succs(edges, name)
        edges[:] = [e for e in edges if name not in e] + [(a, b) for b in outs for a in ins]
        del nodes[name]
        notes.append(
            f"{name}: residual junction Scale(1) removed; {' + '.join(ins)} feed {', '.join(outs)} directly "
            "(exact)"
        )
    return notes


def batch_safe_flatten(nodes: Nodes, edges: Edges, ctx: dict[str, Any]) -> list[str]:
    """Write every ``Flatten``'s dimensions counted from the end (the same axes with or without a batch
    axis)."""
    notes = []
    for name, node in list(nodes.items()):
        if not isinstance(node, nir.Flatten):
            continue
        ndim = int(np.asarray(node.input_type["input"]).size)
        start, end = int(node.start_dim), int(node.end_dim)
        new_start = start - ndim if start >= 0 else start
        new_end = end - ndim if end >= 0 else end
        if (new_start, new_end) != (start, end):
            nodes[name] = nir.Flatten(
                input_type=node.input_type,
                start_dim=new_start,
                end_dim=new_end,
                metadata=dict(node.metadata or {}),
            )
            notes.append(
                f"{name}: Flatten({start}, {end}) written as Flatten({new_start}, {new_end}) (same axes; "
                "torch.nn.Flatten keeps the batch axis) (exact)"
            )
    return notes


def _next_weighted(nodes: Nodes, edges: Edges, name: str) -> str | None:
    """The single weighted node reached from ``name`` through Flatten nodes only (each the sole successor)."""
    cur = name
    while True:
        nxt = succs(edges, cur)
        if len(nxt) != 1 or len(preds(edges, nxt[0])) != 1:
            return None
        node = nodes[nxt[0]]
        if isinstance(node, WEIGHTED):
            return nxt[0]
        if not isinstance(node, nir.Flatten):
            return None
        cur = nxt[0]


def _scale_weights(node: nir.NIRNode, s: np.ndarray | float, bias_too: bool) -> nir.NIRNode:
    """A copy of weighted ``node`` with weights (per output unit when ``s`` is an array) multiplied by
    ``s``."""
    s = np.asarray(s, dtype=np.float32)
    w = np.asarray(node.weight, dtype=np.float32)
    per_out = s.reshape(-1, *([1] * (w.ndim - 1))) if s.ndim else s
    kw = {
        f.name: getattr(node, f.name)
        for f in dataclasses.fields(node)
        if f.init and f.name not in ("weight", "bias", "metadata")
    }
    kw["metadata"] = dict(node.metadata or {})
    new_w = (w * per_out).astype(np.float32)
    if hasattr(node, "bias"):
        b = np.asarray(node.bias, dtype=np.float32)
        kw["bias"] = (
            (b * s.reshape(-1)).astype(np.float32)
            if bias_too and s.ndim
            else ((b * s).astype(np.float32) if bias_too else b)
        )
    return type(node)(weight=new_w, **kw)


def avgpool_as_sumpool(nodes: Nodes, edges: Edges, ctx: dict[str, Any]) -> list[str]:
    """``AvgPool2d(k)`` → ``SumPool2d(k)`` and the next weighted node's weights (not bias) divided by
    k₀·k₁."""
    notes = []
    for name, node in list(nodes.items()):
        if not isinstance(node, nir.AvgPool2d):
            continue
        k = np.atleast_1d(np.asarray(node.kernel_size)).astype(int)
        k = np.repeat(k, 2) if k.size == 1 else k
        pad = np.atleast_1d(np.asarray(node.padding)).astype(int)
        nxt = _next_weighted(nodes, edges, name)
        if nxt is None or np.any(pad != 0):
            why = "padding" if np.any(pad != 0) else "no single weighted node follows"
            ctx["unrepresentable"].append(
                f"{name}: AvgPool2d kept ({why}); the importer has no AvgPool2d mapping"
            )
            continue
        area = float(k[0] * k[1])
        nodes[name] = nir.SumPool2d(
            kernel_size=np.asarray(node.kernel_size),
            stride=np.asarray(node.stride),
            padding=np.asarray(node.padding),
            metadata=dict(node.metadata or {}),
        )
        nodes[nxt] = _scale_weights(nodes[nxt], np.float32(1.0 / area), bias_too=False)
        exact = (
            "exact: a power of two"
            if _is_power_of_two(area)
            else "exact in real arithmetic, rounding may differ"
        )
        notes.append(
            f"{name}: AvgPool2d({k.tolist()}) written as SumPool2d, 1/{area:g} folded into {nxt}'s weights "
            f"({exact})"
        )
    return notes


def affine_for_linear(nodes: Nodes, edges: Edges, ctx: dict[str, Any]) -> list[str]:
    """``nir.Linear(W)`` → ``nir.Affine(W, 0)``."""
    notes = []
    for name, node in list(nodes.items()):
        if isinstance(node, nir.Linear):
            w = np.asarray(node.weight, dtype=np.float32)
            nodes[name] = nir.Affine(
                weight=w, bias=np.zeros(w.shape[0], np.float32), metadata=dict(node.metadata or {})
            )
            notes.append(f"{name}: Linear written as Affine with zero bias (exact)")
    return notes


def _gain_node(shape: tuple[int, ...], scale: float) -> nir.NIRNode:
    """A weighted node that multiplies its input by ``scale`` (diagonal Affine, or 1×1 Conv2d per channel)."""
    s = np.float32(scale)
    if len(shape) == 1:
        return nir.Affine(
            weight=np.eye(shape[0], dtype=np.float32) * s,
            bias=np.zeros(shape[0], np.float32),
            metadata={"snndeploy_role": "input_gain"},
        )
    c = shape[0]
    w = (np.eye(c, dtype=np.float32) * s).reshape(c, c, 1, 1)
    return nir.Conv2d(
        input_shape=tuple(shape[1:]),
        weight=w,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=np.zeros(c, np.float32),
        metadata={"snndeploy_role": "input_gain"},
    )


def fold_input_scale(nodes: Nodes, edges: Edges, name: str, scale: float) -> str:
    """Multiply the weights and biases of every predecessor of ``name`` by ``scale``; a predecessor that is
    not a weighted node feeding only ``name`` (an identity shortcut) gets a diagonal gain node instead.
    Returns a note."""
    if scale == 1.0:
        return ""
    shape = tuple(int(v) for v in np.asarray(nodes[name].input_type["input"]))
    done, inserted = [], []
    for p in preds(edges, name):
        if isinstance(nodes[p], WEIGHTED) and succs(edges, p) == [name]:
            nodes[p] = _scale_weights(nodes[p], np.float32(scale), bias_too=True)
            done.append(p)
            continue
        gain = f"{name}_gain_{p}"
        nodes[gain] = _gain_node(shape, scale)
        edges[:] = [(a, gain if (a, b) == (p, name) else b) for a, b in edges] + [(gain, name)]
        inserted.append(gain)
    exact = (
        "exact: a power of two"
        if _is_power_of_two(scale)
        else "exact in real arithmetic, rounding may differ"
    )
    extra = f"; diagonal gain node(s) {', '.join(inserted)} on the other input(s)" if inserted else ""
    return f"{name}: input gain {scale:.8g} folded into {', '.join(done) or 'no weights'}{extra} ({exact})"


def fold_r_into_weights(graph: nir.NIRGraph) -> nir.NIRGraph:
    """Copy of a flat ``graph`` with each ``nir.LIF``'s r folded into its weighted predecessor(s) (r → 1).

    LIF input r·(W x + b) = (rW) x + r b (exact in real arithmetic). A LIF with a per-neuron r folds
    row-wise; a LIF whose predecessors are not all weighted nodes feeding only it is left as is.
    """
    import copy

    g = copy.deepcopy(graph)
    nodes, edges = dict(g.nodes), list(g.edges)
    for name, node in list(nodes.items()):
        if not isinstance(node, nir.LIF):
            continue
        r = np.asarray(node.r, dtype=np.float32)
        ins = preds(edges, name)
        if not ins or any(not isinstance(nodes[p], WEIGHTED) or succs(edges, p) != [name] for p in ins):
            continue
        per_out = r.reshape(r.shape[0], -1)[:, 0] if r.ndim > 1 else r
        for p in ins:
            nodes[p] = _scale_weights(nodes[p], per_out, bias_too=True)
        node.r = np.ones_like(r)
    g.nodes, g.edges = nodes, edges
    return g


def graph_executor_order(nodes: Nodes, edges: Edges, ctx: dict[str, Any]) -> list[str]:
    """Check (no edit) the graph against nirtorch 2.6's deprecated ``GraphExecutor`` (``nirtorch.load``:
    norse, sinabs, rockpool): it runs nodes in depth-first *pre*-order from the Input along the edge list,
    feeds a node the previous step's value of any input not yet computed in this step, and returns the last
    node it ran. A junction reached through one branch before the other branch ran is therefore computed
    with stale input."""
    order: list[str] = []
    seen: set[str] = set()
    start = next(n for n, v in nodes.items() if isinstance(v, nir.Input))
    stack = [start]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        order.append(n)
        stack += [b for b in reversed(succs(edges, n)) if b not in seen]
    pos = {n: i for i, n in enumerate(order)}
    for n in order:
        late = [p for p in preds(edges, n) if pos.get(p, -1) > pos[n]]
        if late and not isinstance(nodes[n], nir.Output):
            ctx["unrepresentable"].append(
                f"{n}: nirtorch's GraphExecutor (depth-first pre-order) runs it before its input(s) "
                f"{', '.join(late)}, which then arrive one step late; a residual block whose shortcut is not "
                f"the "
                "identity cannot run there"
            )
    out = next(n for n, v in nodes.items() if isinstance(v, nir.Output))
    last = [n for n in order if n != out][-1]
    if preds(edges, out) != [last]:
        ctx["unrepresentable"].append(
            f"nirtorch's GraphExecutor returns the output of {last}, the last node of its "
            f"depth-first order, not of {', '.join(preds(edges, out))}"
        )
    return []
