"""Speck artifacts: NIR in the dialect ``sinabs.from_nir`` reads (sinabs 3.1.3, nir 1.0.8), measured.

What sinabs' reader does (``sinabs/nir.py`` ``_import_sinabs_module``, measured in the ``sinabs`` vendor venv
by ``tests/test_chip_speck_vendor.py``):

- reads ``Conv2d`` (→ ``nn.Conv2d``, bias kept), ``Affine`` (→ ``nn.Linear``), ``SumPool2d``, ``Flatten``
  (dims shifted by one for the batch), ``IF``, ``Input``/``Output`` (→ ``Identity``); also ``Conv1d``, ``LI``
  and ``LIF`` (software only: ``DynapcnnNetwork`` accepts ``IAFSqueeze`` neurons only). Any other node,
  ``Linear`` (no bias) and ``AvgPool2d`` included, falls through the ``if`` chain: the reader returns ``None``
  for it;
- ``IF`` becomes ``IAFSqueeze(spike_threshold=v_threshold, min_v_mem=-v_threshold)``: multi-spike, subtractive
  reset (NIR says reset to ``v_reset``), fires at v ≥ θ (NIR: v > θ); ``r`` and ``v_reset`` are ignored;
- ``DynapcnnNetwork`` needs one threshold per layer (``discretize.py`` builds ``torch.tensor((min_v_mem,
  spike_threshold))``): per-neuron threshold arrays fail, so thresholds are written as shape-(1,) arrays;
  a scalar (0-d) array cannot be written (``h5py``: "Scalar datasets don't support chunk/filter options");
- such a graph fails NIR's own type check (the IF's (1,) shape does not match the conv's output), so it is
  built and read with ``type_check=False``.

``to_sinabs_nir(graph)`` rewrites a NIR graph into that dialect (``Linear`` → ``Affine`` with zero bias,
``AvgPool2d`` → ``SumPool2d`` with 1/k² in the next weights, ``IF`` with per-neuron but uniform parameters →
one threshold, ``r`` folded into the incoming weights, ``v_reset`` dropped with a note); what sinabs cannot
run on Speck (a leaky ``LIF``, ``CubaLIF``, ``Delay``, ...) raises ``ChipMappingError`` naming the node.
``network_to_nir`` writes a ``SpeckNetwork`` in it, and ``write_artifacts`` saves both files. Two graph facts
of ``DynapcnnNetwork``'s extractor (sinabs 3.1.3 + nirtorch 2.6, measured) shape that writer: a ``Flatten``
between two ``Affine`` nodes makes it report "The graph has a cycle", so one ``Flatten`` precedes a run of
``Affine`` nodes; and an ``Affine`` outputs ``[N, F]``, which no later ``Conv2d`` can take, so a linear layer
with a conv after it is written as the ``Conv2d`` sinabs would make of it (kernel = its input map).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import nir
import numpy as np

from ...io import atomic_path, atomic_write
from .base import ChipMappingError, MappingNote
from .speck import SpeckNetwork
from .speck_scale import discretization_scale

__all__ = ["FORMAT", "to_sinabs_nir", "network_to_nir", "write_artifacts", "read_nir"]

FORMAT = "snndeploy.speck/1"
_WEIGHTED = (nir.Conv2d, nir.Affine)
_PASS = (nir.Input, nir.Output, nir.Flatten, nir.SumPool2d)


def _graph(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _if_node(threshold: float) -> nir.IF:
    one = np.ones(1, dtype=np.float32)
    return nir.IF(r=one, v_threshold=np.array([threshold], dtype=np.float32), v_reset=np.zeros(1, np.float32))


def read_nir(path: str | Path) -> nir.NIRGraph:
    """Read a sinabs-dialect NIR file (``type_check=False``: module docstring)."""
    return nir.read(str(path), type_check=False)


def network_to_nir(network: SpeckNetwork) -> nir.NIRGraph:
    """``network`` as a NIR graph ``sinabs.from_nir`` turns back into the same integer network.

    Requires ``min_v_mem == -threshold`` in every layer (sinabs' reader sets it) and every layer on the edge
    of sinabs' grid (its discretisation scale 1: ``DynapcnnNetwork`` would otherwise scale the integers up):
    ``ChipMappingError`` otherwise. Every ``map_model`` result qualifies.
    """
    c, h, w = network.input_shape
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array([c, h, w])})}
    edges: list[tuple[str, str]] = []
    prev = "input"
    for j, (lyr, shapes) in enumerate(zip(network.layers, network.shapes(), strict=True)):
        shape_in, neurons, pooled = shapes
        if lyr.min_v_mem != -lyr.threshold:
            raise ChipMappingError(f"layer {lyr.name!r}: min_v_mem {lyr.min_v_mem} != -threshold "
                                   f"({-lyr.threshold}); sinabs.from_nir always sets min_v_mem = "
                                   "-v_threshold, so NIR cannot carry it")
        s = discretization_scale(lyr.weight, lyr.bias, lyr.threshold, lyr.min_v_mem)
        if s != 1.0:
            raise ChipMappingError(f"layer {lyr.name!r}: off sinabs' grid edge (its discretisation scale is "
                                   f"{s:.6g}, not 1): DynapcnnNetwork would rescale it. Put the largest "
                                   "weight or bias at 127/-128 or the threshold at 32767")
        bias = (lyr.bias if lyr.bias is not None else np.zeros(lyr.weight.shape[0])).astype(np.float32)
        weight = lyr.weight.astype(np.float32)
        conv_later = any(x.kind == "conv" for x in network.layers[j + 1:])
        if lyr.kind == "linear" and not conv_later:
            if j == 0 or network.layers[j - 1].kind != "linear":
                nodes[f"l{j}_flat"] = nir.Flatten(input_type={"input": np.array(shape_in)}, start_dim=0,
                                                  end_dim=-1)
                edges.append((prev, f"l{j}_flat"))
                prev = f"l{j}_flat"
            nodes[f"l{j}_fc"] = nir.Affine(weight=weight, bias=bias)
            edges.append((prev, f"l{j}_fc"))
            prev = f"l{j}_fc"
        else:
            if lyr.kind == "linear":  # as the conv sinabs makes of it (kernel = input map): a Conv2d follows
                weight = weight.reshape(weight.shape[0], *shape_in)
            nodes[f"l{j}_conv"] = nir.Conv2d(input_shape=shape_in[1:], weight=weight, stride=lyr.stride,
                                             padding=lyr.padding, dilation=1, groups=1, bias=bias)
            edges.append((prev, f"l{j}_conv"))
            prev = f"l{j}_conv"
        nodes[f"l{j}_if"] = _if_node(float(lyr.threshold))
        edges.append((prev, f"l{j}_if"))
        prev = f"l{j}_if"
        if lyr.pool > 1:
            p = np.array([lyr.pool, lyr.pool])
            nodes[f"l{j}_pool"] = nir.SumPool2d(kernel_size=p, stride=p, padding=np.zeros(2, dtype=int))
            edges.append((prev, f"l{j}_pool"))
            prev = f"l{j}_pool"
        out_shape = pooled if lyr.kind == "conv" else (neurons[0],)
    nodes["output"] = nir.Output(output_type={"output": np.array(out_shape)})
    edges.append((prev, "output"))
    return _graph(nodes, edges)


def write_artifacts(network: SpeckNetwork, out_dir: str | Path) -> list[Path]:
    """Write ``speck_network.nir`` (sinabs dialect) and ``speck_network.json`` (the integer network and how to
    load it with sinabs) into ``out_dir``; return both paths."""
    out = Path(out_dir)
    graph = network_to_nir(network)
    nir_path, json_path = out / "speck_network.nir", out / "speck_network.json"
    with atomic_path(nir_path) as tmp:
        nir.write(str(tmp), graph)
    record = {
        "format": FORMAT, "nir": nir_path.name, "network": network.to_dict(),
        "load": ["graph = nir.read(path, type_check=False)", "model = sinabs.from_nir(graph, batch_size=B)",
                 f"net = DynapcnnNetwork(model, input_shape={tuple(network.input_shape)}, batch_size=B, "
                 "discretize=True)",
                 "ChipFactory('speck2fmodule').get_config_builder()"
                 ".map_layers_to_cores(net.dynapcnn_layers)"],
        "input": "x: [B*T, C, H, W] event counts, batch-major (x_tb.transpose(0, 1).flatten(0, 1))",
    }
    with atomic_write(json_path) as fh:
        json.dump(record, fh, indent=1)
    return [nir_path, json_path]


# --------------------------------------------------------------------------- foreign NIR → sinabs dialect
def _uniform(node_name: str, field: str, value: Any) -> float:
    arr = np.asarray(value, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(arr == arr[0]):
        raise ChipMappingError(f"node {node_name!r}: {field} differs between neurons (min {arr.min():g}, max "
                               f"{arr.max():g}); Speck takes one {field} per layer")
    return float(arr[0])


def _weighted_pred(name: str, nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> str:
    preds = [a for a, b in edges if b == name]
    if len(preds) != 1 or not isinstance(nodes[preds[0]], _WEIGHTED):
        raise ChipMappingError(f"node {name!r}: Speck needs exactly one Conv2d/Affine feeding each neuron "
                               f"layer, got {preds}")
    return preds[0]


def _scale_rows(node: nir.NIRNode, factor: np.ndarray) -> None:
    """Multiply the output rows (Affine) or channels (Conv2d) of ``node`` by ``factor`` (per row/scalar)."""
    f = np.asarray(factor, dtype=np.float64)
    w = np.asarray(node.weight, dtype=np.float64)
    shape = (-1,) + (1,) * (w.ndim - 1)
    fw = f.reshape(shape) if f.size > 1 else f.reshape(())
    node.weight = (w * fw).astype(np.float32)
    fb = f if f.size > 1 else f.reshape(())
    node.bias = (np.asarray(node.bias, dtype=np.float64) * fb).astype(np.float32)


def _r_per_row(name: str, r: np.ndarray, weighted: nir.NIRNode) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    if r.size == 1 or np.all(r == r.ravel()[0]):
        return np.array(r.ravel()[0])
    if isinstance(weighted, nir.Affine) and r.ndim == 1:
        return r
    per_channel = r.reshape(r.shape[0], -1)
    if isinstance(weighted, nir.Conv2d) and np.all(per_channel == per_channel[:, :1]):
        return per_channel[:, 0]
    raise ChipMappingError(f"node {name!r}: r varies within a channel; it cannot be folded into the weights")


def to_sinabs_nir(graph: nir.NIRGraph) -> tuple[nir.NIRGraph, list[MappingNote]]:
    """Rewrite ``graph`` into the dialect sinabs reads (module docstring). Returns the new graph and notes.

    Only flat graphs (no sub-graphs) of Input, Output, Conv2d, Linear, Affine, IF, SumPool2d, AvgPool2d and
    Flatten nodes are accepted; anything else raises ``ChipMappingError`` naming the node.
    """
    nodes = {k: copy.deepcopy(v) for k, v in graph.nodes.items()}
    edges = [(str(a), str(b)) for a, b in graph.edges]
    notes: list[MappingNote] = []
    for name, node in nodes.items():
        if not isinstance(node, _WEIGHTED + _PASS + (nir.Linear, nir.AvgPool2d, nir.IF)):
            raise ChipMappingError(f"node {name!r}: {type(node).__name__} cannot reach Speck through "
                                   "sinabs.from_nir (reads Conv2d, Affine, IF, SumPool2d, Flatten; "
                                   "DynapcnnNetwork runs only IAF)")
    for name, node in list(nodes.items()):
        if isinstance(node, nir.Linear) and not isinstance(node, nir.Affine):
            w = np.asarray(node.weight, dtype=np.float32)
            nodes[name] = nir.Affine(weight=w, bias=np.zeros(w.shape[0], dtype=np.float32))
            notes.append(MappingNote(name, "node", "Linear written as Affine with zero bias (sinabs reads no "
                                     "Linear)", "info"))
    for name, node in list(nodes.items()):
        if isinstance(node, nir.AvgPool2d):
            _avgpool_to_sumpool(name, node, nodes, edges, notes)
    for name, node in list(nodes.items()):
        if isinstance(node, nir.IF):
            pred = _weighted_pred(name, nodes, edges)
            theta = _uniform(name, "v_threshold", node.v_threshold)
            r = _r_per_row(name, node.r, nodes[pred])
            if not np.all(r == 1.0):
                _scale_rows(nodes[pred], r)
                msg = f"r folded into the weights of {pred!r} (sinabs ignores r)"
                notes.append(MappingNote(name, "r", msg, "info"))
            if np.any(np.asarray(node.v_reset) != 0):
                notes.append(MappingNote(name, "v_reset", "v_reset is ignored by sinabs: the reset is "
                                         "subtractive"))
            msg = ("sinabs reads IF as a multi-spike IAF with subtractive reset, firing at v >= θ, clipped "
                   "at -θ (NIR: reset to v_reset, fires at v > θ)")
            notes.append(MappingNote(name, "reset", msg))
            nodes[name] = _if_node(theta)
    return _graph(nodes, edges), notes


def _avgpool_to_sumpool(name: str, node: nir.AvgPool2d, nodes: dict[str, nir.NIRNode],
                        edges: list[tuple[str, str]], notes: list[MappingNote]) -> None:
    """AvgPool2d → SumPool2d, with 1/k² multiplied into every weight node it reaches through Flatten/pools."""
    k = np.asarray(node.kernel_size).ravel()
    if not np.array_equal(np.asarray(node.stride).ravel(), k) or np.any(np.asarray(node.padding) != 0):
        raise ChipMappingError(f"node {name!r}: AvgPool2d needs stride = kernel and no padding on Speck")
    nodes[name] = nir.SumPool2d(kernel_size=k, stride=k, padding=np.zeros(2, dtype=int))
    factor = 1.0 / float(np.prod(k))
    todo = [b for a, b in edges if a == name]
    while todo:
        nxt = todo.pop()
        if isinstance(nodes[nxt], _WEIGHTED):
            nodes[nxt].weight = (np.asarray(nodes[nxt].weight, dtype=np.float64) * factor).astype(np.float32)
        elif isinstance(nodes[nxt], (nir.Flatten, nir.SumPool2d, nir.AvgPool2d)):
            todo += [b for a, b in edges if a == nxt]
        else:
            raise ChipMappingError(f"node {name!r}: AvgPool2d feeds {nxt!r} ({type(nodes[nxt]).__name__}); "
                                   "its 1/k² must go into the next weights")
    notes.append(MappingNote(name, "node", f"AvgPool2d written as SumPool2d; the next weights × {factor:g}",
                             "info"))
