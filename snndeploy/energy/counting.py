"""Operation counts of a spiking model measured on real data with forward hooks. Tensors are time-major [T, B, *].

What is counted, per layer, summed over the data (``OpCounts`` turns totals into per-sample numbers):

Synaptic layers (Linear, Conv1d/2d/3d, bare or inside ``TimeDistributed``):
- **effective ops** = Σ over the rows the layer saw of the number of (non-zero input, non-zero weight) pairs that
  meet in an output: the layer run on binarised input and binarised weights, bias excluded. This is NeuroBench's
  ``SynapticOperations`` rule (``neurobench.metrics.utils.layers.single_layer_MACs``), so the totals equal its
  ``Effective_ACs``/``Effective_MACs`` on the same model and data.
- they are **ACs** when the input tensor actually seen holds only {0, 1} (or {−1, 0, 1}, which NeuroBench also treats
  as spikes: a sign flip is free in an accumulate), else **MACs** (the first layer under direct encoding, a layer fed
  by the real-valued residual stream or an average pool). Binarity is decided per call on the tensor itself.
- **dense ops** = the same with every input and weight set to 1 (NeuroBench's ``Dense``): padding is excluded, zero
  weights are included.
- **paper ops** = T · r_in · FLOPs (the convention of most SNN papers, e.g. Spikformer/SEW-ResNet energy tables),
  with FLOPs the equivalent ANN's MACs per sample and step (out elements × fan-in, padding included) and r_in the
  input's non-zero fraction; a real-valued input counts as r_in = 1 and its ops as MACs.
- fan-in (weights per output), mean fan-out (dense connections per input element), parameters and their bytes.

Neuron layers (``snndeploy.neurons`` modules and the folded ``exporters.lifspec.SpecLIF``): neurons, spikes, firing rate, state updates (neurons × T, one per
neuron and step whatever it receives), the ops of those updates from ``neuron_ops`` (per-step ops × updates +
per-spike ops × spikes), and state memory (states × 4 bytes per neuron).

Other layers: ``Residual`` additions (one add per element and step of the main branch), BatchNorm (1 mult + 1 add
per element: the inference affine; it disappears when folded), AvgPool (k − 1 adds + 1 mult per output).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import InvalidInputError
from ..models.layers import Residual
from ..models.tree import walk
from ..neurons.base import is_neuron
from .neuron_ops import OP_KINDS, NeuronOpCount, neuron_ops

__all__ = ["SYNAPTIC_TYPES", "LayerCount", "OpCounts", "count_ops", "input_kind"]

SYNAPTIC_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def input_kind(x: Tensor) -> str:
    """``"binary"`` if every value is 0 or 1, ``"ternary"`` if in {−1, 0, 1} (NeuroBench's spike test), else ``"real"``."""
    if bool(((x == 0) | (x == 1)).all()):
        return "binary"
    if bool(((x == 0) | (x == 1) | (x == -1)).all()):
        return "ternary"
    return "real"


@dataclass
class LayerCount:
    """Counts of one layer summed over every call (see the module docstring for each field's definition)."""

    name: str
    kind: str  # "synaptic" | "neuron" | "residual" | "batchnorm" | "pool"
    type: str
    calls: int = 0
    rows: int = 0  # T·B rows seen (synaptic) or neuron updates seen / neurons (neuron)
    # synaptic
    acs: int = 0
    macs: int = 0
    dense_ops: int = 0
    paper_acs: float = 0.0
    paper_macs: float = 0.0
    flops_per_row: int = 0
    fan_in: int = 0
    fan_out_mean: float = 0.0
    input_nonzero: int = 0
    input_elements: int = 0
    input_kinds: set[str] = field(default_factory=set)
    parameters: int = 0
    param_bytes: int = 0
    # neuron
    neurons: int = 0
    spikes: int = 0
    updates: int = 0
    op_count: NeuronOpCount | None = None
    state_bytes: int = 0
    # elementwise ops of every kind (neurons, residual adds, batchnorm, pooling)
    ops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OP_KINDS, 0))

    @property
    def input_rate(self) -> float:
        return self.input_nonzero / self.input_elements if self.input_elements else 0.0

    @property
    def firing_rate(self) -> float:
        return self.spikes / self.updates if self.updates else 0.0


def _binary_ops(layer: nn.Module, x: Tensor, ones: bool) -> int:
    """Σ over outputs of (non-zero input × non-zero weight) pairs: ``layer`` on binarised copies, bias set to 0."""
    xb = torch.ones_like(x[:1]) if ones else (x != 0).to(x.dtype)
    wb = torch.ones_like(layer.weight) if ones else (layer.weight != 0).to(layer.weight.dtype)
    with torch.no_grad():
        out = _apply_weight(layer, xb.to(wb.dtype), wb)  # the functional form: no module call, no hooks
    total = int(round(float(out.double().sum())))
    return total * x.shape[0] if ones else total


