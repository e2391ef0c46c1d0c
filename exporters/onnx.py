"""ONNX export of spiking models: a stateful single-step model (any T) and an unrolled fixed-T model.

Both keep every neuron exact (the source neuron's own step function is traced: Sigmoid, Relu, Mul are ONNX
ops), so CLIF/KLIF/ILIF need no folding here; a folded model (``FoldedLIF``) exports the same way.

Step model (``export_onnx_step``): inputs ``x`` [B, *input_shape] and one input per neuron state
``<layer>.<state>`` (e.g. ``layer_2.v``, CLIF ``layer_2.u``/``layer_2.m``); outputs ``y`` (the model output
of this step), ``<layer>.<state>_next`` and ``<layer>.spikes``. Start every state at zeros, feed the ``_next``
outputs back each step (``run_onnx_step`` does this). Unrolled model (``export_onnx_unrolled``): input ``x``
[T, B, *input_shape] with T fixed at export, outputs ``y`` [T, B, *] and ``<layer>.spikes`` [T, B, *].
Spikes equal the torch model's exactly; ``y`` (a real-valued Linear output) can differ by an ulp when
onnxruntime's GEMM blocks rows differently from torch's (the step model sees B rows, torch sees T·B). Batch is
dynamic in both; opset ≥ 17; ``onnx.checker`` runs on the file before it is renamed into place. The model's
``metadata_props["snndeploy_contract"]`` lists names, shapes, T and the neurons.

BatchNorm: torch's CPU BN kernel rounds differently from any ONNX op sequence (it fuses multiply-add), and
both torch's exporter and onnxruntime fold Conv+BN anyway; so BatchNorm is folded first
(``exporters.fold.bn``, ``fold_bn=True``) and the ONNX model equals the BN-folded source model exactly,
neurons unchanged.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from snndeploy import __version__
from snndeploy.errors import ExportError
from snndeploy.io import atomic_path
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.models.tree import check_tree, neuron_paths
from snndeploy.neurons import CLIF, IAF, ILIF, KLIF, LIF, CubaLIF
from snndeploy.neurons.clif import CLIFState, clif_step
from snndeploy.neurons.cubalif import CubaLIFState, cubalif_step
from snndeploy.neurons.iaf import IAFState, iaf_step
from snndeploy.neurons.ilif import ILIFState, ilif_step
from snndeploy.neurons.klif import KLIFState, klif_step
from snndeploy.neurons.lif import LIFState, lif_step
from snndeploy.registry import Registry

from .lifspec import FoldedLIF, spec_step

__all__ = ["prepare", "ONNX_STEPS", "register_onnx_step", "StepModel", "UnrolledModel", "export_onnx_step",
           "export_onnx_unrolled", "state_names", "run_onnx_step", "MIN_OPSET"]

MIN_OPSET = 17


@dataclass(frozen=True)
class NeuronStep:
    """How a neuron type runs one step in the exported graph: its state names and step function."""

    states: tuple[str, ...]
    step: Callable[[nn.Module, Tensor, tuple[Tensor, ...]], tuple[Tensor, tuple[Tensor, ...]]]


ONNX_STEPS: Registry[type[nn.Module], NeuronStep] = Registry("ONNX step", ExportError)


def register_onnx_step(cls: type[nn.Module], states: tuple[str, ...]):
    """Decorator: the single-step form of neuron type ``cls`` (double registration is an error)."""

    def deco(fn):
        ONNX_STEPS.add(cls, NeuronStep(states, fn))
        return fn

    return deco


@register_onnx_step(LIF, ("v",))
def _lif(m, x, st):
    s, new = lif_step(x, LIFState(*st), m.params())
    return s, tuple(new)


@register_onnx_step(KLIF, ("v",))
def _klif(m, x, st):
    s, new = klif_step(x, KLIFState(*st), m.params())
    return s, tuple(new)


@register_onnx_step(CLIF, ("u", "m"))
def _clif(m, x, st):
    s, new = clif_step(x, CLIFState(*st), m.params())
    return s, tuple(new)


@register_onnx_step(ILIF, ("v", "m", "i", "x_prev", "s_prev"))
def _ilif(m, x, st):
    s, new = ilif_step(x, ILIFState(*st), m.params())
    return s, tuple(new)


@register_onnx_step(IAF, ("v",))
def _iaf(m, x, st):
    s, new = iaf_step(x, IAFState(*st), m.params())
    return s, tuple(new)


@register_onnx_step(CubaLIF, ("i", "v"))
def _cubalif(m, x, st):
    s, new = cubalif_step(x, CubaLIFState(*st), m.params())
    return s, tuple(new)


@register_onnx_step(FoldedLIF, ("v",))
def _spec(m, x, st):
    s, v = spec_step(x, st[0], m.spec)
    return s, (v,)


def _neuron_step(module: nn.Module, path: str) -> NeuronStep:
    return ONNX_STEPS.for_instance(module, f"layer {path or '<root>'}")


def _node(path: str) -> str:
    return "layer_" + path.replace(".", "_")


def state_names(model: nn.Module) -> list[tuple[str, str]]:
    """(neuron path, state input name) for every neuron state of ``model``, in the ONNX input order."""
    out = []
    for path, m in neuron_paths(model):
        out += [(path, f"{_node(path)}.{s}") for s in _neuron_step(m, path).states]
    return out


class _Runner:
    """Evaluates the model tree one step ([B, *]) or one sequence ([T, B, *]) with explicit neuron states."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.ids = {id(m): p for p, m in neuron_paths(model)}
        self.spikes: dict[str, Tensor] = {}

    def step(self, m: nn.Module, x: Tensor, states: dict[str, tuple[Tensor, ...]], new: dict) -> Tensor:
        if isinstance(m, nn.Sequential):
            for child in m:
                x = self.step(child, x, states, new)
            return x
        if isinstance(m, Residual):
            return self.step(m.main, x, states, new) + self.step(m.shortcut, x, states, new)
        if isinstance(m, TimeDistributed):
            return m.layer(x)
        if isinstance(m, nn.Identity):
            return x
        path = self.ids[id(m)]
        s, new[path] = _neuron_step(m, path).step(m, x.float(), states[path])
        self.spikes[path] = s
        return s

    def seq(self, m: nn.Module, x: Tensor) -> Tensor:
        if isinstance(m, nn.Sequential):
            for child in m:
                x = self.seq(child, x)
            return x
        if isinstance(m, Residual):
            return self.seq(m.main, x) + self.seq(m.shortcut, x)
        if isinstance(m, TimeDistributed):
            return m(x)
        if isinstance(m, nn.Identity):
            return x
        path = self.ids[id(m)]
        ns = _neuron_step(m, path)
        st = tuple(torch.zeros_like(x[0], dtype=torch.float32) for _ in ns.states)
        out = []
        for t in range(x.shape[0]):
            s, st = ns.step(m, x[t].float(), st)
            out.append(s)
        self.spikes[path] = torch.stack(out)
        return self.spikes[path]


