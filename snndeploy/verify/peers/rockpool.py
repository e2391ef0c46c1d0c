"""rockpool adapter: ``rockpool.nn.modules.from_nir(graph)`` on the whole batch-major sequence ``[B, T,
*]``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import PeerAdapter, PeerOutput, hook_nodes, neuron_nodes

__all__ = ["ADAPTER"]


def run(graph: Any, x: Tensor) -> PeerOutput:
    import rockpool
    from rockpool.nn.modules import from_nir

    net = from_nir(graph)
    with torch.no_grad(), hook_nodes(net, neuron_nodes(graph)) as store:
        out = net(x.transpose(0, 1))
    out = out[0] if isinstance(out, tuple) else out
    spikes = {n: v[0].transpose(0, 1) for n, v in store.items() if v}
    return PeerOutput(out.transpose(0, 1), spikes, f"rockpool {rockpool.__version__} from_nir")


ADAPTER = PeerAdapter("rockpool", "rockpool", run)
