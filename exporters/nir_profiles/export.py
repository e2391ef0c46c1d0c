"""``export_for``: a folded model → the NIR graph one peer's importer runs with snndeploy's semantics.

Steps (profile ``p``, see ``base.NIRProfile``):

1. every folded neuron the peer cannot represent is replaced by ``p.supports``' approximation (recorded
   with its reason; the layer becomes ``exact: false``);
2. with calibration data, the cost is *measured*: the folded model with each neuron run in the peer's
   semantics (``p.emulate``, or the approximated ``FoldedLIF``) against the folded model, spike agreement per
   layer;
3. ``exporters.nir.to_nir`` writes the flat graph with the profile's dt; each neuron node is rewritten by
   ``p.neuron_node`` (its input gain folded into the incoming weights where the peer needs r = 1), then
   ``p.rewrites`` run; node types the importer does not map are reported;
4. the contract (``snndeploy_contract``) gets a ``profile`` section: peer, versions, reader call, dt and
   time unit, whether the file keeps NIR's own semantics, every rewrite and warning, and the measured
   agreement.

Neuron nodes keep their provenance in ``metadata["snndeploy_source"]`` (spec, source neuron, rule) but not
the ``snndeploy`` record nirsim uses for its exact float convention: the file is written for the peer, so
nirsim runs it with NIR's generic semantics (``float_convention = "peer:<name>"``).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor, nn

from snndeploy.errors import ExportError
from snndeploy.models.tree import get_module, neuron_paths, set_module
from snndeploy.neurons import IAF, CubaLIF

from ..fold.calibration import capture
from ..fold.report import FoldReport
from ..lifspec import FoldedLIF, LIFSpec
from ..nir import contract_of, to_nir, write_nir
from . import rewrites as rw
from .base import NIRProfile, get_profile

__all__ = ["ProfileExport", "export_for", "write_for", "measure_cost"]


@dataclass
class ProfileExport:
    """What ``export_for`` produced: the graph and the profile section of its contract."""

    graph: nir.NIRGraph
    profile: NIRProfile
    section: dict[str, Any] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return list(self.section.get("warnings", []))

    @property
    def representable(self) -> bool:
        """True when the peer represents every layer and node (no approximation, nothing unimportable)."""
        return bool(self.section.get("representable"))


def _approximate(folded: nn.Module, prof: NIRProfile) -> tuple[nn.Module, dict[str, str], list[str]]:
    """Copy of ``folded`` with unrepresentable specs replaced; ``{path: reason}`` and hard refusals."""
    model = copy.deepcopy(folded)
    reasons: dict[str, str] = {}
    refused: list[str] = []
    for path, m in list(neuron_paths(model)):
        if not isinstance(m, FoldedLIF):
            if isinstance(m, (IAF, CubaLIF)):  # chip-faithful neurons: fold keeps them as they are
                raise ExportError(
                    f"layer {path}: {type(m).__name__} is a chip-faithful neuron (multi-spike counts, a "
                    f"synaptic current or integer rounding); the {prof.name} profile exports LIF layers "
                    "only: export with to_nir (nir.IF / nir.CubaLIF with the contract's notes) or hand off "
                    "with `snndeploy deploy`"
                )
            raise ExportError(
                f"layer {path}: {type(m).__name__} is not folded (run exporters.fold.fold first)"
            )
        approx = prof.supports(m.spec)
        if approx is None:
            continue
        if approx.spec is None:
            refused.append(f"layer {path}: {approx.reason}")
            continue
        info = {**m.fold_info, "exact": False, "profile_approximation": approx.reason}
        set_module(model, path, FoldedLIF(approx.spec, m.surrogate, info))
        reasons[path] = approx.reason
    return model.eval(), reasons, refused


@torch.no_grad()
def measure_cost(folded: nn.Module, approx: nn.Module, prof: NIRProfile, x: Tensor) -> dict[str, Any]:
    """Spike agreement per layer of ``approx`` run with the peer's neuron semantics against ``folded`` on
    ``x``."""
    emulated = copy.deepcopy(approx)
    paths = [p for p, _ in neuron_paths(folded)]
    if prof.emulate is not None:
        for p in paths:
            set_module(emulated, p, prof.emulate(get_module(emulated, p).spec))
    with capture(folded, paths) as ref:
        folded(x)
    with capture(emulated, paths) as got:
        emulated(x)
    layers = {p: float((ref[p] == got[p]).float().mean()) for p in paths}
    total = sum(ref[p].numel() for p in paths)
    same = sum(int((ref[p] == got[p]).sum()) for p in paths)
    return {
        "samples": int(x.shape[1]),
        "T": int(x.shape[0]),
        "layers": layers,
        "spike_agreement": same / total if total else 1.0,
        "what": f"folded model vs the same model with every neuron in {prof.name}'s semantics (snndeploy's "
        "float order)",
    }


def _layer_nodes(nodes: dict[str, nir.NIRNode], layer: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The ``snndeploy`` record of a contract layer's neuron and the node names that make it up."""
    node = nodes[layer["node"]]
    meta = json.loads(node.metadata["snndeploy"])
    if meta["role"] == "lif":
        return meta, [layer["node"]]
    names = meta["nodes"]
    return meta, [names["li"], names["threshold"], names["reset"]]


