"""Runtimes that verify compares: one small function per runtime, each returning a ``RuntimeRun``.

Every runner takes the same input ``x`` [T, B, *input_shape] and returns the model output [T, B, *] plus
the spikes of every neuron layer keyed by the SOURCE model's module path, so that layers line up across
runtimes. A runtime that cannot run the artifact (not installed, unsupported node, wrong T) comes back with
``status="unavailable"`` and the reason: that is a property of the runtime, not a failure of the graph.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from exporters.nir import contract_of
from exporters.onnx import _node, run_onnx_step

from ..errors import InvalidFileError, InvalidInputError, SnnDeployError, UnknownNameError
from ..filecheck import validate_onnx
from ..models.record import record_neurons
from ..neurons.base import Backend, NeuronModule
from ..nirsim import simulate
from ..nirsim.sim import layer_spikes
from .peers import PEERS

__all__ = ["RuntimeRun", "record_layers", "run_torch", "run_onnx", "run_nirsim", "run_peer"]

OK, UNAVAILABLE, FAILED = "ok", "unavailable", "failed"


@dataclass
class RuntimeRun:
    """Output and per-layer spikes of one runtime on the verify input."""

    name: str
    status: str = OK
    detail: str = ""
    output: Tensor | None = None
    spikes: dict[str, Tensor] = field(default_factory=dict)
    inputs: dict[str, Tensor] = field(default_factory=dict)  # neuron-layer inputs (source torch runs only)


#: Forward hooks on every neuron module: ``with record_layers(model) as (spikes, inputs): model(x)``.
record_layers = record_neurons


@contextlib.contextmanager
def _backend(model: nn.Module, backend: str | None) -> Iterator[None]:
    """Temporarily switch every neuron module of ``model`` to ``backend`` (None: leave as is)."""

    if backend is None:
        yield
        return
    saved = [(m, m.backend) for m in model.modules() if isinstance(m, NeuronModule)]
    for m, _ in saved:
        m.backend = Backend.parse(backend)
    try:
        yield
    finally:
        for m, b in saved:
            m.backend = b


@torch.no_grad()
def run_torch(
    name: str, model: nn.Module, x: Tensor, backend: str | None = None, keep_inputs: bool = False
) -> RuntimeRun:
    """Run a torch model (source or folded) in eval mode, recording every neuron layer's spikes."""
    was_training = model.training
    model.eval()
    try:
        with _backend(model, backend), record_layers(model, keep_inputs) as (spikes, inputs):
            out = model(x)
    except Exception as exc:  # e.g. a backend that needs CUDA
        status = UNAVAILABLE if isinstance(exc, UnknownNameError) else FAILED
        return RuntimeRun(name, status, f"{type(exc).__name__}: {exc}")
    finally:
        model.train(was_training)
    return RuntimeRun(name, OK, f"backend={backend or 'as built'}", out.detach(), dict(spikes), dict(inputs))


def _onnx_contract(session: Any) -> dict[str, Any]:
    import json

    raw = session.get_modelmeta().custom_metadata_map.get("snndeploy_contract")
    if raw is None:
        raise InvalidInputError(
            "the ONNX model has no 'snndeploy_contract' metadata (not written by snndeploy)"
        )
    return json.loads(raw)


