"""Folded model → ``nir.NIRGraph`` (registry keyed by module type), graph metadata (the conversion contract),
files.

Mappings (shapes exclude the batch dimension, as NIR's):
- ``Linear`` → ``nir.Affine(W, b)`` (``nir.Linear(W)`` without bias); ``Conv2d`` → ``nir.Conv2d``
  (input_shape set); ``AvgPool2d`` → ``nir.AvgPool2d`` (mean over the window, zero padding counted);
  ``Flatten(start, end)`` → ``nir.Flatten(start − 1, end − 1)`` (NIR shapes have no batch axis);
  ``Dropout``/``Identity`` → nothing.
- hard-reset ``FoldedLIF``/``LIF`` → one ``nir.LIF`` (``lifspec.to_euler`` with ``dt``; threshold
  ``nextafter(float32(θ), −inf)`` so NIR's ``v > θ_n`` fires exactly when ours fires at ``v ≥ θ``).
- soft-reset → ``nir.LI`` → ``nir.Threshold`` with a recurrent ``nir.Scale(w)`` edge from the spikes back
  into the LI input, delivered one step later; the LI state is the pre-reset membrane H, so H[t] = a·H[t−1]
  + b·X[t] + c − a·c_r·S[t−1] and w = −a·c_r/b (= −β·θ for LIF without decay_input). ``soft_reset="hard"``
  exports one ``nir.LIF`` with a hard reset instead, marked approximate.
- ``IAF`` → one ``nir.IF`` (r = 1/dt, so that NIR's Euler step dt·r·I adds the input whole; threshold
  ``nextafter(float32(θ), −inf)``; v_reset = 0). ``CubaLIF`` → one ``nir.CubaLIF`` by the forward-Euler
  matching of ``lifspec.to_euler``: τ_syn = dt/(1 − α), w_in = 1/(1 − α) (Loihi order: I ← α·I + X) or
  α/(1 − α) (Xylo order: I ← α·(I + X)), τ_mem = dt/(1 − β), r = 1/(1 − β), v_leak = b/(1 − β), v_reset = 0,
  threshold θ (strict) or ``nextafter(float32(θ), −inf)`` (≥); β = 1 (no leak) has no such form (ExportError).
  NIR has no multi-spike neuron, no subtractive reset for IF/CubaLIF, no membrane floor and no integer
  rounding: each node carries the neuron's own record (``metadata["snndeploy"]``, role ``iaf`` / ``cubalif``),
  which nirsim runs exactly (``snndeploy.nirsim.nodes``); the contract's layer entry says where NIR's own
  semantics differ (``nir_semantics``) — what a reader that ignores the record computes.
- ``Residual`` → a nested ``NIRGraph`` (Input, main, shortcut, Output summing both), or with ``flat=True`` the
  same nodes inline and a ``nir.Scale(1)`` junction summing both branches.
Every neuron node's metadata has ``snndeploy`` (JSON: the spec, source neuron, fold rule, exactness,
agreement); the graph's metadata has ``snndeploy_contract`` (JSON: dt, T, float convention, threshold,
reset and cycle semantics).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from snndeploy import __version__
from snndeploy.errors import ExportError
from snndeploy.io import atomic_path
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.models.tree import check_tree, path_name
from snndeploy.neurons import IAF, LIF, CubaLIF
from snndeploy.registry import Registry

from .fold.report import FoldReport
from .fold.rules import fold_lif
from .lifspec import FLOAT_CONVENTION, FoldedLIF, LIFSpec, nir_threshold, to_euler

__all__ = ["to_nir", "write_nir", "read_nir", "contract_of", "NIR_MAPPERS", "register_nir_mapper",
           "CYCLE_SEMANTICS", "CONTRACT_FORMAT", "neuron_record", "cubalif_euler"]

CONTRACT_FORMAT = "snndeploy-nir/1"
CYCLE_SEMANTICS = (
    "discrete time, step dt; each step evaluates nodes in topological order of the acyclic part; "
    "inside a cycle, nodes run in depth-first order from the cycle's entry and an edge whose target "
    "precedes its source in that order (e.g. Scale → LI of a soft reset) delivers the source's value of "
    "the previous step (0 at t = 0)"
)
THRESHOLD_RULE = (
    "source neurons fire at v >= theta (float32); NIR fires at v > theta_nir with "
    "theta_nir = nextafter(float32(theta), -inf): identical for float32 v"
)


@dataclass
class _Builder:
    dt: float
    soft_reset: str
    report: FoldReport | None
    flat: bool = False
    nodes: dict[str, nir.NIRNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, node: nir.NIRNode, srcs: list[str]) -> str:
        if name in self.nodes:
            raise ExportError(f"duplicate NIR node name {name!r}")
        self.nodes[name] = node
        self.edges += [(s, name) for s in srcs]
        return name


Shape = tuple[int, ...]
Mapper = Callable[[nn.Module, str, str, list[str], Shape, _Builder], tuple[list[str], Shape]]
NIR_MAPPERS: Registry[type[nn.Module], Mapper] = Registry("NIR mapping", ExportError)


def register_nir_mapper(cls: type[nn.Module]) -> Callable[[Mapper], Mapper]:
    """Decorator: the NIR mapping of module type ``cls`` (double registration is an error)."""
    return NIR_MAPPERS.register(cls)


def _emit(
    module: nn.Module, path: str, srcs: list[str], shape: Shape, b: _Builder
) -> tuple[list[str], Shape]:
    target = module.layer if isinstance(module, TimeDistributed) else module
    mapper = NIR_MAPPERS.find_type(type(target))
    if mapper is not None:
        return mapper(target, path, _node_name(path), srcs, shape, b)
    hint = (
        " (fold it first: exporters.fold.fold)"
        if hasattr(target, "neuron_name") or "BatchNorm" in type(target).__name__
        else ""
    )
    raise ExportError(
        f"layer {path_name(path)}: no NIR mapping for {type(target).__name__}{hint}; supported: "
        f"{NIR_MAPPERS.known()}"
    )


def _node_name(path: str) -> str:
    return "layer_" + path.replace(".", "_") if path else "layer"


def _f32(a: Any) -> np.ndarray:
    return np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float32)


def _shape_error(path: str, what: str, expected: Any, got: Shape) -> ExportError:
    return ExportError(
        f"layer {path_name(path)}: shape mismatch: {what} expects {expected}, got input {list(got)}"
    )


@register_nir_mapper(nn.Sequential)
def _sequential(m, path, name, srcs, shape, b):
    for child_name, child in m.named_children():
        srcs, shape = _emit(child, f"{path}.{child_name}" if path else child_name, srcs, shape, b)
    return srcs, shape


@register_nir_mapper(nn.Identity)
@register_nir_mapper(nn.Dropout)
def _passthrough(m, path, name, srcs, shape, b):
    return srcs, shape


@register_nir_mapper(nn.Linear)
def _linear(m, path, name, srcs, shape, b):
    if shape != (m.in_features,):
        raise _shape_error(path, f"Linear({m.in_features}, {m.out_features})", [m.in_features], shape)
    node = nir.Affine(_f32(m.weight), _f32(m.bias)) if m.bias is not None else nir.Linear(_f32(m.weight))
    return [b.add(name, node, srcs)], (m.out_features,)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


@register_nir_mapper(nn.Conv2d)
def _conv2d(m, path, name, srcs, shape, b):
    if len(shape) != 3 or shape[0] != m.in_channels:
        raise _shape_error(path, f"Conv2d(in_channels={m.in_channels})", "[C, H, W]", shape)
    if m.groups != 1:
        raise ExportError(
            f"layer {path_name(path)}: grouped Conv2d (groups={m.groups}): NIR {nir.version} infers the "
            "input channels as weight.shape[1] and rejects it"
        )
    if m.padding_mode != "zeros":
        raise ExportError(
            f"layer {path_name(path)}: Conv2d padding_mode={m.padding_mode!r}; only 'zeros' maps to NIR"
        )
    pad = m.padding if isinstance(m.padding, str) else _pair(m.padding)
    bias = _f32(m.bias) if m.bias is not None else np.zeros(m.out_channels, dtype=np.float32)
    node = nir.Conv2d(
        input_shape=(shape[1], shape[2]),
        weight=_f32(m.weight),
        stride=_pair(m.stride),
        padding=pad,
        dilation=_pair(m.dilation),
        groups=m.groups,
        bias=bias,
        metadata={"has_bias": int(m.bias is not None)},
    )
    out = torch.nn.functional.conv2d(
        torch.zeros(1, *shape), m.weight.detach().cpu(), None, m.stride, m.padding, m.dilation, m.groups
    ).shape[1:]
    return [b.add(name, node, srcs)], tuple(out)


@register_nir_mapper(nn.AvgPool2d)
def _avgpool(m, path, name, srcs, shape, b):
    if len(shape) != 3:
        raise _shape_error(path, "AvgPool2d", "[C, H, W]", shape)
    if m.ceil_mode or m.divisor_override is not None:
        raise ExportError(
            f"layer {path_name(path)}: AvgPool2d with ceil_mode or divisor_override has no NIR form"
        )
    k, s, p = (
        _pair(m.kernel_size),
        _pair(m.stride if m.stride is not None else m.kernel_size),
        _pair(m.padding),
    )
    if any(p) and not m.count_include_pad:
        raise ExportError(
            f"layer {path_name(path)}: AvgPool2d(count_include_pad=False) with padding has no NIR form"
        )
    node = nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    out = torch.nn.functional.avg_pool2d(torch.zeros(1, *shape), k, s, p).shape[1:]
    return [b.add(name, node, srcs)], tuple(out)


@register_nir_mapper(nn.Flatten)
def _flatten(m, path, name, srcs, shape, b):
    start = m.start_dim if m.start_dim >= 0 else m.start_dim + len(shape) + 1
    end = m.end_dim if m.end_dim >= 0 else m.end_dim + len(shape) + 1
    if start < 1:
        raise ExportError(
            f"layer {path_name(path)}: Flatten(start_dim={m.start_dim}) would merge the batch axis"
        )
    n_start, n_end = start - 1, (end - 1 if end < len(shape) else -1)
    node = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=n_start, end_dim=n_end)
    out = tuple(int(v) for v in node.output_type["output"])
    return [b.add(name, node, srcs)], out


def _full(value: float, shape: Shape, dtype=np.float32) -> np.ndarray:
    return np.full(shape, value, dtype=dtype)


def _neuron_meta(spec: LIFSpec, info: dict[str, Any], role: str, exact: bool, extra: dict[str, Any]) -> dict:
    record = {
        "role": role,
        "spec": spec.to_dict(),
        "source": info.get("source"),
        "rule": info.get("rule"),
        "exact": exact,
        **extra,
    }
    return {
        "snndeploy": json.dumps(record),
        "source_neuron": str(info.get("source")),
        "fold_rule": str(info.get("rule")),
        "exact": str(exact).lower(),
    }


def _neuron(m: nn.Module, path: str, name: str, srcs: list[str], shape: Shape, b: _Builder):
    if isinstance(m, LIF):
        m = fold_lif(m, path, None)[0]
    spec, info = m.spec, dict(m.fold_info)
    spec.check_shape(shape, path_name(path))  # per-neuron reset arrays must broadcast to the layer's neurons
    layer = {
        "path": path,
        "node": name,
        "source_neuron": info.get("source"),
        "rule": info.get("rule"),
        "exact": bool(info.get("exact", False)),
    }
    rec = b.report.for_layer(path) if b.report is not None else None
    if rec is not None:
        layer["spike_agreement"] = rec.spike_agreement
        layer["conditions"] = rec.conditions
    exact = layer["exact"]
    if spec.reset == "soft" and b.soft_reset == "hard":
        hard = LIFSpec(
            spec.tau, spec.decay_input, spec.v_rest, spec.v_threshold, "hard", v_reset=0.0, scale=spec.scale
        )
        layer.update(exact=False, export="soft reset exported as hard reset to 0 (approximate)")
        b.layers.append(layer)
        meta = _neuron_meta(
            hard, info, "lif", False, {"source_spec": spec.to_dict(), "export": layer["export"]}
        )
        return [b.add(name, _lif_node(hard, shape, b.dt, meta), srcs)], shape
    if spec.reset == "hard":
        b.layers.append(layer)
        return [
            b.add(name, _lif_node(spec, shape, b.dt, _neuron_meta(spec, info, "lif", exact, {})), srcs)
        ], shape
    e = to_euler(spec, b.dt)
    names = {"li": f"{name}_li", "threshold": f"{name}_thr", "reset": f"{name}_reset"}
    # one value, or one per neuron when the reset amount is per neuron
    w = -spec.decay * np.asarray(spec.reset_amount, dtype=np.float64) / spec.input_gain
    extra = {"nodes": names, "recurrent_scale": w.tolist()}
    b.add(
        names["li"],
        nir.LI(
            tau=_full(e.tau, shape),
            r=_full(e.r, shape),
            v_leak=_full(e.v_leak, shape),
            metadata=_neuron_meta(spec, info, "soft_lif.li", exact, extra),
        ),
        srcs,
    )
    b.add(
        names["threshold"],
        nir.Threshold(
            threshold=np.full(shape, nir_threshold(spec.v_threshold), np.float32),
            metadata=_neuron_meta(spec, info, "soft_lif.threshold", exact, extra),
        ),
        [names["li"]],
    )
    b.add(
        names["reset"],
        nir.Scale(scale=_full(w, shape), metadata=_neuron_meta(spec, info, "soft_lif.reset", exact, extra)),
        [names["threshold"]],
    )
    b.edges.append((names["reset"], names["li"]))
    layer["node"] = names["threshold"]
    b.layers.append(layer)
    return [names["threshold"]], shape


def _lif_node(spec: LIFSpec, shape: Shape, dt: float, meta: dict) -> nir.LIF:
    e = to_euler(spec, dt)
    return nir.LIF(
        tau=_full(e.tau, shape),
        r=_full(e.r, shape),
        v_leak=_full(e.v_leak, shape),
        v_threshold=np.full(shape, nir_threshold(spec.v_threshold), np.float32),
        v_reset=_full(spec.v_reset, shape),
        metadata=meta,
    )


register_nir_mapper(FoldedLIF)(_neuron)
register_nir_mapper(LIF)(_neuron)


def neuron_record(params: Any) -> dict[str, Any]:
    """The primitive fields of a neuron's params record (the surrogate is a training detail: left out)."""
    return {k: v for k, v in vars(params).items() if isinstance(v, (bool, int, float, str)) or v is None}


