"""Graph plumbing for nirsim: flatten nested NIR graphs, find cycles (strongly connected components),
schedule.

Cycle semantics (``CYCLE_SEMANTICS`` in ``exporters.nir``): the acyclic part runs in topological order, a
whole sequence per node; a cycle runs step by step, its nodes in depth-first order from the cycle's entry;
an edge whose target comes at or before its source in that order delivers the source's value from the
previous step (0 at t = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import nir

from ..errors import ExportError

__all__ = ["FlatGraph", "flatten_graph", "schedule", "Component"]


@dataclass
class FlatGraph:
    """A graph without nesting: node names are dotted paths (``block.main_0``)."""

    nodes: dict[str, nir.NIRNode]
    edges: list[tuple[str, str]]
    inputs: list[str]
    outputs: list[str]

    def preds(self, name: str) -> list[str]:
        """Sources of ``name``'s incoming edges, in edge-list order (their values are summed in this
        order)."""
        return [a for a, b in self.edges if b == name]


def flatten_graph(graph: nir.NIRGraph, prefix: str = "") -> FlatGraph:
    """Inline every nested ``NIRGraph``: its single ``Input``/``Output`` become identity nodes of the
    parent."""
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            sub = flatten_graph(node, f"{full}.")
            if len(sub.inputs) != 1 or len(sub.outputs) != 1:
                raise ExportError(
                    f"node {full!r}: nested graphs need exactly one Input and one Output, got "
                    f"{len(sub.inputs)} and {len(sub.outputs)}"
                )
            nodes.update(sub.nodes)
            edges += sub.edges
            entry[name], exit_[name] = sub.inputs[0], sub.outputs[0]
        else:
            nodes[full] = node
            entry[name] = exit_[name] = full
    for a, b in graph.edges:
        if a not in exit_ or b not in entry:
            missing = a if a not in exit_ else b
            raise ExportError(
                f"edge ({a!r}, {b!r}) names node {prefix}{missing!r}, which the graph does not have"
            )
        edges.append((exit_[a], entry[b]))
    inputs = [f"{prefix}{n}" for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outputs = [f"{prefix}{n}" for n, v in graph.nodes.items() if isinstance(v, nir.Output)]
    return FlatGraph(nodes, edges, inputs, outputs)


@dataclass
class Component:
    """A scheduling unit: one node (``cyclic=False``) or a cycle run step by step."""

    nodes: list[str]
    cyclic: bool
    delayed: set[tuple[str, str]]


def _sccs(names: list[str], succ: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), in reverse topological order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in names:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for j in range(i, len(succ[v])):
                w = succ[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return out


def schedule(g: FlatGraph) -> list[Component]:
    """Components in execution order; inside a cycle, DFS order from its entry and the delayed (back)
    edges."""
    names = list(g.nodes)
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in g.edges:
        succ[a].append(b)
    comps = list(reversed(_sccs(names, succ)))
    result = []
    for comp in comps:
        members = set(comp)
        self_loop = any(a == b and a in members for a, b in g.edges)
        if len(comp) == 1 and not self_loop:
            result.append(Component(comp, False, set()))
            continue
        # entry: a member with an edge from outside (else the first in graph order)
        entries = [n for n in names if n in members and any(a not in members for a in g.preds(n))]
        start = entries[0] if entries else next(n for n in names if n in members)
        order: list[str] = []
        seen: set[str] = set()
        stack = [start]
        while stack:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            order.append(v)
            stack += [w for w in reversed(succ[v]) if w in members and w not in seen]
        pos = {n: i for i, n in enumerate(order)}
        delayed = {(a, b) for a, b in g.edges if a in members and b in members and pos[b] <= pos[a]}
        result.append(Component(order, True, delayed))
    return result
