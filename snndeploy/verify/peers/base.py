"""What every peer adapter shares: the result record, node-name hooks, the dt of a graph, stepwise running.

A peer adapter imports a ``nir.NIRGraph`` with the peer's own importer, runs it on ``x`` [T, B, *] and
returns the graph's output plus the output of every imported module whose name is a NIR node name (nirtorch
names the modules after the nodes, with ``.`` → ``_``), so that spikes line up per layer with snndeploy's
runtimes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["PeerOutput", "PeerAdapter", "hook_nodes", "dt_of", "run_stepwise", "neuron_nodes"]

NEURON_TYPES = ("LIF", "CubaLIF", "IF", "Threshold")


@dataclass
class PeerOutput:
    """A peer's run: the output [T, B, *], the spikes of each neuron node {NIR node name: [T, B, *]}, a
    detail."""

    output: Tensor
    node_spikes: dict[str, Tensor] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class PeerAdapter:
    """One peer: ``run(graph, x) -> PeerOutput``; ``package`` is what must import for it to be
    available."""

    name: str
    package: str
    run: Callable[[Any, Tensor], PeerOutput]


def sanitize(name: str) -> str:
    return name.replace(".", "_")


def neuron_nodes(graph: Any) -> list[str]:
    """Names of the graph's spiking nodes (top level; peers get flat graphs)."""
    return [n for n, v in graph.nodes.items() if type(v).__name__ in NEURON_TYPES]


@contextlib.contextmanager
def hook_nodes(net: nn.Module, names: list[str]) -> Iterator[dict[str, list[Tensor]]]:
    """Forward hooks on the modules of ``net`` named after NIR nodes ``names``: yields {node: [outputs per
    call]}."""
    wanted = {sanitize(n): n for n in names}
    store: dict[str, list[Tensor]] = {n: [] for n in names}
    handles = []
    for mod_name, module in net.named_modules():
        key = mod_name.rsplit(".", 1)[-1]
        if key in wanted:

            def hook(_m: nn.Module, _a: Any, out: Any, node: str = wanted[key]) -> None:
                value = out[0] if isinstance(out, (tuple, list)) else out
                store[node].append(value.detach().float())

            handles.append(module.register_forward_hook(hook))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def dt_of(graph: Any, default: float = 1e-3) -> float:
    """The graph's ``dt`` metadata (seconds per step), else ``default``."""
    raw = (graph.metadata or {}).get("dt")
    return float(np.asarray(raw)) if raw is not None else default


def run_stepwise(net: Any, x: Tensor) -> Tensor:
    """``net(x[t], state) -> (out, state)`` for t = 0..T−1 (nirtorch graph modules); returns [T, B, *]."""
    state = None
    outs = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, state = net(x[t], state)
            outs.append(out)
    return torch.stack(outs)


def stack_steps(store: dict[str, list[Tensor]]) -> dict[str, Tensor]:
    """{node: [per-step outputs [B, *]]} → {node: [T, B, *]} (nodes never called are left out)."""
    return {n: torch.stack(v) for n, v in store.items() if v}