def _chip_neuron(m: nn.Module, path: str, name: str, shape: Shape, b: _Builder, role: str,
                 differs: str) -> tuple[dict, dict]:
    """(node metadata, contract layer entry) of an IAF/CubaLIF node (module docstring)."""
    source = type(m).__name__
    record = {"role": role, "params": neuron_record(m.params()), "source": source,
              "rule": f"{role}.identity", "exact": True, "nir_semantics": differs}
    layer = {"path": path, "node": name, "source_neuron": source, "rule": record["rule"], "exact": True,
             "nir_semantics": differs}
    rec = b.report.for_layer(path) if b.report is not None else None
    if rec is not None:
        layer["spike_agreement"] = rec.spike_agreement
        layer["conditions"] = rec.conditions
    b.layers.append(layer)
    meta = {"snndeploy": json.dumps(record), "source_neuron": source, "fold_rule": record["rule"],
            "exact": "true"}
    return meta, layer


def _iaf_differs(p: Any) -> str:
    parts = ["NIR's IF resets to v_reset = 0 where this neuron subtracts θ"]
    if p.max_spikes != 1:
        cap = "no cap" if p.max_spikes is None else f"up to {p.max_spikes}"
        parts.append(f"NIR has no multi-spike neuron: IF fires at most once per step, this one floor(v/θ) "
                     f"times ({cap})")
    if p.v_min is not None:
        parts.append(f"NIR has no membrane floor (v_min = {p.v_min:g})")
    return "; ".join(parts) + " (sinabs.from_nir reads IF as a multi-spike subtractive IAF clipped at −θ)"