def run_onnx(path: str, x: Tensor) -> RuntimeRun:
    """Run an ONNX model written by ``exporters.onnx`` (step or unrolled) in onnxruntime on the CPU.

    The file is validated first (``snndeploy.filecheck.validate_onnx``: size, operators, initializers,
    contract); a file onnxruntime still rejects, or that fails while running, raises ``InvalidFileError``
    naming the file.
    """
    import numpy as np

    name = "onnxruntime"
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - onnxruntime is a dependency
        return RuntimeRun(name, UNAVAILABLE, f"onnxruntime not importable: {exc}")
    _, contract = validate_onnx(path)
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        contract = _onnx_contract(session)
        by_node = {_node(p): p for p in contract.get("state_shapes", {})}
        if contract.get("kind") == "unrolled":
            if contract.get("T") != x.shape[0]:
                return RuntimeRun(
                    name,
                    UNAVAILABLE,
                    f"unrolled ONNX model is fixed at T={contract.get('T')}, input has T={x.shape[0]}",
                )
            outs = dict(
                zip(contract["outputs"], session.run(None, {"x": x.numpy().astype(np.float32)}), strict=True)
            )
        else:
            outs = run_onnx_step(session, x.numpy(), contract)
    except Exception as exc:  # onnxruntime's own exception classes, or a contract that does not fit the graph
        if isinstance(exc, SnnDeployError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InvalidFileError(
            f"ONNX file {str(path)!r} cannot be run: {type(exc).__name__}: {first[:300]}"
        ) from None
    spikes = {
        by_node.get(n[: -len(".spikes")], n): torch.from_numpy(np.asarray(v))
        for n, v in outs.items()
        if n.endswith(".spikes")
    }
    return RuntimeRun(
        f"{name}[{contract.get('kind', 'step')}]", OK, str(path), torch.from_numpy(outs["y"]), spikes
    )


def run_nirsim(graph: Any, x: Tensor) -> RuntimeRun:
    """Run a ``nir.NIRGraph`` in snndeploy's own NIR interpreter (the reference for peers)."""

    try:
        out, values = simulate(graph, x, record=True)
        # Per-layer spikes need the conversion contract; a foreign graph is compared on its output only.
        spikes = layer_spikes(graph, values) if contract_of(graph) is not None else {}
    except SnnDeployError as exc:  # e.g. parameters edited after export disagree with the node metadata
        return RuntimeRun("nirsim", FAILED, str(exc))
    return RuntimeRun("nirsim", OK, "snndeploy.nirsim", out if isinstance(out, Tensor) else None, spikes)


_LAYER_NOTE = re.compile(r"^layer[ _](\S+?):\s+(.*)$", re.S)
_BLOCKING = ("not importable", "no mapping", "cannot")


def group_layer_notes(notes: list[str], blocking_first: bool = False) -> str:
    """Profile notes ``"layer 2: X"``, ``"layer 6: X"`` as one ``"layers 2, 6: X"`` (first-seen order; with
    ``blocking_first`` the notes that make a graph unimportable lead)."""
    groups: dict[str, list[str]] = {}
    for note in notes:
        m = _LAYER_NOTE.match(note)
        msg, layer = (m.group(2), m.group(1)) if m else (note, None)
        groups.setdefault(msg, [])
        if layer is not None:
            groups[msg].append(layer)
    items = list(groups.items())
    if blocking_first:
        items.sort(key=lambda kv: not any(b in kv[0] for b in _BLOCKING))
    parts = [
        msg if not layers else f"layer{'s' if len(layers) > 1 else ''} {', '.join(layers)}: {msg}"
        for msg, layers in items
    ]
    return "; ".join(parts)


def _peer_detail(graph: Any, detail: str) -> str:
    """The peer's own detail plus what its export profile declared (approximations, problems)."""
    profile = (contract_of(graph) or {}).get("profile")
    if not profile:
        return detail
    declared = group_layer_notes(list(profile.get("warnings") or [])) or "no approximation declared"
    return f"{detail}; profile {profile.get('name')}: {declared}"


def run_peer(peer: str, graph: Any, x: Tensor) -> RuntimeRun:
    """Run ``graph`` with peer ``peer``'s own NIR importer (``snndeploy.verify.peers``).

    The spikes of every neuron node are hooked by node name and keyed by the source model's layer path through
    the graph's contract (by node name for a foreign graph). A peer that is not installed, or whose importer
    refuses or crashes on the graph, comes back ``unavailable`` with the reason.
    """
    adapter = PEERS.find(peer)
    if adapter is None:
        return RuntimeRun(peer, UNAVAILABLE, f"no adapter for peer {peer!r} (known: {PEERS.known()})")
    try:
        result = adapter.run(graph, x)
    except ImportError as exc:
        return RuntimeRun(peer, UNAVAILABLE, f"not installed: {exc}")
    except Exception as exc:  # a peer's importer refusing or crashing on a valid graph: report, don't fail
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        # the export profile's declared limits (e.g. sinabs' conv import) say why, then the raw error
        profile = (contract_of(graph) or {}).get("profile") or {}
        notes = [w for w in profile.get("warnings") or [] if "calibration data" not in w]
        why = group_layer_notes(notes, blocking_first=True)
        error = f"importer error: {type(exc).__name__}: {first[:300]}"
        reason = f"profile {profile.get('name')}: {why}; {error}" if why else error
        return RuntimeRun(peer, UNAVAILABLE, reason)
    contract = contract_of(graph)
    path_of = {layer["node"]: layer["path"] for layer in contract.get("layers", [])} if contract else {}
    spikes = {path_of.get(n, n): s for n, s in result.node_spikes.items()}
    return RuntimeRun(peer, OK, _peer_detail(graph, result.detail), result.output.detach().float(), spikes)