def _rewrite_neuron(
    nodes, edges, layer: dict[str, Any], prof: NIRProfile, dt: float, notes: list[str], problems: list[str]
) -> None:
    meta, members = _layer_nodes(nodes, layer)
    spec = LIFSpec.from_dict(meta["spec"])
    first, last = members[0], members[1] if len(members) > 1 else members[0]
    shape = tuple(int(s) for s in np.asarray(nodes[first].input_type["input"]))
    name = first[: -len("_li")] if len(members) > 1 else first
    ins = [a for a in rw.preds(edges, first) if a not in members]
    outs = [b for b in rw.succs(edges, last) if b not in members]
    out = prof.neuron_node(spec, shape, dt)
    source = {k: meta.get(k) for k in ("spec", "source", "rule", "exact")}
    out.node.metadata = {
        "snndeploy_source": json.dumps({**source, "profile": prof.name}),
        "source_neuron": str(meta.get("source")),
        "fold_rule": str(meta.get("rule")),
    }
    edges[:] = [e for e in edges if e[0] not in members and e[1] not in members]
    for m in members:
        del nodes[m]
    nodes[name] = out.node
    edges += [(a, name) for a in ins] + [(name, b) for b in outs]
    layer["node"] = name
    notes += [f"{name}: {n}" for n in out.notes]
    problems += [f"{name}: {p}" for p in out.problems]
    folded_note = rw.fold_input_scale(nodes, edges, name, out.input_scale)
    if folded_note:
        notes.append(folded_note)


def export_for(
    folded: nn.Module,
    input_shape: tuple[int, ...],
    peer: str | NIRProfile,
    *,
    dt: float = 1e-3,
    T: int | None = None,
    report: FoldReport | None = None,
    calibration: Tensor | None = None,
) -> ProfileExport:
    """Export ``folded`` (``exporters.fold.fold``) for ``peer``'s NIR importer (see the module docstring).

    Args:
        folded: the folded model (``FoldedLIF`` neurons); maps ``[T, B, *input_shape]`` to outputs.
        input_shape: one step of one sample.
        peer: a profile name (``profile_names()``) or profile.
        dt: the step in seconds (used unless the profile fixes its own, e.g. snntorch's 1e-4 s).
        T: time steps (metadata). report: the fold report (exactness per layer).
        calibration: ``[T, B, *input_shape]`` inputs on which the cost of every approximation is measured.
    """
    prof = get_profile(peer)
    approx, reasons, refused = _approximate(folded, prof)
    export_dt = float(prof.dt if prof.dt is not None else dt)
    graph = to_nir(approx, input_shape, dt=export_dt, T=T, flat=True, report=report)
    contract = contract_of(graph)
    nodes, edges = dict(graph.nodes), list(graph.edges)
    notes: list[str] = []
    problems: list[str] = list(refused)
    ctx: dict[str, Any] = {"profile": prof, "dt": export_dt, "unrepresentable": problems}
    # junctions first, so that an input gain folds into the branches rather than behind the junction
    first = [r for r in prof.rewrites if r is rw.edges_for_junctions]
    for rewrite in first:
        notes += rewrite(nodes, edges, ctx)
    for layer in contract["layers"]:
        _rewrite_neuron(nodes, edges, layer, prof, export_dt, notes, problems)
        if layer["path"] in reasons:
            layer.update(exact=False, profile_approximation=reasons[layer["path"]])
    for rewrite in prof.rewrites:
        if rewrite not in first:
            notes += rewrite(nodes, edges, ctx)
    for name, node in nodes.items():
        kind = type(node).__name__
        if prof.node_types and kind not in prof.node_types:
            problems.append(f"{name}: {prof.name}'s importer has no mapping for nir.{kind}")
    warnings_ = [f"layer {p}: {r}" for p, r in reasons.items()] + problems
    measured = measure_cost(folded, approx, prof, calibration) if calibration is not None else None
    if measured is not None and measured["spike_agreement"] < 1.0:
        worst = min(measured["layers"], key=measured["layers"].get)
        warnings_.append(
            f"in {prof.name}'s neuron semantics the model spikes differently on the calibration data: "
            f"{100 * measured['spike_agreement']:.2f}% spike agreement ({worst}: "
            f"{100 * measured['layers'][worst]:.2f}%)"
        )
    section = {
        "name": prof.name,
        "peer_versions": prof.versions,
        "reader": prof.reader,
        "dt": export_dt,
        "time_unit": prof.time_unit,
        "nir_semantics": prof.nir_semantics,
        "threshold_op": prof.threshold_op,
        "float_order": prof.float_order,
        "rewrites": notes,
        "warnings": warnings_,
        "representable": not warnings_,
        "measured": measured,
    }
    contract.update(
        dt=export_dt,
        time_unit=prof.time_unit,
        float_convention=f"peer:{prof.name}",
        exact=all(layer["exact"] for layer in contract["layers"]) and not problems,
        profile=section,
        residual="flat",
        threshold_comparison=f"threshold written for {prof.name}'s v {prof.threshold_op} theta",
    )
    meta = {
        "snndeploy_contract": json.dumps(contract, default=float),
        "dt": export_dt,
        "time_unit": prof.time_unit,
        "float_convention": f"peer:{prof.name}",
        "source": dict(graph.metadata).get("source", "snndeploy"),
        "profile": prof.name,
    }
    try:
        out = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=True)
    except (ValueError, AssertionError, NotImplementedError) as exc:
        raise ExportError(f"profile {prof.name}: the rewritten graph failed NIR's type check: {exc}") from exc
    return ProfileExport(out, prof, section)


def write_for(
    path: str | os.PathLike[str], folded: nn.Module, input_shape: tuple[int, ...], peer: str, **kwargs: Any
) -> ProfileExport:
    """``export_for`` and write the graph atomically to ``path``; returns the export."""
    exp = export_for(folded, input_shape, peer, **kwargs)
    write_nir(path, exp.graph)
    return exp
