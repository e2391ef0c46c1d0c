"""Interop matrix cells: one peer × one model × one direction, measured (``benchmarks/interop_matrix.py``).

Directions:

- ``export`` (snndeploy → peer): a tiny model (``exporters.zoo``: ``mlp``, ``conv`` = conv + pool,
  ``residual``) with one neuron kind (``lif_hard``, ``lif_soft``, ``klif``, ``clif``) is folded, exported
  with the peer's profile (``exporters.nir_profiles``) and imported with the peer's own code; every hooked
  layer's spikes and the output are compared with the folded model's on seeded random inputs. For dialect
  peers (sinabs, rockpool) the peer is also compared with the profile's emulation of its neuron semantics
  (``vs_emulation``), which says whether the file is exact *as a dialect* even where those semantics differ
  from ours.
- ``write`` (peer → snndeploy): the peer's own network and NIR writer (``peers.writers``), read by
  snndeploy with the writer's corrections (``nirsim.corrections``), run in nirsim and compared with the
  peer's own output.

Status: ``identical`` (100% of spikes, every hooked layer, and the output), ``differs`` (with the first
divergence), ``not representable`` (the profile's warnings name why; the agreement is still measured),
``fails`` (the importer refused or crashed; the error is the reason).
"""

from __future__ import annotations

import copy
import re
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nir
import torch
from torch import Tensor

from exporters.fold import fold
from exporters.fold.calibration import capture
from exporters.nir import contract_of, read_nir
from exporters.nir_profiles import export_for, get_profile
from exporters.zoo import input_shape_of, tiny_model

from ..errors import ExportError
from ..io import atomic_path
from ..models.tree import get_module, neuron_paths, set_module
from ..nirsim import simulate
from ..nirsim.corrections import WRITERS, correct, infer_dt
from .compare import compare_spikes
from .peers import PEERS
from .peers.writers import write_sample

__all__ = ["Cell", "NEURONS", "MODELS", "export_cell", "write_cell", "model_inputs"]

#: Neuron kinds of the matrix: (registry name, constructor kwargs).
NEURONS: dict[str, tuple[str, dict[str, Any]]] = {
    "lif_hard": ("lif", {"v_reset": 0.0}),
    "lif_soft": ("lif", {}),
    "klif": ("klif", {}),
    "clif": ("clif", {}),
}
MODELS = ("mlp", "conv", "residual")


