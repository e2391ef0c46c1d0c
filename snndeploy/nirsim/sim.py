"""``NIRSimulator``: run a NIR graph in discrete time (explicit dt and cycle semantics), batched, float32
torch.

Input ``[T, B, *input_shape]`` → the Output node's values ``[T, B, *]`` (a dict when there are several
outputs).

Float convention. A graph snndeploy wrote carries ``float_convention = "snndeploy.charge/v1"`` in its
metadata and, on each neuron node, its ``LIFSpec``: nirsim then runs that neuron with
``exporters.lifspec``'s operation order (``charge`` then ``>`` against the node's NIR threshold, then the
reset), after checking that the node's NIR parameters are the Euler discretisation of the spec (else an
error naming the node); a soft-reset LI → Threshold → Scale cycle runs as one subtractive-reset neuron
whose state is the post-reset membrane. This is what makes nirsim's spikes equal the torch model's bit for
bit. Foreign graphs run with the generic Euler form of ``nodes.py``: the same equations, a different float
order, so spikes can differ where a membrane lands within a few ulps of the threshold.

Units. nirsim runs whatever dt it is given, but never silently on a unit problem: time constants below dt,
a batch axis in the Input type, 0-dim parameters (``units.unit_problems``) and files written in a peer's
dialect (``export --for sinabs|rockpool|spyx``) each raise a ``NIRUnitWarning`` naming the node.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor, nn

from exporters.lifspec import LIFSpec, to_euler
from exporters.nir import contract_of, read_nir

from ..errors import ExportError
from ..neurons.dynamics import charge, hard_reset, soft_reset
from .graph import FlatGraph, flatten_graph, schedule
from .nodes import Executor, make_executor
from .units import NIRUnitWarning, unit_problems, warn_unit_problems
from .validate import check_elements, numel, validate_nir_graph


def _shape_of_type(types: Any) -> tuple[int, ...]:
    """The (first) declared shape of a node's ``output_type`` dict (``()`` when none is declared)."""
    if not isinstance(types, dict) or not types:
        return ()
    return tuple(int(v) for v in np.asarray(next(iter(types.values()))).reshape(-1))


__all__ = ["NIRSimulator", "from_nir", "simulate", "layer_spikes"]


def _json_meta(node: nir.NIRNode, key: str) -> dict[str, Any] | None:
    raw = (node.metadata or {}).get(key)
    if raw is None:
        return None
    try:
        if isinstance(raw, (bytes, np.bytes_)):
            raw = raw.decode()
        out = json.loads(str(raw))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ExportError(
            f"node {getattr(node, 'name', '?')!r}: metadata field {key!r} is not valid JSON: {exc}"
        ) from None
    if not isinstance(out, dict):
        raise ExportError(f"metadata field {key!r} must be a JSON object, got {type(out).__name__}")
    return out


class _SpecNeuron(Executor):
    """A neuron snndeploy exported: ``spec_step``'s operation order, NIR threshold with ``>``."""

    def __init__(self, spec, threshold: np.ndarray):
        self.spec = spec
        self.thr = torch.as_tensor(np.asarray(threshold), dtype=torch.float32)

    def step(self, x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        sp = self.spec
        h = charge(v, x, sp.tau, sp.decay_input, sp.v_rest)
        if sp.scale != 1.0:
            h = sp.scale * h
        s = (h > self.thr).to(torch.float32)
        if sp.reset == "hard":
            return s, hard_reset(h, s, sp.operand("v_reset", h))  # a float, or the per-neuron float32 tensor
        return s, soft_reset(h, s, sp.operand("reset_amount", h))


def _check_close(name: str, what: str, got: Any, expected: Any) -> None:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64)  # a number, or per-neuron values (broadcast)
    if not np.allclose(got, want, rtol=1e-5, atol=1e-7):
        raise ExportError(
            f"node {name!r}: NIR {what} = {got.ravel()[:3]} disagrees with its snndeploy metadata "
            f"(expected {want.ravel()[:3]}); the graph was edited after export"
        )


