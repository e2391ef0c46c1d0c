"""Each peer's own NIR writer on a small network of that peer, with the peer's documented workarounds.

``write_sample(peer, T, batch, seed)`` builds a two-layer LIF network (6 → 16 → 4) in the peer, runs it on
a seeded input and exports it with the peer's own NIR writer; it returns the graph, the input, the peer's
own output spikes (the reference for ``check-nir``) and the workarounds it needed. This is the "peer →
snndeploy" direction of ``benchmarks/interop_matrix.py`` and of the tests. Weights are drawn excitatory and
scaled so that both layers fire on the input without saturating.

Workarounds applied (each is what the peer's docs or issues prescribe):
- norse 1.1.0: an unbatched sample (a batched one writes the batch axis into the Input type) and LIF
  parameters broadcast to one value per neuron before ``nir.write`` (0-dim parameters cannot be stored; NIR
  #176);
- snntorch 1.0.0: ``reset_mechanism="zero"`` (NIR's LIF resets to v_reset), per-neuron
  ``beta``/``threshold`` tensors (a scalar beta exports 0-dim parameters) and an unbatched sample;
- spikingjelly 2.0.0: hard reset (``v_reset=0``; its exporter refuses soft reset);
- sinabs 3.1.3: ``IAF`` layers (Speck's neuron) with ``spike_fn=SingleSpike``: NIR has no neuron that emits
  several spikes per step (``multi_spike=True`` keeps sinabs' default ``MultiSpike``, whose extra spikes
  the matrix measures);
- rockpool 3.1.0: none needed to write (its files carry no dt; rockpool's default dt is 1e-3 s).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["WrittenSample", "WRITERS", "write_sample"]


@dataclass
class WrittenSample:
    """A peer-written NIR graph, the input it was run on, the peer's own output spikes [T, B, 4], and
    notes."""

    peer: str
    graph: Any
    x: Tensor
    expected: Tensor
    version: str
    workarounds: list[str] = field(default_factory=list)


def _weights(layers: list[nn.Linear], gen: torch.Generator, scale: float = 0.6) -> None:
    with torch.no_grad():
        for lin in layers:
            lin.weight.copy_(torch.rand(lin.weight.shape, generator=gen) * scale)
            if lin.bias is not None:
                lin.bias.zero_()


def _norse(x: Tensor, gen: torch.Generator) -> WrittenSample:
    import nir
    import norse
    import norse.torch as nt

    net = nt.SequentialState(nn.Linear(6, 16), nt.LIFBoxCell(), nn.Linear(16, 4), nt.LIFBoxCell())
    _weights([net[0], net[2]], gen, 2.0)  # norse's default τ = 10 ms at dt = 1 ms: 10% of the input per step
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, state = net(x[t], state)
            outs.append(out)
    graph = nt.to_nir(net, torch.zeros(6), dt=1e-3)
    size = {
        b: np.asarray(graph.nodes[a].weight).shape[0]
        for a, b in graph.edges
        if isinstance(graph.nodes.get(a), (nir.Affine, nir.Linear))
    }
    for name, node in graph.nodes.items():
        if isinstance(node, nir.LIF):
            for f in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
                v = np.asarray(getattr(node, f), dtype=np.float32)
                setattr(node, f, np.broadcast_to(v, (size[name],)).copy() if v.ndim == 0 else v)
    return WrittenSample(
        "norse",
        graph,
        x,
        torch.stack(outs),
        f"norse {norse.__version__}",
        ["unbatched sample for to_nir", "0-dim LIF parameters broadcast per neuron before nir.write"],
    )


def _snntorch(x: Tensor, gen: torch.Generator) -> WrittenSample:
    import snntorch
    import snntorch as snn
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    def leaky(n: int, output: bool = False) -> nn.Module:
        return snn.Leaky(
            beta=torch.full((n,), 0.9),
            threshold=torch.ones(n),
            reset_mechanism="zero",
            init_hidden=True,
            output=output,
        )

    net = nn.Sequential(nn.Linear(6, 16), leaky(16), nn.Linear(16, 4), leaky(4, output=True))
    _weights([net[0], net[2]], gen, 0.15)
    utils.reset(net)
    with torch.no_grad():
        outs = [net(x[t])[0] for t in range(x.shape[0])]
    utils.reset(net)
    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(net, torch.zeros(6))
    return WrittenSample(
        "snntorch",
        graph,
        x,
        torch.stack(outs),
        f"snntorch {snntorch.__version__}",
        [
            "reset_mechanism='zero'",
            "per-neuron beta and threshold tensors",
            "unbatched sample for export_to_nir (a batched one fails NIR's type inference)",
        ],
    )


def _spikingjelly(x: Tensor, gen: torch.Generator) -> WrittenSample:
    from importlib.metadata import version

    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir

    net = nn.Sequential(
        layer.Linear(6, 16),
        neuron.LIFNode(tau=2.0, v_reset=0.0),
        layer.Linear(16, 4),
        neuron.LIFNode(tau=2.0, v_reset=0.0),
    )
    _weights([net[0], net[2]], gen, 0.5)
    functional.set_step_mode(net, "m")
    functional.reset_net(net)
    with torch.no_grad():
        out = net(x)
    functional.reset_net(net)
    graph = export_to_nir(net, x[:, :1], dt=1e-4)
    return WrittenSample(
        "spikingjelly", graph, x, out, f"spikingjelly {version('spikingjelly')}", ["hard reset (v_reset=0.0)"]
    )


def _sinabs(x: Tensor, gen: torch.Generator, multi_spike: bool = False) -> WrittenSample:
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MultiSpike, SingleSpike

    T, B = x.shape[:2]
    fn = MultiSpike if multi_spike else SingleSpike

    def iaf() -> nn.Module:
        return sl.IAFSqueeze(batch_size=B, spike_fn=fn)

    net = nn.Sequential(nn.Linear(6, 16), iaf(), nn.Linear(16, 4), iaf())
    _weights([net[0], net[2]], gen, 0.15)
    flat = x.transpose(0, 1).reshape(B * T, 6)
    with torch.no_grad():
        out = net(flat).reshape(B, T, 4).transpose(0, 1)
    for m in net:
        if isinstance(m, sl.IAFSqueeze):
            m.reset_states()
    graph = sinabs.to_nir(net, flat)
    notes = [
        "IAF layers",
        "spike_fn=MultiSpike (sinabs' default)"
        if multi_spike
        else "spike_fn=SingleSpike (NIR has no multi-spike neuron)",
    ]
    return WrittenSample("sinabs", graph, x, out, f"sinabs {sinabs.__version__}", notes)


def _rockpool(x: Tensor, gen: torch.Generator) -> WrittenSample:
    import rockpool
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    net = Sequential(
        LinearTorch((6, 16), has_bias=False), LIFTorch(16), LinearTorch((16, 4), has_bias=False), LIFTorch(4)
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.rand(6, 16, generator=gen) * 0.01)  # its synapse sums ~20 steps of input
        net[2].weight.copy_(torch.rand(16, 4, generator=gen) * 0.05)
        out, _, _ = net(x.transpose(0, 1))
    return WrittenSample(
        "rockpool", to_nir(net), x, out.transpose(0, 1), f"rockpool {rockpool.__version__}", []
    )


WRITERS: dict[str, Callable[[Tensor, torch.Generator], WrittenSample]] = {
    "norse": _norse,
    "snntorch": _snntorch,
    "spikingjelly": _spikingjelly,
    "sinabs": _sinabs,
    "rockpool": _rockpool,
}


def write_sample(
    peer: str, T: int = 16, batch: int = 32, seed: int = 0, scale: float = 2.0, **options: Any
) -> WrittenSample:
    """Build, run and export the peer's sample network (module docstring) on input uniform in [0, ``scale``).

    ``options`` go to the peer's builder (sinabs: ``multi_spike=True`` keeps sinabs' default
    ``MultiSpike``).
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((T, batch, 6), generator=gen) * scale
    torch.manual_seed(seed)
    return WRITERS[peer](x, gen, **options)