@dataclass
class Cell:
    """One measured matrix cell (see the module docstring)."""

    peer: str
    model: str
    neuron: str
    direction: str
    status: str
    agreement: float | None = None
    layers: dict[str, float] = field(default_factory=dict)
    output_identical: bool | None = None
    vs_emulation: float | None = None
    representable: bool | None = None
    reason: str = ""
    samples: int = 0
    T: int = 0
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_inputs(kind: str, samples: int, T: int, seed: int) -> Tensor:
    """Seeded inputs uniform in [0, 2) of ``kind``'s shape, [T, samples, *shape]."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand((T, samples, *input_shape_of(kind)), generator=g) * 2


def _agreement(ref: dict[str, Tensor], got: dict[str, Tensor]) -> tuple[float | None, dict[str, float], Any]:
    total = mism = 0
    per: dict[str, float] = {}
    first = None
    for path, r in ref.items():
        s = got.get(path)
        if s is None or s.numel() != r.numel():
            continue
        c = compare_spikes(r, s.reshape(r.shape), path)
        per[path] = c.agreement
        total, mism = total + c.total, mism + c.mismatches
        if first is None and c.first is not None:
            first = (path, c.first)
    return (1.0 - mism / total if total else None), per, first


def _emulated_spikes(folded: Any, prof: Any, x: Tensor, paths: list[str]) -> dict[str, Tensor]:
    """Spikes of ``folded`` with every neuron in the peer's semantics (the profile's ``emulate`` of the spec
    it
    exports: the approximation where the peer needs one)."""
    model = copy.deepcopy(folded)
    for p in paths:
        spec = get_module(model, p).spec
        approx = prof.supports(spec)
        set_module(
            model, p, prof.emulate(approx.spec if approx is not None and approx.spec is not None else spec)
        )
    with torch.no_grad(), capture(model, paths) as st:
        model(x)
    return dict(st)


def export_cell(peer: str, kind: str, neuron: str, samples: int = 1000, T: int = 8, seed: int = 0) -> Cell:
    """snndeploy → ``peer``: export ``kind``/``neuron`` with the peer's profile, import with the peer,
    compare."""
    name, kwargs = NEURONS[neuron]
    model = tiny_model(kind, name, batch_norm=False, seed=seed, backend="torch", **kwargs)
    x = model_inputs(kind, samples, T, seed + 1)
    folded, report = fold(model, x)
    paths = [p for p, _ in neuron_paths(folded)]
    with torch.no_grad(), capture(folded, paths) as st:
        y = folded(x)
    ref = dict(st)
    prof = get_profile(peer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = export_for(folded, input_shape_of(kind), peer, T=T, report=report, calibration=x)
    cell = Cell(
        peer,
        kind,
        neuron,
        "export",
        "",
        representable=exp.representable,
        samples=samples,
        T=T,
        version=prof.versions,
    )
    adapter = PEERS.find(peer)
    if adapter is None:
        cell.status, cell.reason = "not run", f"no adapter for {peer} here ({prof.versions})"
        return cell
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = adapter.run(exp.graph, x)
    except Exception as exc:  # the peer's importer refusing or crashing: the cell's reason
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        cell.status = "fails"
        named = _reason([w for w in exp.warnings if "calibration data" not in w])
        cell.reason = (f"{named}; " if named else "") + f"importer error: {type(exc).__name__}: {first[:160]}"
        return cell
    path_of = {layer["node"]: layer["path"] for layer in contract_of(exp.graph)["layers"]}
    got = {path_of.get(n, n): s for n, s in out.node_spikes.items()}
    cell.agreement, cell.layers, first = _agreement(ref, got)
    cell.output_identical = out.output.numel() == y.numel() and bool(
        torch.equal(out.output.reshape(y.shape), y)
    )
    if prof.emulate is not None:
        cell.vs_emulation, _, _ = _agreement(_emulated_spikes(folded, prof, x, paths), got)
    identical = cell.agreement == 1.0 and len(cell.layers) == len(paths) and cell.output_identical
    if identical:
        cell.status = "identical"
    elif not exp.representable:
        cell.status, cell.reason = "not representable", _reason(exp.warnings)
    else:
        cell.status = "differs"
        cell.reason = (
            f"first divergence at layer {first[0]}, t={first[1].t}"
            if first
            else "output differs"
            if not cell.output_identical
            else f"{len(cell.layers)}/{len(paths)} layers hooked"
        ) + f"; float order: {prof.float_order}"
    return cell


def _reason(warnings_: list[str]) -> str:
    """The profile's warnings as one short reason: node names dropped, repeats merged, numbers that are in the
    cell (the measured agreement) left out."""
    missing: list[str] = []
    out: list[str] = []
    for w in warnings_:
        w = re.sub(r"^(layer [\w.]+|[\w.]+): ", "", w)
        if "GraphExecutor" in w:
            w = ("nirtorch's GraphExecutor runs nodes in depth-first pre-order: a residual junction whose "
                 "shortcut is not the identity gets one branch a step late (and another node's output is "
                 "returned)")
        elif "has no mapping for nir." in w:
            missing.append(w.rsplit("nir.", 1)[1])
            continue
        elif "spikes differently on the calibration data" in w:
            w = w.split(":", 1)[0]
        w = re.sub(r"reset amount [\d.]+", "reset amount c", w)
        out.append(w)
    if missing:
        out.append(f"the importer has no mapping for {', '.join('nir.' + m for m in dict.fromkeys(missing))}")
    return "; ".join(dict.fromkeys(out))


def _through_a_file(graph: Any) -> Any:
    """``graph`` written with ``nir.write`` and read back as ``check-nir`` reads it (without NIR's type check
    when the file fails it, e.g. rockpool's batch axes): what a user of the peer's file gets."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "peer.nir"
        with atomic_path(path) as tmp_path:
            nir.write(tmp_path, graph)
        try:
            return read_nir(path)
        except ExportError:
            return read_nir(path, type_check=False)


def write_cell(
    peer: str, samples: int = 1000, T: int = 16, seed: int = 0, corrected: bool = True, **options: Any
) -> Cell:
    """``peer`` → snndeploy: the peer's own network and writer; nirsim (with the writer's corrections when
    ``corrected``) against the peer's own output spikes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = write_sample(peer, T=T, batch=samples, seed=seed, **options)
    except ImportError as exc:
        return Cell(peer, "mlp", "peer's own", "write", "not run", reason=f"not importable: {str(exc)[:160]}")
    except Exception as exc:  # the peer's own writer failing (e.g. against another nir release): the reason
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Cell(peer, "mlp", "peer's own", "write", "fails",
                    reason=f"the peer's own writer raised {type(exc).__name__}: {first[:200]}")
    w = WRITERS.get(peer)
    dt = w.dt if w.dt is not None else (infer_dt(s.graph) or 1e-3)
    cell = Cell(
        peer,
        "mlp",
        "peer's own",
        "write",
        "",
        samples=samples,
        T=T,
        version=s.version,
        reason="; ".join(s.workarounds),
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = _through_a_file(s.graph)
            g, notes = correct(graph, peer, dt) if corrected else (graph, [])
            out = simulate(g, s.x, dt=dt)
    except Exception as exc:  # nirsim or NIR refusing the file as written: the cell's reason
        cell.status, cell.reason = "fails", f"{type(exc).__name__}: {str(exc)[:200]}"
        return cell
    c = compare_spikes(s.expected.reshape(out.shape), out, "output")
    cell.agreement = c.agreement
    cell.layers = {"output": c.agreement}
    cell.status = "identical" if c.identical else "differs"
    extra = (
        f"corrections: {len(notes)} ({'; '.join(dict.fromkeys(n.split(': ', 1)[-1] for n in notes))})"
        if corrected
        else "no corrections"
    )
    cell.reason = "; ".join(x for x in (cell.reason, extra) if x)
    return cell
