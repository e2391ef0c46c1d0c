"""Verify a NIR file written by a PEER (norse) against its source: norse's own forward pass vs snndeploy's
nirsim.

    python examples/verify_peer_nir.py [--out reports/peer_nir]

norse builds a small LIF network, exports it with ``norse.torch.to_nir`` (dt = 1 ms) and runs it itself;
snndeploy reads the file back (``exporters.nir.read_nir``, typed errors), runs it in ``snndeploy.nirsim``
with NIR's generic forward-Euler semantics, and compares the output spikes exactly with
``snndeploy.verify.compare_spikes``. Any divergence is reported with its first (t, sample, neuron).

What it finds (norse 1.1.0): ``to_nir`` writes tau = dt/tau_mem_inv = 1e-5 s for a 10 ms neuron, i.e. tau
multiplied by dt (norse issue #411, USER_ASKS row 9): nirsim, running the file as NIR defines it, diverges
at t = 0. The script flags τ < dt as a unit error and shows that undoing the extra factor (τ/dt) restores
agreement.

Also found while writing this (norse 1.1.0, nir 1.0.8): norse's ``to_nir`` leaves LIF parameters as 0-dim
torch tensors, which ``nir.write`` cannot store ("Scalar datasets don't support chunk/filter options");
``_per_neuron`` broadcasts them to per-neuron numpy arrays first (the scalar-vs-array breakage of USER_ASKS
rows 10 and 21); and with a batched sample it writes the batch axis into the Input type, which snndeploy's
reader rejects with a typed error.

The same check from the command line, for any of the five peers' files (``snndeploy.verify.peers.writers``
builds them): ``snndeploy check-nir FILE --writer norse --input x.npy --expected y.npy`` prints the unit
problems, the corrections it applied, nirsim's agreement with the writer's output, every installed peer node
by node, the energy counts and hw-check per target (``docs/interop.md`` has the measured figures).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch


def _per_neuron(graph):
    """Broadcast 0-dim neuron parameters to one value per neuron (size taken from the preceding Affine)."""
    import nir

    size = {b: np.asarray(graph.nodes[a].weight).shape[0] for a, b in graph.edges
            if isinstance(graph.nodes.get(a), (nir.Affine, nir.Linear))}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.LIF):
            for field in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
                value = np.asarray(getattr(node, field), dtype=np.float32)
                setattr(
                    node, field, np.broadcast_to(value, (size[name],)).copy() if value.ndim == 0 else value
                )
    return graph


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/peer_nir"))
    parser.add_argument("--T", type=int, default=50)
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)

    import nir
    import norse.torch as nt

    from exporters.nir import read_nir
    from snndeploy.io import atomic_path, atomic_write
    from snndeploy.nirsim import simulate
    from snndeploy.verify import compare_spikes

    torch.manual_seed(0)
    net = nt.SequentialState(torch.nn.Linear(6, 16), nt.LIFBoxCell(), torch.nn.Linear(16, 4), nt.LIFBoxCell())
    with torch.no_grad():  # excitatory weights, so that both layers fire
        for layer in (net[0], net[2]):
            layer.weight.uniform_(0.0, 0.6)
            layer.bias.zero_()
    x = torch.rand(args.T, args.samples, 6) * 3

    # 1. the source: norse runs its own network step by step.
    state, outs = None, []
    with torch.no_grad():
        for t in range(args.T):
            out, state = net(x[t], state)
            outs.append(out)
    source = torch.stack(outs)

    # 2. norse writes the NIR file; snndeploy reads it back and runs it in nirsim.
    path = args.out / "norse_lif.nir"
    # An unbatched sample: with torch.zeros(1, 6) norse writes the batch axis into the Input type ([1, 6]),
    # and read_nir then refuses the file (type mismatch input [1 6] -> Affine [6]), as it should.
    graph = _per_neuron(nt.to_nir(net, torch.zeros(6), dt=1e-3))
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    dt = 1e-3
    as_written = read_nir(path)
    cmp = compare_spikes(source, simulate(as_written, x, dt=dt), "output")
    result = {
        "file": str(path),
        "samples": args.samples,
        "T": args.T,
        "source_rate": float(source.mean()),
        "as_written": cmp.to_dict(),
        "diagnosis": _diagnose(as_written, dt),
    }

    # 3. if τ is below one step, test the hypothesis "τ was multiplied by dt" by undoing it and verifying
    # again.
    if result["diagnosis"]:
        fixed = copy.deepcopy(as_written)
        for node in fixed.nodes.values():
            if isinstance(node, nir.LIF):
                node.tau = np.asarray(node.tau) / dt
        result["tau_divided_by_dt"] = compare_spikes(source, simulate(fixed, x, dt=dt), "output").to_dict()
    with atomic_write(args.out / "peer_nir.json") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(result, indent=2))
    final = result.get("tau_divided_by_dt", result["as_written"])
    return 0 if final["mismatches"] == 0 else 1


def _diagnose(graph, dt: float) -> list[str]:
    """Unit checks on neuron time constants: τ < dt makes forward Euler overshoot (|1 − dt/τ| > 1)."""
    import nir

    notes = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.LIF):
            tau = float(np.min(node.tau))
            if tau < dt:
                notes.append(
                    f"node {name!r}: tau = {tau:g} s is below dt = {dt:g} s (dt/tau = {dt / tau:g}); forward "
                    "Euler overshoots. Likely cause: the exporter multiplied tau by dt (norse issue #411)."
                )
    return notes


if __name__ == "__main__":
    raise SystemExit(main())