@register_nir_mapper(IAF)
def _iaf(m, path, name, srcs, shape, b):
    p = m.params()
    meta, _ = _chip_neuron(m, path, name, shape, b, "iaf", _iaf_differs(p))
    theta = np.full(shape, nir_threshold(p.v_threshold), np.float32)
    node = nir.IF(r=_full(1.0 / b.dt, shape), v_threshold=theta, v_reset=_full(0.0, shape), metadata=meta)
    return [b.add(name, node, srcs)], shape


def cubalif_euler(p: Any, dt: float, path: str = "") -> dict[str, float]:
    """NIR CubaLIF parameters (module docstring) of ``CubaLIFParams`` ``p`` at step ``dt``."""
    if p.beta >= 1.0:
        raise ExportError(f"layer {path_name(path)}: CubaLIF beta = 1 (no membrane leak) has no NIR CubaLIF "
                          "form (tau_mem = dt/(1 - beta) would be infinite)")
    one_a, one_b = 1.0 - p.alpha, 1.0 - p.beta
    w_in = 1.0 / one_a if p.flavour == "loihi" else p.alpha / one_a
    theta = float(np.float32(p.v_threshold)) if p.strict else float(nir_threshold(p.v_threshold))
    return {"tau_syn": dt / one_a, "tau_mem": dt / one_b, "r": 1.0 / one_b, "v_leak": p.bias / one_b,
            "w_in": w_in, "v_threshold": theta}