def _spec_executors(g: FlatGraph, dt: float) -> dict[str, Executor]:
    """Rewrite snndeploy-written neurons of ``g`` (in place) into ``_SpecNeuron`` executors."""

    out: dict[str, Executor] = {}
    for name, node in list(g.nodes.items()):
        meta = _json_meta(node, "snndeploy")
        if meta is None or meta.get("role") not in ("lif", "soft_lif.li"):
            continue
        spec = LIFSpec.from_dict(meta["spec"])
        e = to_euler(spec, dt)
        for what, expected in (("tau", e.tau), ("r", e.r), ("v_leak", e.v_leak)):
            _check_close(name, what, getattr(node, what), expected)
        if meta["role"] == "lif":
            if not isinstance(node, nir.LIF):
                raise ExportError(f"node {name!r}: metadata says LIF, node is {type(node).__name__}")
            _check_close(name, "v_reset", node.v_reset, spec.v_reset)
            out[name] = _SpecNeuron(spec, node.v_threshold)
            continue
        prefix = name[: name.rfind(".") + 1]
        thr, reset = prefix + meta["nodes"]["threshold"], prefix + meta["nodes"]["reset"]
        if not (isinstance(g.nodes.get(thr), nir.Threshold) and isinstance(g.nodes.get(reset), nir.Scale)):
            raise ExportError(
                f"node {name!r}: soft-reset partners {thr!r}/{reset!r} missing or of the wrong type"
            )
        _check_close(reset, "scale", g.nodes[reset].scale, -spec.decay * spec.reset_amount / spec.input_gain)
        inner = {(name, thr), (thr, reset), (reset, name)}
        if not inner <= set(g.edges):
            raise ExportError(
                f"node {name!r}: the soft-reset cycle {name} → {thr} → {reset} → {name} is incomplete"
            )
        stray = [e for e in g.edges if e not in inner and (e[0] in (name, reset) or e[1] == reset)]
        if stray:
            raise ExportError(
                f"node {name!r}: the soft-reset cycle has extra edges {stray}; only its Threshold "
                "may feed other nodes"
            )
        g.edges = [(a, thr if b == name else b) for a, b in g.edges if (a, b) not in inner]
        out[thr] = _SpecNeuron(spec, g.nodes[thr].threshold)
        del g.nodes[name], g.nodes[reset]
    return out


