"""Operation counts of a spiking model measured on real data with forward hooks. Tensors are time-major
[T, B, *].

What is counted, per layer, summed over the data (``OpCounts`` turns totals into per-sample numbers). A *row*
is what one sample presents to a layer at one time step (the layer sees T·B rows per call).

Synaptic layers (Linear, Conv1d/2d/3d, bare or inside ``TimeDistributed``). Every count is a linear functional
of the input: Σ_out Σ_in x_in·[w ≠ 0] = Σ_in x_in·g_in, with the **fan-out map** g_in = ∂(Σ W_b∗x)/∂x_in, the
number of non-zero weights input element ``in`` reaches (padding excluded). g is computed once per layer
(autograd on a row of ones); the counts are then exact integer dot products per row.

- **pairs** of a row = Σ_in [x_in ≠ 0]·g_in: the (non-zero input, non-zero weight) pairs that meet in an
  output.
- **ACs or MACs, decided per row** (one sample, one step), so the counts do not depend on the batching:
  * a row of integers (spikes {0, 1}, signed spikes {−1, 0, 1}, or event *counts*: an N-MNIST bin holding 2
    events, a sum pool's output, spike + spike on a residual stream) does **ACs**: each event is one
    accumulate of its weight, so a value n costs |n| ACs: ACs_row = Σ_in |x_in|·g_in (= pairs for spikes);
  * any other row is real-valued and does **MACs**: MACs_row = pairs.
  This is snndeploy's convention (``acs``/``macs``). ``count_acs`` is the part of the ACs that came from rows
  holding counts > 1.
- **NeuroBench-compatible** (``nb_acs``/``nb_macs``): the same pairs, but AC vs MAC decided once per layer
  call on the whole [T·B, *] tensor, binary or ternary → ACs, else MACs (``neurobench.metrics.utils.layers``
  ``single_layer_MACs``); the totals equal NeuroBench 2.3.0's ``Effective_ACs``/``Effective_MACs``. One row
  holding a 2 turns the whole call into MACs, so these depend on the batch size.
- **spikingjelly-compatible** (``sj_synops``/``sj_macs``): spikingjelly 2.0's ``SynOpCounter``/``MACCounter``
  (``op_counter/ac.py`` ``_spike_mm``/``_spike_convolution``, ``mac.py``) decide per aten call on {0, 1} only;
  a spike call costs Σ_in [x_in ≠ 0]·g_dense_in SynOps (zero weights included, padding excluded), any other
  call T·B·FLOPs MACs (padding taps included). BatchNorm adds one MAC per element (its affine).
- **dense ops** = Σ_in g_dense_in per row (every synapse every step; NeuroBench's ``Dense``).
- **paper ops** = T·r_in·FLOPs (the convention of most SNN papers, e.g. Spikformer/SEW-ResNet energy tables),
  with FLOPs the equivalent ANN's MACs per row (out elements × fan-in, padding included) and r_in the input's
  mean events per element; real-valued rows count r_in = 1 and their ops as MACs. Per row as well.
- memory traffic inputs: input events (Σ|x| over integer rows), real rows and their elements, weight and bias
  elements, outputs per row (bias reads); ``estimate`` turns them into bytes under stated dataflows.

Neuron layers (``snndeploy.neurons`` modules and the folded ``exporters.lifspec.FoldedLIF``): neurons, spikes,
firing rate, state updates (neurons × T, one per neuron and step whatever it receives), the ops of those
updates from ``neuron_ops`` (per-step ops × updates + per-spike ops × spikes), and state memory (states × 4
bytes per neuron).

Other layers: ``Residual`` additions (one add per element and step of the main branch), BatchNorm (1 mult + 1
add per element: the inference affine; ``energy_report`` folds it first), AvgPool (k − 1 adds + 1 mult per
output; a **sum pool**, ``divisor_override = 1``, costs the k − 1 adds only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InvalidInputError
from ..models.layers import Residual
from ..models.tree import walk
from ..neurons.base import is_neuron
from .neuron_ops import OP_KINDS, NeuronOpCount, neuron_ops

__all__ = ["SYNAPTIC_TYPES", "ROW_KINDS", "LayerCount", "OpCounts", "count_ops", "input_kind",
           "record_synaptic", "fanout_maps"]

SYNAPTIC_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

#: Kinds of input row: spikes {0, 1}, signed spikes {−1, 0, 1}, integer event counts, real values.
ROW_KINDS = ("binary", "ternary", "count", "real")

#: Rows × elements converted to float64 at once (bounds the memory of the exact per-row dot products).
_CHUNK_ELEMENTS = 1 << 22


def input_kind(x: Tensor) -> str:
    """``"binary"`` if every value is 0 or 1, ``"ternary"`` if in {−1, 0, 1} (NeuroBench's spike test), else
    ``"real"`` (the whole tensor: NeuroBench's and the old per-call rule)."""
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
    rows: int = 0  # T·B rows seen (synaptic) or T·B (neuron)
    # synaptic, snndeploy's convention (per row)
    acs: int = 0
    macs: int = 0
    count_acs: int = 0
    row_kinds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROW_KINDS, 0))
    # synaptic, peers' conventions (per call)
    nb_acs: int = 0
    nb_macs: int = 0
    sj_synops: int = 0
    sj_macs: int = 0
    dense_ops: int = 0
    paper_events: int = 0  # Σ|x| over integer rows: the papers' r_in numerator
    flops_per_row: int = 0
    numel_per_row: int = 0
    out_per_row: int = 0
    fan_in: int = 0
    fan_out_mean: float = 0.0
    input_nonzero: int = 0
    input_elements: int = 0
    input_events: int = 0
    weight_elements: int = 0
    bias_elements: int = 0
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
    note: str = ""
    fanout: Any = field(default=None, repr=False, compare=False)  # cached (row shape, g_nz, g_dense, out/row)

    @property
    def input_rate(self) -> float:
        return self.input_nonzero / self.input_elements if self.input_elements else 0.0

    @property
    def firing_rate(self) -> float:
        return self.spikes / self.updates if self.updates else 0.0

    @property
    def input_kinds(self) -> set[str]:
        """The kinds of row this layer received (``ROW_KINDS``)."""
        return {k for k, n in self.row_kinds.items() if n}

    @property
    def real_rows(self) -> int:
        return self.row_kinds["real"]

    @property
    def paper_acs(self) -> float:
        """Σ over integer rows of r_row·FLOPs, r_row = Σ|x_row| / elements per row."""
        return self.paper_events * self.flops_per_row / self.numel_per_row if self.numel_per_row else 0.0

    @property
    def paper_macs(self) -> float:
        return float(self.real_rows * self.flops_per_row)