def _apply_weight(layer: nn.Module, x: Tensor, w: Tensor) -> Tensor:
    """``layer``'s linear map with weight ``w`` and no bias (Linear: x·wᵀ; ConvNd: its own padding/stride/groups)."""
    if isinstance(layer, nn.Linear):
        return F.linear(x, w)
    return layer._conv_forward(x, w, None)  # type: ignore[operator]


def _fan_in(layer: nn.Module) -> int:
    if isinstance(layer, nn.Linear):
        return layer.in_features
    return int(layer.weight[0].numel())  # C_in/groups · prod(kernel)


class _Recorder:
    """Forward hooks filling ``LayerCount`` records; ``close()`` removes them."""

    def __init__(self, model: nn.Module):
        self.layers: dict[str, LayerCount] = {}
        self.handles: list[Any] = []
        self.forwards = 0
        for label, mod in walk(model):  # TimeDistributed layers come unwrapped, under the TimeDistributed's path
            if isinstance(mod, SYNAPTIC_TYPES):
                self._hook(mod, label, "synaptic", self._synaptic)
            elif is_neuron(mod):
                self._hook(mod, label, "neuron", self._neuron)
            elif isinstance(mod, Residual):
                self._hook(mod, label, "residual", self._residual)
            elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                self._hook(mod, label, "batchnorm", self._batchnorm)
            elif isinstance(mod, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
                self._hook(mod, label, "pool", self._avgpool)

    def _hook(self, mod: nn.Module, label: str, kind: str, fn: Any) -> None:
        rec = LayerCount(name=label, kind=kind, type=type(mod).__name__)

        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if not args or not isinstance(args[0], Tensor):
                return
            if rec.name not in self.layers:
                self.layers[rec.name] = rec  # insertion order = first execution order
            rec.calls += 1
            fn(module, args[0].detach(), output.detach() if isinstance(output, Tensor) else output, rec)

        self.handles.append(mod.register_forward_hook(hook))

    # -- per layer kind -------------------------------------------------------
    @staticmethod
    def _synaptic(layer: nn.Module, x: Tensor, y: Tensor, rec: LayerCount) -> None:
        if isinstance(layer, nn.Linear):  # a bare Linear may see [T, B, in]: count per row of features
            x, y = x.reshape(-1, layer.in_features), y.reshape(-1, layer.out_features)
        kind = input_kind(x)
        rows = x.shape[0]
        eff = _binary_ops(layer, x, ones=False)
        dense = _binary_ops(layer, x, ones=True)
        fan_in = _fan_in(layer)
        flops_row = int(y[0].numel()) * fan_in
        nonzero = int((x != 0).sum())
        rate = nonzero / x.numel() if x.numel() else 0.0
        rec.rows += rows
        rec.dense_ops += dense
        if kind == "real":
            rec.macs += eff
            rec.paper_macs += float(rows * flops_row)
        else:
            rec.acs += eff
            rec.paper_acs += rate * rows * flops_row
        rec.input_kinds.add(kind)
        rec.input_nonzero += nonzero
        rec.input_elements += int(x.numel())
        rec.flops_per_row = flops_row
        rec.fan_in = fan_in
        rec.fan_out_mean = dense / x.numel() if x.numel() else 0.0
        rec.parameters = sum(int(p.numel()) for p in layer.parameters(recurse=False))
        rec.param_bytes = sum(int(p.numel()) * p.element_size() for p in layer.parameters(recurse=False))

    @staticmethod
    def _neuron(module: nn.Module, x: Tensor, spikes: Tensor, rec: LayerCount) -> None:
        if x.dim() < 2:
            raise InvalidInputError(f"{rec.name}: neuron input must be [T, B, *], got {tuple(x.shape)}")
        counts = neuron_ops(module)
        per_row = int(math.prod(x.shape[2:]))
        updates = int(x.numel())
        n_spikes = int((spikes != 0).sum())
        rec.op_count = counts
        rec.neurons = per_row
        rec.updates += updates
        rec.spikes += n_spikes
        rec.rows += int(x.shape[0] * x.shape[1])
        rec.state_bytes = per_row * counts.states * 4
        for k in OP_KINDS:
            rec.ops[k] += counts.per_step.get(k, 0) * updates + counts.per_spike.get(k, 0) * n_spikes
        rec.parameters = sum(int(p.numel()) for p in module.parameters(recurse=False))
        rec.param_bytes = sum(int(p.numel()) * p.element_size() for p in module.parameters(recurse=False))

    @staticmethod
    def _residual(module: nn.Module, x: Tensor, y: Tensor, rec: LayerCount) -> None:
        rec.ops["add"] += int(y.numel())
        rec.rows += int(y.shape[0] * y.shape[1]) if y.dim() >= 2 else 1

    @staticmethod
    def _batchnorm(module: nn.Module, x: Tensor, y: Tensor, rec: LayerCount) -> None:
        rec.ops["mult"] += int(x.numel())
        rec.ops["add"] += int(x.numel())
        rec.rows += int(x.shape[0])
        rec.parameters = sum(int(p.numel()) for p in module.parameters(recurse=False))
        rec.param_bytes = sum(int(p.numel()) * p.element_size() for p in module.parameters(recurse=False))

    @staticmethod
    def _avgpool(module: nn.Module, x: Tensor, y: Tensor, rec: LayerCount) -> None:
        k = module.kernel_size
        window = int(math.prod(k)) if isinstance(k, tuple) else int(k) ** (x.dim() - 2)
        rec.ops["add"] += int(y.numel()) * (window - 1)
        rec.ops["mult"] += int(y.numel())
        rec.rows += int(x.shape[0])

    def close(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


@dataclass
class OpCounts:
    """Counts of a whole model on some data: per-layer totals plus what is needed to normalise them.

    ``samples`` is the number of sequences (B summed over batches), ``T`` the time steps per sequence and
    ``forwards`` the number of model calls. Per sample = total / samples (NeuroBench's normalisation);
    per step = per sample / T; per forward = total / forwards (NeuroBench issue #137's alternative).
    """

    layers: list[LayerCount]
    samples: int
    T: int
    forwards: int

    def synaptic(self) -> list[LayerCount]:
        return [lc for lc in self.layers if lc.kind == "synaptic"]

    def neuron_layers(self) -> list[LayerCount]:
        return [lc for lc in self.layers if lc.kind == "neuron"]

    def total(self, attr: str) -> float:
        """Sum of ``attr`` over layers (totals over the data)."""
        return float(sum(getattr(lc, attr) for lc in self.layers))

    def total_ops(self, kind: str) -> int:
        return int(sum(lc.ops.get(kind, 0) for lc in self.layers))

    def per_sample(self, value: float) -> float:
        return value / self.samples if self.samples else 0.0

    @property
    def neurons(self) -> int:
        return int(sum(lc.neurons for lc in self.neuron_layers()))

    @property
    def firing_rate(self) -> float:
        upd = self.total("updates")
        return self.total("spikes") / upd if upd else 0.0

    @property
    def ann_macs_per_sample(self) -> int:
        """MACs of the equivalent ANN, one pass (no time dimension): Σ FLOPs per row of every synaptic layer."""
        return int(sum(lc.flops_per_row for lc in self.synaptic()))


def _batches(data: Tensor | Iterable[Any]) -> Iterable[Tensor]:
    if isinstance(data, Tensor):
        yield data
        return
    for item in data:
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, Tensor):
            raise InvalidInputError(f"data must yield tensors [T, B, *] or (x, y) pairs, got {type(x).__name__}")
        yield x


def count_ops(model: nn.Module, data: Tensor | Iterable[Any], max_batches: int | None = None) -> OpCounts:
    """Run ``model`` on ``data`` (a tensor [T, B, *], or an iterable of them or of (x, y) pairs) and count.

    The model runs in eval mode under ``torch.no_grad``; its training flag is restored afterwards and every hook
    is removed even on error.

    Returns:
        ``OpCounts`` with per-layer totals over all the data.
    """
    rec = _Recorder(model)
    was_training = model.training
    model.eval()
    samples, T, forwards = 0, 0, 0
    try:
        with torch.no_grad():
            for i, x in enumerate(_batches(data)):
                if max_batches is not None and i >= max_batches:
                    break
                if x.dim() < 2:
                    raise InvalidInputError(f"model input must be [T, B, *], got shape {tuple(x.shape)}")
                if T and x.shape[0] != T:
                    raise InvalidInputError(f"all batches must share T; got {x.shape[0]} after {T}")
                T = int(x.shape[0])
                samples += int(x.shape[1])
                forwards += 1
                model(x)
    finally:
        rec.close()
        model.train(was_training)
    if samples == 0:
        raise InvalidInputError("count_ops: data held no batch")
    return OpCounts(layers=list(rec.layers.values()), samples=samples, T=T, forwards=forwards)
