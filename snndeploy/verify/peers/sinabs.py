"""sinabs adapter: ``sinabs.from_nir(graph, batch_size=B)``; its layers take batch-major ``[B·T, *]``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import PeerAdapter, PeerOutput, hook_nodes, neuron_nodes

__all__ = ["ADAPTER"]


def run(graph: Any, x: Tensor) -> PeerOutput:
    import sinabs

    T, B = x.shape[:2]
    net = sinabs.from_nir(graph, batch_size=B)

    def time_major(v: Tensor) -> Tensor:
        return v.reshape(B, T, *v.shape[1:]).transpose(0, 1)

    with torch.no_grad(), hook_nodes(net, neuron_nodes(graph)) as store:
        out = net(x.transpose(0, 1).reshape(B * T, *x.shape[2:]))
    out = out[0] if isinstance(out, tuple) else out
    spikes = {n: time_major(v[0]) for n, v in store.items() if v}
    return PeerOutput(time_major(out), spikes, f"sinabs {sinabs.__version__} from_nir(batch_size={B})")


ADAPTER = PeerAdapter("sinabs", "sinabs", run)