def _cubalif_differs(p: Any) -> str:
    parts = []
    if p.reset == "subtract":
        parts.append("NIR's CubaLIF resets to v_reset = 0 where this neuron subtracts θ")
        if p.max_spikes != 1:
            parts.append("NIR has no multi-spike neuron (CubaLIF fires at most once per step)")
    if p.lsb is not None:
        parts.append(f"the chip's integer rounding and saturation (lsb = {p.lsb:g}, {p.flavour}) are not NIR")
    return "; ".join(parts) if parts else "none (the Euler form is this neuron's float recurrence)"


@register_nir_mapper(CubaLIF)
def _cubalif(m, path, name, srcs, shape, b):
    p = m.params()
    e = cubalif_euler(p, b.dt, path)
    meta, _ = _chip_neuron(m, path, name, shape, b, "cubalif", _cubalif_differs(p))
    node = nir.CubaLIF(
        tau_syn=_full(e["tau_syn"], shape), tau_mem=_full(e["tau_mem"], shape), r=_full(e["r"], shape),
        v_leak=_full(e["v_leak"], shape), v_threshold=np.full(shape, e["v_threshold"], np.float32),
        v_reset=_full(0.0, shape), w_in=_full(e["w_in"], shape), metadata=meta)
    return [b.add(name, node, srcs)], shape