def _apply_weight(layer: nn.Module, x: Tensor, w: Tensor) -> Tensor:
    """``layer``'s linear map with weight ``w`` and no bias (Linear: x·wᵀ; ConvNd: its own padding, stride and
    groups)."""
    if isinstance(layer, nn.Linear):
        return torch.nn.functional.linear(x, w)
    return layer._conv_forward(x, w, None)  # type: ignore[operator]


def fanout_maps(apply: Callable[[Tensor, Tensor], Tensor], weight: Tensor,
                row_shape: tuple[int, ...]) -> tuple[Tensor, Tensor, int]:
    """Fan-out maps of a linear map on one input row of shape ``row_shape``.

    Returns:
        ``(g_nz, g_dense, out_per_row)``: g_nz[i] = ∂(Σ apply(x, [W ≠ 0]))/∂x_i, the non-zero weights input
        element i reaches; g_dense the same with every weight 1 (padding taps excluded in both); both
        flattened, float64. ``out_per_row`` is the number of outputs of one row.
    """
    wb = (weight.detach() != 0).to(torch.float64)
    with torch.enable_grad():
        x = torch.ones(1, *row_shape, dtype=torch.float64, requires_grad=True)
        out = apply(x, wb)
        (g_nz,) = torch.autograd.grad(out.sum(), x)
        x2 = torch.ones(1, *row_shape, dtype=torch.float64, requires_grad=True)
        (g_dense,) = torch.autograd.grad(apply(x2, torch.ones_like(wb)).sum(), x2)
    return g_nz.reshape(-1).detach(), g_dense.reshape(-1).detach(), int(out[0].numel())