class StepModel(nn.Module):
    """``forward(x_t, *states) -> (y_t, *new_states, *spikes)``; state order = ``state_names(model)``, then
    one spike tensor per neuron layer (forward order) so that runtimes can be compared layer by layer."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.runner = _Runner(model)
        self.layout = [(p, len(_neuron_step(m, p).states)) for p, m in neuron_paths(model)]

    def forward(self, x: Tensor, *flat_states: Tensor):
        states, i = {}, 0
        for path, n in self.layout:
            states[path] = tuple(flat_states[i:i + n])
            i += n
        new: dict[str, tuple[Tensor, ...]] = {}
        y = self.runner.step(self.model, x, states, new)
        spikes = [self.runner.spikes[path] for path, _ in self.layout]
        return (y, *[t for path, _ in self.layout for t in new[path]], *spikes)


class UnrolledModel(nn.Module):
    """``forward(x [T, B, *]) -> (y [T, B, *], *spikes)``, every neuron's time loop written out (T fixed by
    tracing)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.runner = _Runner(model)

    def forward(self, x: Tensor):
        y = self.runner.seq(self.model, x)
        return (y, *[self.runner.spikes[p] for p, _ in neuron_paths(self.model)])


@torch.no_grad()
def _state_shapes(model: nn.Module, input_shape: tuple[int, ...], path: Any) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for p, m in neuron_paths(model):
        handles.append(m.register_forward_pre_hook(
            lambda _m, a, _p=p: shapes.__setitem__(_p, tuple(a[0].shape[2:]))))
    try:
        model(torch.zeros(1, 1, *input_shape))
    except RuntimeError as exc:
        raise ExportError(f"{path}: shape mismatch: input_shape {list(input_shape)} does not fit the model: "
                          f"{exc}") from exc
    finally:
        for h in handles:
            h.remove()
    return shapes


def _contract(model, input_shape, kind: str, T: int | None, names_in, names_out, shapes) -> dict[str, Any]:
    return {
        "format": "snndeploy-onnx/1", "snndeploy_version": __version__, "kind": kind, "T": T,
        "input_shape": list(input_shape), "inputs": names_in, "outputs": names_out,
        "state_shapes": {k: list(v) for k, v in shapes.items()}, "state_init": "zeros",
        "neurons": {p: type(m).__name__ for p, m in neuron_paths(model)},
        "threshold_comparison": "fires at v >= theta (float32)",
        "batch": "dynamic (axis 0 step / axis 1 unrolled)",
        "exact": "every neuron is the source neuron's own step (no folding)",
        "batchnorm": "folded into the adjacent Conv/Linear before export (exporters.fold.bn)",
    }