@register_nir_mapper(Residual)
def _residual(m, path, name, srcs, shape, b):
    main_p = f"{path}.main" if path else "main"
    short_p = f"{path}.shortcut" if path else "shortcut"
    if b.flat:
        m_srcs, m_shape = _emit(m.main, main_p, srcs, shape, b)
        s_srcs, s_shape = _emit(m.shortcut, short_p, srcs, shape, b)
        if m_shape != s_shape:
            raise ExportError(
                f"layer {path_name(path)}: residual branches disagree: main {list(m_shape)}, "
                f"shortcut {list(s_shape)}"
            )
        junction = b.add(
            f"{name}_add",
            nir.Scale(scale=np.ones(m_shape, np.float32), metadata={"snndeploy_role": "residual_add"}),
            m_srcs + s_srcs,
        )
        return [junction], m_shape
    sub = _Builder(b.dt, b.soft_reset, b.report, flat=False)
    sub.add("input", nir.Input(input_type={"input": np.array(shape)}), [])
    m_srcs, m_shape = _emit(m.main, main_p, ["input"], shape, sub)
    s_srcs, s_shape = _emit(m.shortcut, short_p, ["input"], shape, sub)
    if m_shape != s_shape:
        raise ExportError(
            f"layer {path_name(path)}: residual branches disagree: main {list(m_shape)}, "
            f"shortcut {list(s_shape)}"
        )
    sub.add("output", nir.Output(output_type={"output": np.array(m_shape)}), m_srcs + s_srcs)
    b.layers += sub.layers
    graph = _graph(sub, {"snndeploy_role": "residual", "path": path})
    return [b.add(name, graph, srcs)], m_shape


