"""spikingjelly adapter: ``import_from_nir(graph, dt, step_mode='m')`` (``'s'`` for graphs with cycles)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import PeerAdapter, PeerOutput, dt_of, hook_nodes, neuron_nodes, stack_steps

__all__ = ["ADAPTER"]


def run(graph: Any, x: Tensor) -> PeerOutput:
    from importlib.metadata import version

    from spikingjelly.activation_based.nir_exchange.from_nir import import_from_nir

    dt = dt_of(graph)
    names = neuron_nodes(graph)
    try:
        net = import_from_nir(graph, dt=dt, step_mode="m")
        mode = "m"
    except NotImplementedError:  # graphs with cycles need single-step mode
        net = import_from_nir(graph, dt=dt, step_mode="s")
        mode = "s"
    with torch.no_grad(), hook_nodes(net, names) as store:
        if mode == "m":
            out, _ = net(x, None)
            spikes = {n: v[0] for n, v in store.items() if v}
        else:
            state, steps = None, []
            for t in range(x.shape[0]):
                o, state = net(x[t], state)
                steps.append(o)
            out, spikes = torch.stack(steps), stack_steps(store)
    return PeerOutput(
        out, spikes, f"spikingjelly {version('spikingjelly')} import_from_nir(dt={dt:g}, step_mode='{mode}')"
    )


ADAPTER = PeerAdapter("spikingjelly", "spikingjelly", run)
