"""Op counts of a NIR graph on real data, run by ``snndeploy.nirsim`` (the same rules as ``counting.py``).

The graph runs once per batch with ``record=True``; every node's input is the sum of its predecessors'
recorded outputs (a cycle's delayed edge is read undelayed: only the synaptic nodes' inputs matter for
ACs/MACs, and no synaptic node sits inside a snndeploy cycle). Per node type (registry keyed by the NIR class
name):

- ``Affine``/``Linear``/``Conv1d``/``Conv2d``: ``counting.record_synaptic``, exactly as for the torch layers
  (ACs and MACs decided per row, NeuroBench's and spikingjelly's per-call counts, dense ops, the papers'
  T·r·FLOPs);
- neurons, with the discrete coefficients of the Euler step (a = 1 − dt/τ, b = dt·r/τ, c = dt·v_leak/τ): one
  ``mult`` for a·V, one for b·X when b ≠ 1, one ``add`` for the input and one for c ≠ 0, one ``compare`` for
  the threshold (``LIF``, ``IF``, ``CubaLIF``: two such charges, 2 states);
- a neuron snndeploy wrote (its ``LIFSpec`` in the node metadata, run by nirsim as one neuron) is counted from
  the spec, exactly like the folded torch layer (``spec_ops``);
- in a foreign graph, the soft-reset pattern (``LI → Threshold`` with a ``Scale`` fed back) is counted as one
  neuron layer under the ``LI``'s name: the threshold's compare and spikes and the ``Scale``'s add per spike
  go to it;
- ``SumPool2d``/``AvgPool2d``: k − 1 adds per output (+ 1 mult for the average; a sum pool adds only);
  ``Flatten``, ``Input``,
  ``Output``: nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from exporters.lifspec import LIFSpec

from ..errors import InvalidInputError
from ..nirsim import NIRSimulator
from .counting import LayerCount, OpCounts, _batches, input_kind, record_synaptic
from .neuron_ops import OP_KINDS, NeuronOpCount, spec_ops

__all__ = ["count_nir_ops", "NIR_COUNTERS"]

Counter = Callable[[str, Any, Tensor, Tensor, dict[str, LayerCount], float], None]
NIR_COUNTERS: dict[str, Counter] = {}


def _register(*names: str) -> Callable[[Counter], Counter]:
    def deco(fn: Counter) -> Counter:
        for n in names:
            NIR_COUNTERS[n] = fn
        return fn
    return deco


def _rec(layers: dict[str, LayerCount], name: str, kind: str, type_: str) -> LayerCount:
    if name not in layers:
        layers[name] = LayerCount(name=name, kind=kind, type=type_)
    rec = layers[name]
    rec.calls += 1
    return rec


def _weight_map(node: Any) -> tuple[Tensor, Callable[[Tensor, Tensor], Tensor]]:
    w = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
    kind = type(node).__name__
    if kind in ("Affine", "Linear"):
        return w, lambda x, ww: F.linear(x, ww)
    stride, padding, dilation, groups = node.stride, node.padding, node.dilation, int(node.groups)
    conv = F.conv2d if kind == "Conv2d" else F.conv1d
    pad = padding if isinstance(padding, str) else tuple(int(p) for p in np.atleast_1d(padding))
    return w, lambda x, ww: conv(x, ww, None, tuple(int(s) for s in np.atleast_1d(stride)), pad,
                                 tuple(int(d) for d in np.atleast_1d(dilation)), groups)


@_register("Affine", "Linear", "Conv1d", "Conv2d")
def _synaptic(name: str, node: Any, x: Tensor, y: Tensor, layers: dict[str, LayerCount], dt: float) -> None:
    rec = _rec(layers, name, "synaptic", type(node).__name__)
    w, apply = _weight_map(node)
    bias = getattr(node, "bias", None)
    n_bias = int(np.size(bias)) if bias is not None else 0
    record_synaptic(rec, x.reshape(-1, *x.shape[2:]), w, n_bias, apply)
    rec.param_bytes = 4 * rec.parameters


def _coef(tau: Any, r: Any, v_leak: Any, dt: float) -> tuple[bool, bool]:
    """(b ≠ 1, c ≠ 0) of the Euler step H = (1 − dt/τ)·V + dt·r/τ·X + dt·v_leak/τ."""
    tau = np.asarray(tau, dtype=np.float64)
    b = dt * np.asarray(r, dtype=np.float64) / tau
    c = dt * np.asarray(v_leak, dtype=np.float64) / tau
    return bool(np.any(np.abs(b - 1.0) > 1e-6)), bool(np.any(c != 0))


def _charge_ops(node: Any, dt: float) -> dict[str, int]:
    kind = type(node).__name__
    if kind in ("IF", "I"):
        scale = bool(np.any(np.asarray(node.r) != 1.0))
        return {"mult": int(scale), "add": 1}
    if kind in ("CubaLIF", "CubaLI"):
        b1, _ = _coef(node.tau_syn, node.w_in, np.zeros(1), dt)
        b2, c2 = _coef(node.tau_mem, node.r, node.v_leak, dt)
        return {"mult": 2 + int(b1) + int(b2), "add": 2 + int(c2)}
    b, c = _coef(node.tau, node.r, node.v_leak, dt)
    return {"mult": 1 + int(b), "add": 1 + int(c)}


@_register("LIF", "IF", "CubaLIF", "LI", "I", "CubaLI")
def _neuron(name: str, node: Any, x: Tensor, y: Tensor, layers: dict[str, LayerCount], dt: float) -> None:
    kind = type(node).__name__
    spiking = kind in ("LIF", "IF", "CubaLIF")
    rec = _rec(layers, name, "neuron", kind)
    per_step = _charge_ops(node, dt)
    if spiking:
        per_step["compare"] = 1
    states = 2 if kind.startswith("Cuba") else 1
    rec.op_count = NeuronOpCount(neuron=f"nir:{kind}", equations=f"NIR {kind}, forward Euler with dt={dt:g}",
                                 states=states, per_step=per_step, per_spike={})
    updates = int(y.numel())
    rec.neurons = int(math.prod(y.shape[2:]))
    rec.updates += updates
    rec.rows += int(y.shape[0] * y.shape[1])
    rec.state_bytes = rec.neurons * states * 4
    if spiking:
        rec.spikes += int((y != 0).sum())
    for k, v in per_step.items():
        rec.ops[k] += v * updates


def _owner(g: Any, name: str, layers: dict[str, LayerCount]) -> LayerCount | None:
    """The neuron record a Threshold/Scale belongs to: its LI (or LIF) predecessor, for the soft-reset
    pattern."""
    for p in g.preds(name):
        if type(g.nodes[p]).__name__ in ("LI", "CubaLI", "LIF") and p in layers:
            return layers[p]
        if type(g.nodes[p]).__name__ == "Threshold":
            return _owner(g, p, layers)
    return None


def _threshold(name: str, node: Any, x: Tensor, y: Tensor, layers: dict[str, LayerCount], dt: float,
               g: Any) -> None:
    owner = _owner(g, name, layers)
    rec = owner if owner is not None else _rec(layers, name, "neuron", "Threshold")
    spikes = int((y != 0).sum())
    rec.spikes += spikes
    rec.ops["compare"] += int(y.numel())
    if rec.op_count is not None and owner is not None and "compare" not in rec.op_count.per_step:
        oc = rec.op_count
        rec.op_count = NeuronOpCount(oc.neuron + "+Threshold", oc.equations + "; S = Θ(H − θ)", oc.states,
                                     {**oc.per_step, "compare": 1}, {**oc.per_spike})
    elif owner is None:
        rec.updates += int(y.numel())
        rec.neurons = int(math.prod(y.shape[2:]))


def _scale(name: str, node: Any, x: Tensor, y: Tensor, layers: dict[str, LayerCount], dt: float,
           g: Any) -> None:
    owner = _owner(g, name, layers)
    # soft-reset feedback: one add per spike, into the owner
    if owner is not None and input_kind(x) != "real":
        owner.ops["add"] += int((x != 0).sum())
        if owner.op_count is not None and "add" not in owner.op_count.per_spike:
            oc = owner.op_count
            owner.op_count = NeuronOpCount(oc.neuron, oc.equations + "; reset: H −= w·S (one add per spike)",
                                           oc.states, oc.per_step, {**oc.per_spike, "add": 1})
        return
    rec = _rec(layers, name, "residual", "Scale")  # the residual junction Scale(1) sums two branches
    rec.ops["add"] += int(y.numel()) * max(len(g.preds(name)) - 1, 0)
    rec.ops["mult"] += int(y.numel()) if bool(np.any(np.asarray(node.scale) != 1.0)) else 0


def _pool(name: str, node: Any, x: Tensor, y: Tensor, layers: dict[str, LayerCount], dt: float,
          g: Any) -> None:
    rec = _rec(layers, name, "pool", type(node).__name__)
    window = int(np.prod(np.asarray(node.kernel_size)))
    rec.ops["add"] += int(y.numel()) * (window - 1)
    if type(node).__name__ == "AvgPool2d":
        rec.ops["mult"] += int(y.numel())
    else:
        rec.note = "sum pool: additions only"


def _spec_neuron(name: str, spec: Any, y: Tensor, layers: dict[str, LayerCount]) -> None:
    """A neuron snndeploy exported (its ``LIFSpec`` in the node metadata): counted exactly like the torch
    layer."""
    rec = _rec(layers, name, "neuron", "FoldedLIF")
    counts = spec_ops(spec)
    updates, spikes = int(y.numel()), int((y != 0).sum())
    rec.op_count = counts
    rec.neurons = int(math.prod(y.shape[2:]))
    rec.updates += updates
    rec.spikes += spikes
    rec.rows += int(y.shape[0] * y.shape[1])
    rec.state_bytes = rec.neurons * counts.states * 4
    for k in OP_KINDS:
        rec.ops[k] += counts.per_step.get(k, 0) * updates + counts.per_spike.get(k, 0) * spikes


def _snndeploy_spec(node: Any) -> Any | None:
    """The ``LIFSpec`` of a node snndeploy wrote (a hard-reset LIF, or the Threshold standing for a soft-reset
    LI → Threshold → Scale neuron, which nirsim runs as one neuron), else None."""
    raw = (getattr(node, "metadata", None) or {}).get("snndeploy")
    if raw is None:
        return None
    import json

    meta = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    if meta.get("role") not in ("lif", "soft_lif.threshold"):
        return None

    return LIFSpec.from_dict(meta["spec"])


_GRAPH_AWARE: dict[str, Callable[..., None]] = {
    "Threshold": _threshold, "Scale": _scale, "SumPool2d": _pool, "AvgPool2d": _pool,
}
_IGNORED = {"Input", "Output", "Flatten", "Delay"}


def count_nir_ops(graph: Any, data: Tensor | Iterable[Any], dt: float | None = None,
                  max_batches: int | None = None) -> OpCounts:
    """Run ``graph`` (a ``nir.NIRGraph``) with nirsim on ``data`` ([T, B, *] or batches) and count its ops.

    Args:
        graph: the NIR graph (snndeploy's own exports carry ``dt``; pass ``dt`` for foreign graphs).
        data: input [T, B, *input_shape], or an iterable of such tensors or of (x, y) pairs.
        dt: seconds per step (default: the graph's ``dt`` metadata).
    """

    sim = NIRSimulator(graph, dt=dt)
    g = sim.graph
    order = [n for comp in sim.components for n in comp.nodes]
    layers: dict[str, LayerCount] = {}
    samples, T, forwards, batch_sizes = 0, 0, 0, []
    with torch.no_grad():
        for i, x in enumerate(_batches(data)):
            if max_batches is not None and i >= max_batches:
                break
            if T and x.shape[0] != T:
                raise InvalidInputError(f"all batches must share T; got {x.shape[0]} after {T}")
            _, values = sim(x, record=True)
            T, samples, forwards = int(x.shape[0]), samples + int(x.shape[1]), forwards + 1
            batch_sizes.append(int(x.shape[1]))
            for name in order:
                node = g.nodes[name]
                kind = type(node).__name__
                preds = g.preds(name)
                if kind in _IGNORED:
                    if len(preds) > 1:  # a nested residual block's Output sums its two branches
                        rec = _rec(layers, name, "residual", "Residual")
                        rec.ops["add"] += int(values[name].numel()) * (len(preds) - 1)
                    continue
                inp = values[preds[0]] if preds else values[name]
                for p in preds[1:]:
                    inp = inp + values[p]
                spec = _snndeploy_spec(node) if sim.convention == "snndeploy" else None
                if spec is not None:
                    _spec_neuron(name, spec, values[name], layers)
                elif kind in NIR_COUNTERS:
                    NIR_COUNTERS[kind](name, node, inp, values[name], layers, sim.dt)
                elif kind in _GRAPH_AWARE:
                    _GRAPH_AWARE[kind](name, node, inp, values[name], layers, sim.dt, g)
                else:
                    known = ", ".join(sorted(set(NIR_COUNTERS) | set(_GRAPH_AWARE) | _IGNORED))
                    raise InvalidInputError(f"node {name!r}: no op counter for NIR {kind}; known: {known}")
    if samples == 0:
        raise InvalidInputError("count_nir_ops: data held no batch")
    return OpCounts(layers=list(layers.values()), samples=samples, T=T, forwards=forwards,
                    batch_sizes=batch_sizes)