def _graph(b: _Builder, metadata: dict[str, Any]) -> nir.NIRGraph:
    try:
        return nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata=metadata, type_check=True)
    except (ValueError, AssertionError, NotImplementedError) as exc:
        raise ExportError(f"NIR graph failed NIR's type check: {exc}") from exc


def to_nir(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    dt: float = 1e-3,
    T: int | None = None,
    flat: bool = False,
    soft_reset: str = "exact",
    report: FoldReport | None = None,
) -> nir.NIRGraph:
    """Convert a folded model (``FoldedLIF``/LIF neurons, no BatchNorm) into a ``nir.NIRGraph``.

    Args:
        model: folded model tree (``exporters.fold.fold``); maps ``[T, B, *input_shape]`` to outputs.
        input_shape: shape of one time step of one sample (no T, no batch).
        dt: time step in seconds (NIR time constants are τ_steps · dt).
        T: number of time steps the model was trained/evaluated with (metadata only).
        flat: inline residual blocks with ``Scale(1)`` junctions instead of nested sub-graphs.
        soft_reset: ``"exact"`` (LI → Threshold + recurrent Scale) or ``"hard"`` (one LIF, approximate).
        report: the ``FoldReport`` whose exactness and agreement go into the metadata.

    Returns:
        The graph; its ``metadata["snndeploy_contract"]`` is the JSON conversion contract.
    """
    check_tree(model)
    if soft_reset not in ("exact", "hard"):
        raise ExportError(f"soft_reset must be 'exact' or 'hard', got {soft_reset!r}")
    shape = tuple(int(s) for s in input_shape)
    to_euler(LIFSpec(2.0, False, 0.0, 1.0), dt)  # validates dt
    b = _Builder(float(dt), soft_reset, report, flat=flat)
    b.add("input", nir.Input(input_type={"input": np.array(shape)}), [])
    srcs, out_shape = _emit(model, "", ["input"], shape, b)
    b.add("output", nir.Output(output_type={"output": np.array(out_shape)}), srcs)
    contract = {
        "format": CONTRACT_FORMAT,
        "snndeploy_version": __version__,
        "nir_version": nir.version,
        "dt": float(dt),
        "time_unit": "s",
        "T": T,
        "discretisation": "forward Euler (exporters.lifspec.to_euler)",
        "float_convention": FLOAT_CONVENTION,
        "threshold_comparison": THRESHOLD_RULE,
        "reset_semantics": {
            "iaf": "IF node (role iaf): v -> v - n*theta with n = floor(v/theta) spikes (capped by "
            "max_spikes), then max(v, v_min); NIR's own IF resets to v_reset and fires once (see each "
            "layer's nir_semantics)",
            "cubalif": "CubaLIF node (role cubalif): subtract theta per spike (xylo) or v -> 0 (loihi), the "
            "chip's order of operations; see each layer's nir_semantics",
            "hard": "LIF: v -> v_reset after a spike",
            "soft": "LI -> Threshold with a recurrent Scale(w) edge (subtractive reset)"
            if soft_reset == "exact"
            else "exported as hard reset (approximate)",
        },
        "cycle_semantics": CYCLE_SEMANTICS,
        "residual": "flat" if flat else "nested",
        "avgpool": "mean over the window, zero padding counted",
        "flatten": "start_dim/end_dim exclude the batch axis",
        "layers": b.layers,
        "exact": all(layer["exact"] for layer in b.layers),
        "fold_report": report.to_dict() if report is not None else None,
    }
    meta = {
        "snndeploy_contract": json.dumps(contract, default=float),
        "dt": float(dt),
        "time_unit": "s",
        "float_convention": FLOAT_CONVENTION,
        "source": f"snndeploy {__version__}",
    }
    return _graph(b, meta)