def _export(module: nn.Module, args: tuple, path, names_in, names_out, dyn, opset: int, contract) -> None:
    import onnx

    if opset < MIN_OPSET:
        raise ExportError(f"opset must be >= {MIN_OPSET}, got {opset}")
    try:
        with atomic_path(path) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(tmp), input_names=names_in, output_names=names_out,
                              dynamic_axes=dyn, opset_version=opset, dynamo=False, do_constant_folding=True)
            proto = onnx.load(str(tmp))
            onnx.helper.set_model_props(proto, {"snndeploy_contract": json.dumps(contract)})
            onnx.checker.check_model(proto, full_check=True)
            onnx.save(proto, str(tmp))
    except ExportError:
        raise
    except Exception as exc:  # torch/onnx raise many types; name the file and the cause
        raise ExportError(f"{path}: ONNX export failed: {type(exc).__name__}: {exc}") from exc


def prepare(model: nn.Module, fold_bn: bool = True) -> nn.Module:
    """An eval-mode copy of ``model`` with its BatchNorms folded (what the ONNX files compute exactly)."""
    import copy

    from .fold.bn import fold_batchnorms

    check_tree(model)
    model = copy.deepcopy(model).eval()
    if fold_bn:
        fold_batchnorms(model)
    return model


def export_onnx_step(model: nn.Module, path: str | os.PathLike[str], input_shape: tuple[int, ...],
                     opset: int = MIN_OPSET, fold_bn: bool = True) -> dict[str, Any]:
    """Write the single-step model of ``model`` to ``path`` (atomic). Returns the contract (names, shapes)."""
    model = prepare(model, fold_bn)
    input_shape = tuple(int(s) for s in input_shape)
    shapes = _state_shapes(model, input_shape, path)
    names = state_names(model)
    names_in = ["x"] + [n for _, n in names]
    spikes = [f"{_node(p)}.spikes" for p, _ in neuron_paths(model)]
    names_out = ["y"] + [f"{n}_next" for _, n in names] + spikes
    args = (torch.zeros(2, *input_shape),) + tuple(torch.zeros(2, *shapes[p]) for p, _ in names)
    dyn = {n: {0: "batch"} for n in names_in + names_out}
    contract = _contract(model, input_shape, "step", None, names_in, names_out, shapes)
    _export(StepModel(model), args, path, names_in, names_out, dyn, opset, contract)
    return contract


def export_onnx_unrolled(model: nn.Module, path: str | os.PathLike[str], input_shape: tuple[int, ...], T: int,
                         opset: int = MIN_OPSET, fold_bn: bool = True) -> dict[str, Any]:
    """Write the unrolled fixed-``T`` model of ``model`` to ``path`` (atomic). Returns the contract."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ExportError(f"T must be a positive integer, got {T!r}")
    model = prepare(model, fold_bn)
    input_shape = tuple(int(s) for s in input_shape)
    shapes = _state_shapes(model, input_shape, path)
    names_out = ["y"] + [f"{_node(p)}.spikes" for p, _ in neuron_paths(model)]
    contract = _contract(model, input_shape, "unrolled", T, ["x"], names_out, shapes)
    _export(UnrolledModel(model), (torch.zeros(T, 2, *input_shape),), path, ["x"], names_out,
            {n: {1: "batch"} for n in ["x", *names_out]}, opset, contract)
    return contract


def run_onnx_step(session: Any, x_seq: Tensor | Any, contract: dict[str, Any]) -> dict[str, Any]:
    """Run a step-model ``onnxruntime.InferenceSession`` over ``x_seq`` [T, B, *] (zeros initial state).

    Returns ``{"y": [T, B, *], "<layer>.spikes": [T, B, *], ...}`` as numpy arrays.
    """
    import numpy as np

    x = np.asarray(x_seq, dtype=np.float32)
    B = x.shape[1]
    state_names_ = contract["inputs"][1:]
    states = {n: np.zeros((B, *contract["state_shapes"][p]), np.float32)
              for n, p in zip(state_names_, _paths_of(contract), strict=True)}
    keep = ["y"] + [n for n in contract["outputs"] if n.endswith(".spikes")]
    seqs: dict[str, list] = {n: [] for n in keep}
    for t in range(x.shape[0]):
        outs = dict(zip(contract["outputs"], session.run(None, {"x": x[t], **states}), strict=True))
        for n in keep:
            seqs[n].append(outs[n])
        states = {n: outs[f"{n}_next"] for n in state_names_}
    return {n: np.stack(v) for n, v in seqs.items()}


def _paths_of(contract: dict[str, Any]) -> list[str]:
    """The neuron path owning each state input (inverse of ``_node``: matched against ``state_shapes``)."""
    by_node = {_node(p): p for p in contract["state_shapes"]}
    return [by_node[name.rsplit(".", 1)[0]] for name in contract["inputs"][1:]]