def _int(t: Tensor) -> int:
    return int(round(float(t)))


def record_synaptic(rec: LayerCount, x_rows: Tensor, weight: Tensor, bias_elements: int,
                    apply: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Add one call of a synaptic layer to ``rec`` (shared by the torch hooks and the NIR counter).

    Args:
        rec: the layer's record.
        x_rows: the input the layer received, ``[R, *row_shape]`` (R = T·B rows).
        weight: its weight; ``bias_elements`` the size of its bias (0: none).
        apply: ``apply(x, w)``, the layer's linear map without bias.
    """
    row_shape = tuple(int(s) for s in x_rows.shape[1:])
    if rec.fanout is None or rec.fanout[0] != row_shape:
        rec.fanout = (row_shape, *fanout_maps(apply, weight, row_shape))
    _, g_nz, g_dense, out_per_row = rec.fanout
    n_rows = int(x_rows.shape[0])
    flat = x_rows.detach().reshape(n_rows, -1)
    if not flat.is_floating_point():
        flat = flat.to(torch.float32)
    numel = int(flat.shape[1])
    fan_in = int(weight[0].numel())
    flops_row = out_per_row * fan_in
    pairs_all = events_all = count_all = sj_all = 0
    macs = acs = 0
    nonzero = int((flat != 0).sum())
    kinds = dict.fromkeys(ROW_KINDS, 0)
    step = max(1, _CHUNK_ELEMENTS // max(numel, 1))
    for i in range(0, n_rows, step):
        chunk = flat[i:i + step]
        nz = (chunk != 0).to(torch.float64)
        pairs = nz @ g_nz
        is_bin = ((chunk == 0) | (chunk == 1)).all(1)
        is_tern = ((chunk == 0) | (chunk == 1) | (chunk == -1)).all(1) & ~is_bin
        is_int = (chunk == torch.round(chunk)).all(1) & torch.isfinite(chunk).all(1)
        is_count = is_int & ~is_bin & ~is_tern
        is_real = ~is_int
        kinds["binary"] += int(is_bin.sum())
        kinds["ternary"] += int(is_tern.sum())
        kinds["count"] += int(is_count.sum())
        kinds["real"] += int(is_real.sum())
        pairs_all += _int(pairs.sum())
        spikes = is_bin | is_tern
        acs += _int(pairs[spikes].sum())
        events_all += _int(nz[spikes].sum())
        if bool(is_count.any()):
            counts = chunk[is_count].abs().to(torch.float64)
            c = _int((counts @ g_nz).sum())
            acs += c
            count_all += c
            events_all += _int(counts.sum())
        macs += _int(pairs[is_real].sum())
        sj_all += _int((nz @ g_dense).sum())
    rec.rows += n_rows
    rec.acs += acs
    rec.macs += macs
    rec.count_acs += count_all
    for k, v in kinds.items():
        rec.row_kinds[k] += v
    if input_kind(flat) == "real":  # NeuroBench: one decision for the whole call
        rec.nb_macs += pairs_all
    else:
        rec.nb_acs += pairs_all
    if bool(((flat == 0) | (flat == 1)).all()):  # spikingjelly: {0, 1} only, per aten call
        rec.sj_synops += sj_all
    else:
        rec.sj_macs += n_rows * flops_row
    dense_row = _int(g_dense.sum())
    rec.dense_ops += n_rows * dense_row
    rec.paper_events += events_all
    rec.input_events += events_all
    rec.input_nonzero += nonzero
    rec.input_elements += int(flat.numel())
    rec.flops_per_row, rec.numel_per_row, rec.out_per_row, rec.fan_in = flops_row, numel, out_per_row, fan_in
    rec.fan_out_mean = dense_row / numel if numel else 0.0
    rec.weight_elements, rec.bias_elements = int(weight.numel()), int(bias_elements)
    rec.parameters = rec.weight_elements + rec.bias_elements


class _Recorder:
    """Forward hooks filling ``LayerCount`` records; ``close()`` removes them."""

    def __init__(self, model: nn.Module):
        self.layers: dict[str, LayerCount] = {}
        self.handles: list[Any] = []
        # TimeDistributed layers come unwrapped, under the TimeDistributed's path
        for label, mod in walk(model):
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
            x = x.reshape(-1, layer.in_features)
        bias = getattr(layer, "bias", None)
        record_synaptic(rec, x, layer.weight, int(bias.numel()) if bias is not None else 0,
                        lambda xx, ww: _apply_weight(layer, xx, ww))
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
        rec.sj_macs += int(x.numel()) if module.affine else 0  # spikingjelly's MACCounter: x̂·γ + β
        rec.rows += int(x.shape[0])
        rec.parameters = sum(int(p.numel()) for p in module.parameters(recurse=False))
        rec.param_bytes = sum(int(p.numel()) * p.element_size() for p in module.parameters(recurse=False))

    @staticmethod
    def _avgpool(module: nn.Module, x: Tensor, y: Tensor, rec: LayerCount) -> None:
        k = module.kernel_size
        window = int(math.prod(k)) if isinstance(k, tuple) else int(k) ** (x.dim() - 2)
        rec.ops["add"] += int(y.numel()) * (window - 1)
        if getattr(module, "divisor_override", None) == 1:  # sum pooling: additions only
            rec.note = "sum pool (divisor_override=1): additions only"
        else:
            rec.ops["mult"] += int(y.numel())
        rec.rows += int(x.shape[0])

    def close(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


@dataclass
class OpCounts:
    """Counts of a whole model on some data: per-layer totals plus what is needed to normalise them.

    ``samples`` is the number of sequences (B summed over batches), ``T`` the time steps per sequence,
    ``forwards`` the number of model calls and ``batch_sizes`` the B of each call. Per sample = total /
    samples (NeuroBench's normalisation); per step = per sample / T; per forward = total / forwards
    (NeuroBench issue #137's alternative).
    """

    layers: list[LayerCount]
    samples: int
    T: int
    forwards: int
    batch_sizes: list[int] = field(default_factory=list)

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
    def batch_size(self) -> int:
        """The largest batch seen (the last batch of a dataset may be smaller)."""
        return max(self.batch_sizes, default=0)

    @property
    def neurons(self) -> int:
        return int(sum(lc.neurons for lc in self.neuron_layers()))

    @property
    def firing_rate(self) -> float:
        upd = self.total("updates")
        return self.total("spikes") / upd if upd else 0.0

    @property
    def ann_macs_per_sample(self) -> int:
        """MACs of the equivalent ANN, one pass (no time dimension): Σ FLOPs per row of every synaptic
        layer."""
        return int(sum(lc.flops_per_row for lc in self.synaptic()))


def _batches(data: Tensor | Iterable[Any]) -> Iterable[Tensor]:
    if isinstance(data, Tensor):
        yield data
        return
    for item in data:
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, Tensor):
            raise InvalidInputError(
                f"data must yield tensors [T, B, *] or (x, y) pairs, got {type(x).__name__}")
        yield x


def count_ops(model: nn.Module, data: Tensor | Iterable[Any], max_batches: int | None = None) -> OpCounts:
    """Run ``model`` on ``data`` (a tensor [T, B, *], or an iterable of them or of (x, y) pairs) and count.

    The model runs in eval mode under ``torch.no_grad``; its training flag is restored afterwards and every
    hook is removed even on error.

    Returns:
        ``OpCounts`` with per-layer totals over all the data.
    """
    rec = _Recorder(model)
    was_training = model.training
    model.eval()
    T, batch_sizes = 0, []
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
                batch_sizes.append(int(x.shape[1]))
                model(x)
    finally:
        rec.close()
        model.train(was_training)
    if not batch_sizes or sum(batch_sizes) == 0:
        raise InvalidInputError("count_ops: data held no batch")
    return OpCounts(layers=list(rec.layers.values()), samples=sum(batch_sizes), T=T,
                    forwards=len(batch_sizes), batch_sizes=batch_sizes)
