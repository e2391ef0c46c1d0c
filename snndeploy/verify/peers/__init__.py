"""Adapters that run a NIR graph in peer simulators, and the graph rewrites that let peers read it.

Known differences found by testing the installed versions (norse 1.1.0 + nirtorch 2.6, spikingjelly 2.0.0,
snntorch 1.0.0, sinabs 3.1.3, rockpool 3.1.0; re-checked by ``tests/test_verify.py`` where those peers are installed):

- norse ``from_nir`` ignores ``nir.LIF.r`` (it warns "r is expected to be 1") → workaround ``fold_r_into_weights``:
  scale the incoming Affine/Linear/Conv weights and biases by r and set r = 1 (exact in real arithmetic; rounding
  may differ by an ulp from snndeploy's own operation order).
- norse fails on the soft-reset cycle (LI → Threshold → Scale → LI): KeyError on the LI node → reported as
  unavailable for that graph; export with ``soft_reset="hard"`` (approximate) for norse.
- nested graphs (residual blocks) are read by nirtorch only partially → peers get the flat export.
- spikingjelly's importer accepts ``nir.LIF`` only with ``r`` equal to 1 or τ/dt and ``v_leak == v_reset``; cycles
  need its single-step mode.
- snntorch's importer assumes dt = 1e-4 s and has no ``nir.LI`` mapping.
- sinabs reads τ in time steps (dt = 1) with exponential decay; rockpool 3.1.0 cannot read NIR 1.0.x LIF nodes.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["PEERS", "KNOWN_DIFFERENCES", "fold_r_into_weights"]

KNOWN_DIFFERENCES: dict[str, list[str]] = {
    "norse": [
        "ignores nir.LIF.r (treats it as 1): snndeploy folds r into the incoming weights before import",
        "cannot run the exact soft-reset composition (LI -> Threshold -> Scale cycle): KeyError on the LI node",
        "nested NIR graphs are not fully supported by nirtorch: snndeploy hands peers the flat export",
        "nir.Flatten on image input flattens the batch axis too (RuntimeError: mat1 and mat2 shapes cannot be "
        "multiplied (1x4096 and 64x64) for 8x8 digits, batch 64): MLPs on images cannot run in norse",
    ],
    "spikingjelly": [
        "imports nir.LIF only with r in {1, tau/dt} and v_leak == v_reset (a folded KLIF's input gain k/tau is "
        "neither): snndeploy folds r into the incoming weights first; graphs with cycles (soft reset) need "
        "step_mode='s'",
    ],
    "snntorch": [
        "import_from_nir assumes dt = 1e-4 s whatever the graph says (it prints 'dt: 0.0001' and rescales weights): "
        "99.2% spike agreement on a hard-reset LIF MLP exported with dt = 1e-3; export with dt=1e-4 for snntorch",
        "has no mapping for nir.LI, so the exact soft-reset composition cannot be imported",
        "like norse (both use nirtorch), nir.Flatten on image input flattens the batch axis too",
    ],
    "sinabs": [
        "from_nir reads NIR tau (seconds) as time steps (dt = 1) and decays exponentially, exp(-1/tau): with dt = 1e-3 "
        "a tau of 2 steps becomes a near-total leak (99.2% spike agreement on a hard-reset LIF MLP); export with dt=1 "
        "for sinabs (Speck); sinabs 3.1.3 pins nir<=1.0.4; it requires r == 1 (snndeploy folds r into the weights)",
    ],
    "rockpool": [
        "rockpool 3.1.0 from_nir expects the pre-1.0 NIR LIF fields (AttributeError: 'LIF' object has no attribute "
        "'tau_mem') and cannot read NIR 1.0.x graphs",
    ],
}


def fold_r_into_weights(graph: Any) -> Any:
    """Copy of ``graph`` with every ``nir.LIF``'s ``r`` folded into its single weighted predecessor.

    LIF input r·(W x + b) = (rW) x + r b, so spikes are unchanged in real arithmetic. Works on flat graphs; a LIF
    whose predecessor is not a single Affine/Linear/Conv2d feeding only that LIF is left as is.
    """
    import nir

    g = copy.deepcopy(graph)
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for a, b in g.edges:
        preds.setdefault(b, []).append(a)
        succs.setdefault(a, []).append(b)
    for name, node in g.nodes.items():
        if not isinstance(node, nir.LIF):
            continue
        r = np.asarray(node.r, dtype=np.float32)
        p = preds.get(name, [])
        if len(p) != 1 or succs.get(p[0]) != [name]:
            continue
        w_node = g.nodes[p[0]]
        if isinstance(w_node, (nir.Affine, nir.Linear)):
            scale = r.reshape(-1, 1)
        elif isinstance(w_node, nir.Conv2d):
            scale = r.reshape(r.shape[0], -1)[:, :1].reshape(-1, 1, 1, 1) if r.ndim else r
        else:
            continue
        w_node.weight = (np.asarray(w_node.weight, np.float32) * scale).astype(np.float32)
        if getattr(w_node, "bias", None) is not None and np.ndim(w_node.bias):
            w_node.bias = (np.asarray(w_node.bias, np.float32) * scale.reshape(-1)).astype(np.float32)
        node.r = np.ones_like(r)
    return g


def _dt_of(graph: Any) -> float:
    return float(np.asarray((graph.metadata or {}).get("dt", 1e-3)))


def _run_stepwise(net: Any, x: Tensor) -> Tensor:
    state = None
    outs = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, state = net(x[t], state)
            outs.append(out)
    return torch.stack(outs)


def _norse(graph: Any, x: Tensor) -> tuple[Tensor, str]:
    import logging

    import norse
    import norse.torch as nt

    logging.getLogger().setLevel(logging.ERROR)  # norse warns about r through the root logger
    net = nt.from_nir(fold_r_into_weights(graph), dt=_dt_of(graph))
    return _run_stepwise(net, x), f"norse {norse.__version__} from_nir (r folded into weights)"


def _spikingjelly(graph: Any, x: Tensor) -> tuple[Tensor, str]:
    from importlib.metadata import version

    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.nir_exchange.from_nir import import_from_nir

    try:
        net = import_from_nir(fold_r_into_weights(graph), dt=_dt_of(graph), step_mode="m")
    except NotImplementedError:  # graphs with cycles need single-step mode
        net = import_from_nir(fold_r_into_weights(graph), dt=_dt_of(graph), step_mode="s")
        functional.reset_net(net)
        with torch.no_grad():
            steps = [net(x[t]) for t in range(x.shape[0])]
        out = torch.stack([o[0] if isinstance(o, tuple) else o for o in steps])
        return out, f"spikingjelly {version('spikingjelly')} import_from_nir(step_mode='s')"
    functional.reset_net(net)
    with torch.no_grad():
        out = net(x)
    out = out[0] if isinstance(out, tuple) else out
    return out, f"spikingjelly {version('spikingjelly')} import_from_nir(step_mode='m')"


def _snntorch(graph: Any, x: Tensor) -> tuple[Tensor, str]:
    import snntorch
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # the importer prints its weight rescaling
        net = import_from_nir(graph)
        out = _run_stepwise(net, x)
    return out, f"snntorch {snntorch.__version__} import_from_nir"


def _sinabs(graph: Any, x: Tensor) -> tuple[Tensor, str]:
    import sinabs

    T, B = x.shape[:2]
    net = sinabs.from_nir(fold_r_into_weights(graph), batch_size=B)
    with torch.no_grad():
        out = net(x.transpose(0, 1).reshape(B * T, *x.shape[2:]))  # sinabs: [B·T, *], batch-major
    out = out[0] if isinstance(out, tuple) else out
    return out.reshape(B, T, *out.shape[1:]).transpose(0, 1), f"sinabs {sinabs.__version__} from_nir"


def _rockpool(graph: Any, x: Tensor) -> tuple[Tensor, str]:
    import rockpool
    from rockpool.nn.modules import from_nir

    net = from_nir(graph)
    with torch.no_grad():
        out = net(x.transpose(0, 1))  # rockpool: [B, T, *]
    out = out[0] if isinstance(out, tuple) else out
    return out.transpose(0, 1), f"rockpool {rockpool.__version__} from_nir"


PEERS: dict[str, Callable[[Any, Tensor], tuple[Tensor, str]]] = {
    "norse": _norse,
    "spikingjelly": _spikingjelly,
    "snntorch": _snntorch,
    "sinabs": _sinabs,
    "rockpool": _rockpool,
}
