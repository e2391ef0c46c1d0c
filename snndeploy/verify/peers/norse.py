"""norse adapter: ``norse.torch.from_nir(graph, dt)`` (nirtorch 2.6 ``GraphExecutor``), stepped with its
state."""

from __future__ import annotations

import logging
from typing import Any

from torch import Tensor

from .base import PeerAdapter, PeerOutput, dt_of, hook_nodes, neuron_nodes, run_stepwise, stack_steps

__all__ = ["ADAPTER"]


def run(graph: Any, x: Tensor) -> PeerOutput:
    import norse
    import norse.torch as nt

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # norse warns about r through the root logger
    try:
        net = nt.from_nir(graph, dt=dt_of(graph))
        with hook_nodes(net, neuron_nodes(graph)) as store:
            out = run_stepwise(net, x)
    finally:
        root.setLevel(level)
    return PeerOutput(out, stack_steps(store), f"norse {norse.__version__} from_nir(dt={dt_of(graph):g})")


ADAPTER = PeerAdapter("norse", "norse", run)