def contract_of(graph: nir.NIRGraph) -> dict[str, Any] | None:
    """The parsed conversion contract of a graph snndeploy wrote, else None (``ExportError`` if it is not
    JSON)."""
    raw = (graph.metadata or {}).get("snndeploy_contract")
    if raw is None:
        return None
    try:
        out = json.loads(raw if isinstance(raw, str) else bytes(raw).decode())
    except (ValueError, TypeError) as exc:
        raise ExportError(f"NIR metadata field 'snndeploy_contract' is not valid JSON: {exc}") from None
    if not isinstance(out, dict):
        raise ExportError("NIR metadata field 'snndeploy_contract' must be a JSON object")
    return out


def write_nir(path: str | os.PathLike[str], graph: nir.NIRGraph) -> None:
    """Write ``graph`` to ``path`` atomically (nothing is left behind on failure)."""
    try:
        with atomic_path(path) as tmp:
            nir.write(tmp, graph)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{path}: could not write the NIR graph: {exc}") from exc


_KNOWN_TYPES = {
    "Conv1d",
    "Conv2d",
    "Delay",
    "Flatten",
    "Input",
    "NIRGraph",
    "Output",
    "Affine",
    "Linear",
    "Scale",
    "CubaLI",
    "CubaLIF",
    "I",
    "IF",
    "LI",
    "LIF",
    "AvgPool2d",
    "SumPool2d",
    "Threshold",
}


def _check_types(d: dict[str, Any], where: str, path: str) -> None:
    nodes = d.get("nodes") if isinstance(d, dict) else None
    if not isinstance(nodes, dict):
        raise ExportError(f"{path}: graph {where or '<root>'!r} has no 'nodes' group")
    for name, node in nodes.items():
        typ = node.get("type") if isinstance(node, dict) else None
        if isinstance(typ, (bytes, np.bytes_)):
            typ = bytes(typ).decode("utf-8", errors="replace")
        if typ not in _KNOWN_TYPES:
            raise ExportError(
                f"{path}: node {where}{name!r} has unknown type {typ!r}; NIR {nir.version} knows "
                f"{', '.join(sorted(_KNOWN_TYPES))}"
            )
        if typ == "NIRGraph":
            _check_types(node, f"{where}{name}.", path)


def read_nir(path: str | os.PathLike[str], type_check: bool = True) -> nir.NIRGraph:
    """``nir.read`` with typed errors: a missing or foreign file, an unknown node type (named), a type
    mismatch.

    Before reading any data, the HDF5 layout is scanned (``snndeploy.filecheck.scan_nir_hdf5``: dataset sizes
    against ``snndeploy.limits``); after reading, every node is validated (finite numeric parameters, shapes).
    ``type_check=False`` skips NIR's shape inference (for older peer files that fail it; nir ≥ 1.0.7, whose
    ``nir.read`` has the argument: nir 1.0.6 always type-checks).
    """
    import h5py
    from nir.serialization import hdf2dict

    from snndeploy.errors import SnnDeployError
    from snndeploy.filecheck import scan_nir_hdf5, validate_nir_graph

    if not os.path.isfile(path):
        raise ExportError(f"{path}: no such NIR file")
    scan_nir_hdf5(path)
    try:
        with h5py.File(path, "r") as f:
            d = hdf2dict(f["node"])
    except Exception as exc:  # h5py: OSError/RuntimeError/KeyError/ValueError on corrupted files
        raise ExportError(f"{path}: not a NIR (HDF5) file: {type(exc).__name__}: {exc}") from None
    _check_types(d, "", str(path))
    try:
        # nir < 1.0.7's read has no type_check argument (and always type-checks)
        kwargs = {"type_check": type_check} if "type_check" in inspect.signature(nir.read).parameters else {}
        graph = nir.read(path, **kwargs)
    except SnnDeployError:
        raise
    except Exception as exc:  # nir's own checks (ValueError, AssertionError, ...) and corrupted fields
        raise ExportError(f"{path}: invalid NIR graph: {type(exc).__name__}: {exc}") from None
    validate_nir_graph(graph, str(path))
    contract_of(graph)  # a corrupted contract fails here, naming the field
    return graph