class NIRSimulator(nn.Module):
    """Discrete-time interpreter of a NIR graph (see the module docstring). ``forward(x)``: [T, B, *] →
    outputs.

    Args:
        graph: a ``nir.NIRGraph``.
        dt: time step in seconds; default: the graph's ``dt`` metadata (required for graphs without one).
        convention: ``"auto"`` (the graph's ``float_convention``), ``"snndeploy"`` or ``"euler"`` (generic).
    """

    def __init__(self, graph: nir.NIRGraph, dt: float | None = None, convention: str = "auto"):
        super().__init__()
        if not isinstance(graph, nir.NIRGraph):
            raise ExportError(f"nirsim needs a nir.NIRGraph, got {type(graph).__name__}")
        validate_nir_graph(graph)  # finite numeric parameters, declared sizes within snndeploy.limits
        meta = graph.metadata or {}
        if dt is None:
            if "dt" not in meta:
                raise ExportError("the graph has no 'dt' metadata: pass dt= (seconds per step)")
            try:
                dt = float(np.asarray(meta["dt"]))
            except (TypeError, ValueError):
                raise ExportError(f"metadata field 'dt' must be a number, got {meta['dt']!r}") from None
        if not (np.isfinite(dt) and dt > 0):
            raise ExportError(f"dt must be > 0, got {dt}")
        if convention == "auto":
            fc = meta.get("float_convention")
            fc = fc.decode() if isinstance(fc, bytes) else fc
            convention = "snndeploy" if fc == "snndeploy.charge/v1" else "euler"
        if convention not in ("snndeploy", "euler"):
            raise ExportError(f"convention must be 'auto', 'snndeploy' or 'euler', got {convention!r}")
        self.dt, self.convention = float(dt), convention
        # τ < dt (and the other unit problems) run, but never silently: a NIRUnitWarning names the node
        self.unit_problems = unit_problems(graph, self.dt)
        warn_unit_problems(self.unit_problems)
        profile = (contract_of(graph) or {}).get("profile") or {}
        if profile.get("nir_semantics") is False:
            warnings.warn(
                f"the graph was written in {profile.get('name')}'s NIR dialect (snndeploy export --for "
                f"{profile.get('name')}), which NIR's semantics do not share: nirsim's run is not what "
                f"{profile.get('name')} computes",
                NIRUnitWarning,
                stacklevel=2,
            )
        g = flatten_graph(graph)
        if len(g.inputs) != 1:
            raise ExportError(f"nirsim needs exactly one Input node, the graph has {g.inputs}")
        try:
            special = _spec_executors(g, self.dt) if convention == "snndeploy" else {}
            self.graph = g
            self.executors: dict[str, Executor] = {
                n: special[n] if n in special else make_executor(node, n, self.dt)
                for n, node in g.nodes.items()
            }
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
            if isinstance(exc, ExportError):
                raise
            raise ExportError(
                f"the graph's nodes or metadata are malformed: {type(exc).__name__}: {exc}"
            ) from None
        # floats nirsim holds per (time step, sample): every node's declared output (checked against the
        # limit)
        self._per_sample = sum(numel(_shape_of_type(nd.output_type)) for nd in g.nodes.values())
        self.components = schedule(g)
        self._device = torch.device("cpu")
        self.input_name = g.inputs[0]
        try:
            self.input_shape = tuple(int(s) for s in np.asarray(g.nodes[self.input_name].input_type["input"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportError(
                f"node {self.input_name!r}: input_type['input'] is not a shape: {exc}"
            ) from None
        for n in g.nodes:
            if n not in g.inputs and not g.preds(n):
                raise ExportError(f"node {n!r} has no incoming edge (and is not an Input)")

    def forward(self, x: Tensor, record: bool = False) -> Any:
        """Run the graph on ``x`` [T, B, *input_shape]; with ``record`` also return every node's output."""
        if not isinstance(x, Tensor) or x.dim() < 2 or tuple(x.shape[2:]) != self.input_shape:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ExportError(
                f"node {self.input_name!r}: shape mismatch: expects [T, B, "
                f"{', '.join(map(str, self.input_shape))}], got {shape}"
            )
        check_elements(
            numel(x.shape[:2]) * max(self._per_sample, numel(self.input_shape)),
            f"nirsim run (T={x.shape[0]}, B={x.shape[1]}, {self._per_sample} node outputs per step and "
            "sample)",
            "max_sim_elements",
        )
        x = x.float()
        if x.device != self._device:
            for ex in self.executors.values():
                ex.to(x.device)
            self._device = x.device
        g = self.graph
        values: dict[str, Tensor] = {}
        for comp in self.components:
            try:
                if not comp.cyclic:
                    n = comp.nodes[0]
                    values[n] = (
                        x if n == self.input_name else self.executors[n].seq(self._sum(g.preds(n), values))
                    )
                    continue
                values.update(self._run_cycle(comp, values, x.shape[0]))
            except (
                RuntimeError,
                ValueError,
                IndexError,
                TypeError,
            ) as exc:  # e.g. mismatched shapes between nodes
                if isinstance(exc, ExportError):
                    raise
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ExportError(f"node(s) {comp.nodes[:3]}: cannot run: {first[:300]}") from None
        outs = {n: values[n] for n in g.outputs}
        result = next(iter(outs.values())) if len(outs) == 1 else outs
        return (result, values) if record else result

    @staticmethod
    def _sum(preds: list[str], values: dict[str, Tensor]) -> Tensor:
        total = values[preds[0]]
        for p in preds[1:]:
            total = total + values[p]
        return total

    def _run_cycle(self, comp, values: dict[str, Tensor], T: int) -> dict[str, Tensor]:
        g = self.graph
        members = set(comp.nodes)
        preds = {n: g.preds(n) for n in comp.nodes}
        states: dict[str, Any] = {}
        prev: dict[str, Tensor] = {}
        seqs: dict[str, list[Tensor]] = {n: [] for n in comp.nodes}
        for t in range(T):
            cur: dict[str, Tensor] = {}
            for n in comp.nodes:
                terms = []
                for a in preds[n]:
                    if (a, n) in comp.delayed:
                        if t > 0:
                            terms.append(prev[a])
                    elif a in members:
                        terms.append(cur[a])
                    else:
                        terms.append(values[a][t])
                if not terms:
                    raise ExportError(f"node {n!r}: only delayed inputs; the cycle has no entry at t = 0")
                inp = terms[0]
                for term in terms[1:]:
                    inp = inp + term
                ex = self.executors[n]
                if n not in states:
                    states[n] = ex.init_state(inp)
                cur[n], states[n] = ex.step(inp, states[n])
                seqs[n].append(cur[n])
            prev = cur
        return {n: torch.stack(v) for n, v in seqs.items()}


def from_nir(graph: nir.NIRGraph | str | os.PathLike[str], dt: float | None = None) -> NIRSimulator:
    """A torch module that runs ``graph`` (or the NIR file at that path) with nirsim's semantics."""
    if not isinstance(graph, nir.NIRGraph):
        graph = read_nir(graph)
    return NIRSimulator(graph, dt=dt)


@torch.no_grad()
def simulate(
    graph: nir.NIRGraph | str | os.PathLike[str], x: Tensor, dt: float | None = None, record: bool = False
) -> Any:
    """Run ``graph`` on ``x`` [T, B, *input_shape] (see ``NIRSimulator``)."""
    return from_nir(graph, dt=dt)(x, record=record)


def layer_spikes(graph: nir.NIRGraph, values: dict[str, Tensor]) -> dict[str, Tensor]:
    """Map ``simulate(..., record=True)`` node values to the source model's neuron layer paths.

    Uses the conversion contract of a graph snndeploy wrote (``layers[i].path`` / ``.node``); nested node
    names are matched by their last component. Returns ``{module path: spikes [T, B, *]}``.
    """
    raw = (graph.metadata or {}).get("snndeploy_contract")
    if raw is None:
        raise ExportError("the graph has no snndeploy_contract metadata: layer paths are unknown")

    contract = contract_of(graph)
    out: dict[str, Tensor] = {}
    for layer in contract["layers"]:
        node = layer["node"]
        hits = [k for k in values if k == node or k.endswith("." + node)]
        if len(hits) != 1:
            raise ExportError(
                f"node {node!r} (layer {layer['path']!r}) found {len(hits)} times in the recorded values"
            )
        out[layer["path"]] = values[hits[0]]
    return out
