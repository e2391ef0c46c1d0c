"""Quantise a float snndeploy model onto Speck's integer parameters (``map_model``) and measure the result.

Accepted models (walked with ``models.tree.walk``, the walk ``quantize.py`` uses), time-major
``[T, B, *]``: a chain of ``TimeDistributed(nn.Conv2d | nn.Linear)`` → neuron → optional
``TimeDistributed(nn.AvgPool2d)``, with ``Flatten``/``Dropout``/``Identity`` anywhere. Every weight layer must
be followed by a neuron (Speck's readout is spikes). Neurons:

- ``snndeploy.neurons.IAF`` (and its alias ``SpeckIAF``, ``speck_iaf.py``): exactly the chip's neuron in float
  when ``max_spikes=None`` (the chip has no cap; a cap is a warning) and ``v_min`` set (the chip's lower
  bound; ``IAF(v_min=None)`` maps with the chip's own floor, −32768 LSB, an ``info`` note: exact while V stays
  above it, but sinabs' NIR reader, hence ``write_artifacts``, needs V_min = −θ);
- a folded ``FoldedLIF`` or a ``LIF`` with subtractive reset by θ and τ ≥ ``IAF_TAU_MIN`` (1e6): mapped as an
  IAF, with warnings (its leak of 1/τ per step is dropped, it fires at most once per step where the chip fires
  trunc(v/θ) times, and it has no lower bound where the chip clips at −θ). Its input gain b (1/τ with
  ``decay_input``) multiplies the weights and its constant term c becomes a bias. A leakier neuron (τ < 1e6),
  a hard reset or another neuron type raises ``ChipMappingError`` naming the layer, the value and the limit.

Per layer (weights W, bias b, threshold θ, lower bound V_min = −θ unless an ``IAF`` sets it):

1. pooling: ``AvgPool2d(k, stride=k, padding=0)`` with ``divisor_override=1`` is a sum pool; a plain average
   pool becomes a sum pool and the next layer's weights are multiplied by 1/k² (float32, exact for
   k ∈ {1, 2, 4}), as sinabs does (``dynapcnn_layer_utils.py`` ``extract_pooling_from_module``); consecutive
   pools multiply (the product must be 1, 2 or 4);
2. scale: s = min(scale(W, 8 bit), scale(b, 8 bit), scale((V_min, θ), 16 bit)) by sinabs' rule
   (``speck_scale.py``, from ``discretize.py``), computed in float32 exactly as sinabs does;
3. rounding: q = round(x·s), half to even (``torch.round``), for W, b, θ, V_min. The results lie in range by
   construction; θ·s rounding to 0 raises ``ChipMappingError``. Notes: one ``info`` per layer with s, and a
   ``warning`` where rounding zeroes non-zero weights or biases or moves θ by more than 0.5 %.

``encode(x)``: the chip takes events, so float inputs must already be non-negative integer event counts
(``[T, B, C, H, W]``, or ``[T, B, N]`` for a linear first layer); anything else raises ``InvalidInputError``.
``compare_mapping`` runs the float model and the integer model on the same inputs and reports per-layer spike
agreement (exact equality of counts) and accuracy, and optionally the vendor's forward against the integer
model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ...errors import InvalidInputError
from ...models.tree import walk as walk_model
from ...neurons import IAF, LIF
from ...neurons.base import is_neuron
from ...verify.compare import compare_spikes
from ..quantize import LayerActivity, _spikes
from ..views import neuron_view
from .base import ChipMapping, ChipMappingError, MappingNote
from .speck import POOLS, STATE_MIN, SpeckLayer, SpeckNetwork
from .speck_scale import discretization_scale, discretize
from .speck_vendor import vendor_run

__all__ = ["IAF_TAU_MIN", "LayerScale", "SpeckMapping", "map_model", "encode_events", "SpeckAgreement",
           "compare_mapping"]

#: The smallest τ (steps) of a LIF-family neuron mapped as an IAF: a relative leak ≤ 1e-6 per step.
IAF_TAU_MIN = 1e6
_NOOP = (nn.Flatten, nn.Dropout, nn.Identity)


@dataclass(frozen=True)
class LayerScale:
    """How one layer was quantised: the float parameters sinabs would discretise, the scale, the rounding."""

    name: str
    neuron: str
    scale: float
    weight: np.ndarray  # float32, after the avg-pool rescale and the neuron's input gain
    bias: np.ndarray | None
    threshold: float
    min_v_mem: float
    pool: int
    rescale: float  # avg-pool factor applied to the weights (1 for none)
    max_rounding_lsb: float  # largest |x·s − round(x·s)| over W, b, θ, V_min

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "neuron": self.neuron, "scale": self.scale, "threshold": self.threshold,
                "min_v_mem": self.min_v_mem, "pool": self.pool, "rescale": self.rescale,
                "max_rounding_lsb": self.max_rounding_lsb}


@dataclass(frozen=True)
class SpeckMapping(ChipMapping):
    """``ChipMapping`` plus the per-layer ``LayerScale`` records."""

    layers: tuple[LayerScale, ...] = ()

    @property
    def scales(self) -> dict[str, float]:
        return {lyr.name: lyr.scale for lyr in self.layers}


@dataclass
class _Stage:
    name: str
    mod: nn.Module
    rescale: float
    neuron: str = ""
    gain: float = 1.0
    leak: float = 0.0
    threshold: float = 0.0
    min_v_mem: float | None = 0.0  # None: the chip's own floor (STATE_MIN LSB)
    pool: int = 1


def encode_events(x: Any, input_shape: tuple[int, int, int]) -> np.ndarray:
    """Float model input → the chip's int64 events (module docstring); raises ``InvalidInputError``."""
    t = torch.as_tensor(x).detach().cpu()
    arr = t.to(torch.float64).numpy() if t.is_floating_point() else t.numpy()
    if arr.ndim < 3:
        raise InvalidInputError(f"Speck input must be [T, B, C, H, W] or [T, B, N], got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr < 0) | (arr != np.round(arr))
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InvalidInputError(
                f"Speck input x{list(idx)} = {float(arr[idx])} is not a non-negative integer event count; "
                "the chip takes events (e.g. DVS counts or spike trains), so encode analog inputs as events "
                "first")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise InvalidInputError(f"Speck input events must be >= 0, got {int(arr.min())}")
    if arr.ndim == 3 and input_shape[1:] == (1, 1):
        return arr
    return arr.reshape(*arr.shape[:2], *input_shape)


def _iaf_params(name: str, mod: IAF, notes: list[MappingNote]) -> tuple[float, float | None, float, float]:
    p = mod.params()
    if p.max_spikes is not None:
        notes.append(MappingNote(name, "neuron", f"IAF max_spikes = {p.max_spikes}: the float layer fires at "
                                 f"most {p.max_spikes} spike(s) per step, the chip floor(v/θ) (no cap); use "
                                 "max_spikes=None for the chip's neuron"))
    if p.v_min is None:
        notes.append(MappingNote(name, "neuron", "IAF without v_min: mapped with the chip's own floor "
                                 f"(min_v_mem = {STATE_MIN} LSB; exact while V stays above it); sinabs' NIR "
                                 "reader (write_artifacts) needs v_min = -v_threshold", "info"))
    return p.v_threshold, p.v_min, 1.0, 0.0


def _neuron_params(name: str, mod: nn.Module,
                   notes: list[MappingNote]) -> tuple[float, float | None, float, float]:
    """(θ, V_min or None, input gain b, constant c) of a neuron mapped as Speck's IAF (module docstring)."""
    if isinstance(mod, IAF):
        return _iaf_params(name, mod, notes)
    view = neuron_view(mod)
    if view.kind != "lif" or view.decay is None or view.threshold is None:
        raise ChipMappingError(f"layer {name!r}: a {view.kind} neuron cannot run on Speck (IAF only); fold "
                               "it with exporters.fold or use snndeploy.neurons.IAF")
    if view.reset != "subtract":
        raise ChipMappingError(f"layer {name!r}: reset {view.reset!r} is not modelled; the Speck path "
                               "(sinabs IAFSqueeze, MembraneSubtract) needs a soft reset by the threshold")
    if not 0.0 < view.decay <= 1.0:
        raise ChipMappingError(f"layer {name!r}: decay {view.decay} is not in (0, 1]: not a leak-free neuron")
    tau = math.inf if view.decay == 1.0 else 1.0 / (1.0 - view.decay)
    if tau < IAF_TAU_MIN:
        raise ChipMappingError(f"layer {name!r}: τ = {tau:.6g} steps is leaky; Speck runs IAF neurons only, "
                               f"so τ must be >= {IAF_TAU_MIN:g} (no leak) or the neuron an IAF")
    spec = getattr(mod, "spec", None)
    if spec is not None:
        gain, leak = float(spec.input_gain), float(spec.leak)
    else:
        p = mod.params() if isinstance(mod, LIF) else None
        gain = 1.0 / p.tau if p is not None and p.decay_input else 1.0
        leak = 0.0
    msg = (f"LIF with τ = {tau:.6g} >= {IAF_TAU_MIN:g} mapped as IAF: its leak is dropped, it fires at most "
           "once per step where the chip fires trunc(v/θ) times, and the chip clips v at −θ")
    notes.append(MappingNote(name, "neuron", msg))
    return view.threshold, -view.threshold, gain, leak


def _pool(name: str, mod: nn.Module) -> tuple[int, float]:
    """(k, weight factor for the next layer) of an AvgPool2d used as Speck's sum pooling."""
    k = mod.kernel_size if isinstance(mod.kernel_size, int) else tuple(mod.kernel_size)
    s = mod.stride if mod.stride is None or isinstance(mod.stride, int) else tuple(mod.stride)
    pd = mod.padding if isinstance(mod.padding, int) else tuple(mod.padding)
    k = k if isinstance(k, int) else (k[0] if k[0] == k[1] else -1)
    if k < 1 or s not in (None, k, (k, k)) or pd not in (0, (0, 0)) or mod.ceil_mode:
        raise ChipMappingError(f"layer {name!r}: pooling must be square, stride = kernel, no padding, floor "
                               f"mode (got kernel {mod.kernel_size}, stride {mod.stride}, padding "
                               f"{mod.padding})")
    d = mod.divisor_override
    return k, 1.0 if d == 1 else 1.0 / (d if d else k * k)


def _walk(model: nn.Module) -> tuple[list[_Stage], list[MappingNote]]:
    stages: list[_Stage] = []
    notes: list[MappingNote] = []
    pending: _Stage | None = None
    carry = 1.0
    for name, mod in walk_model(model):
        if isinstance(mod, _NOOP):
            continue
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            if pending is not None:
                raise ChipMappingError(f"layer {name!r}: two weight layers in a row ({pending.name!r} → "
                                       f"{name!r}); each Speck core runs weights → IAF → pooling")
            pending, carry = _Stage(name, mod, carry), 1.0
        elif is_neuron(mod):
            if pending is None:
                raise ChipMappingError(f"layer {name!r}: a neuron layer without a weight layer before it")
            th, mv, gain, leak = _neuron_params(name, mod, notes)
            pending.neuron, pending.threshold, pending.min_v_mem = name, th, mv
            pending.gain, pending.leak = gain, leak
            stages.append(pending)
            pending = None
        elif isinstance(mod, nn.AvgPool2d):
            if pending is not None or not stages:
                raise ChipMappingError(f"layer {name!r}: Speck pools only after a neuron layer")
            k, factor = _pool(name, mod)
            stages[-1].pool *= k
            carry *= factor
            if stages[-1].pool not in POOLS:
                raise ChipMappingError(f"layer {name!r}: total pooling {stages[-1].pool} after "
                                       f"{stages[-1].neuron!r} is not one of {POOLS}")
            if factor != 1.0:
                msg = f"AvgPool2d({k}) runs as a sum pool; the next weights are multiplied by {factor:g}"
                notes.append(MappingNote(name, "pool", msg, "info"))
        else:
            hint = " (fold BatchNorm first: exporters.fold)" if "BatchNorm" in type(mod).__name__ else ""
            raise ChipMappingError(f"layer {name!r}: {type(mod).__name__} cannot be mapped onto Speck{hint}")
    if pending is not None:
        raise ChipMappingError(f"layer {pending.name!r}: the model ends with a weight layer; Speck's output "
                               "is spikes, so every weight layer needs a neuron after it (e.g. IAF)")
    if not stages:
        raise ChipMappingError("the model has no weight layer")
    return stages, notes


def _conv_geometry(name: str, mod: nn.Conv2d) -> tuple[int, int]:
    ks, st, pd, dl = (tuple(v) if isinstance(v, tuple) else v
                      for v in (mod.kernel_size, mod.stride, mod.padding, mod.dilation))
    square = not isinstance(pd, str) and ks[0] == ks[1] and st[0] == st[1] and pd[0] == pd[1]
    if not square or dl != (1, 1) or mod.groups != 1 or mod.padding_mode != "zeros":
        raise ChipMappingError(f"layer {name!r}: Speck convolutions need square kernel/stride/padding, "
                               f"dilation 1, groups 1, zero padding (got kernel {ks}, stride {st}, padding "
                               f"{pd}, dilation {dl}, groups {mod.groups})")
    return st[0], pd[0]


def _quantise(stage: _Stage, notes: list[MappingNote]) -> tuple[SpeckLayer, LayerScale]:
    mod, name = stage.mod, stage.name
    f32 = torch.float32
    w = mod.weight.detach().to("cpu", f32) * torch.tensor(stage.rescale * stage.gain, dtype=f32)
    b = None if mod.bias is None else mod.bias.detach().to("cpu", f32) * torch.tensor(stage.gain, dtype=f32)
    if stage.leak != 0.0:
        b = (b if b is not None else torch.zeros(w.shape[0], dtype=f32)) + torch.tensor(stage.leak, dtype=f32)
    floor = -stage.threshold if stage.min_v_mem is None else stage.min_v_mem
    s = discretization_scale(w, b, stage.threshold, floor)
    if not math.isfinite(s):
        raise ChipMappingError(f"layer {name!r}: no finite scale (all weights, bias and thresholds are 0)")
    qw, qth = discretize(w, s), int(discretize([stage.threshold], s)[0])
    if stage.min_v_mem is None:  # no floor in float: the chip's lowest state
        qmv, floor = STATE_MIN, STATE_MIN / s
    else:
        qmv = int(discretize([stage.min_v_mem], s)[0])
    qb = None if b is None else discretize(b, s)
    if qth < 1:
        raise ChipMappingError(f"layer {name!r}: threshold {stage.threshold:g} × scale {s:.6g} rounds to "
                               f"{qth}; Speck needs a threshold >= 1 (the weights are too large relative to "
                               "θ: the 8-bit weight scale leaves θ below one state LSB)")
    stride, padding = _conv_geometry(name, mod) if isinstance(mod, nn.Conv2d) else (1, 0)
    layer = SpeckLayer(name, qw, qth, qmv, qb, stride, padding, stage.pool)
    exact = [w.numpy().ravel() * s, np.array([stage.threshold * s, floor * s])]
    if b is not None:
        exact.append(b.numpy() * s)
    lsb = float(max(np.abs(e - np.round(e)).max() for e in exact if e.size))
    msg = (f"scale s = {s:.6g}: weights → int8 (max |q| {int(np.abs(qw).max())}), θ {stage.threshold:g} → "
           f"{qth}, min_v_mem {floor:g} → {qmv}")
    notes.append(MappingNote(name, "scale", msg, "info"))
    nz = w.numpy() != 0
    zeroed = int(np.count_nonzero(qw[nz] == 0))
    if zeroed:
        notes.append(MappingNote(name, "weight", f"{zeroed} of {int(nz.sum())} non-zero weights round to 0 "
                                 f"(|w| < {0.5 / s:.3g} at scale {s:.6g})"))
    if b is not None:
        msg = ("the bias is added every time step here and in sinabs' forward; on the chip it is a leak "
               "driven by the slow clock (sinabs FAQ 'Neuron Leakage')")
        notes.append(MappingNote(name, "bias", msg))
        if np.count_nonzero(qb[b.numpy() != 0] == 0):
            notes.append(MappingNote(name, "bias", f"non-zero biases round to 0 at scale {s:.6g}"))
    rel = abs(qth - stage.threshold * s) / (stage.threshold * s)
    if rel > 0.005:
        msg = (f"θ {stage.threshold:g} × {s:.6g} = {stage.threshold * s:.4g} rounds to {qth} ({rel:.2%} "
               "off; limit 0.5 %)")
        notes.append(MappingNote(name, "threshold", msg))
    rec = LayerScale(name, stage.neuron, s, w.numpy().copy(), None if b is None else b.numpy().copy(),
                     stage.threshold, floor, stage.pool, stage.rescale, lsb)
    return layer, rec


def _input_shape(stages: list[_Stage], x: Tensor | None) -> tuple[int, int, int]:
    if x is not None:
        if x.dim() == 3:
            return (int(x.shape[2]), 1, 1)
        if x.dim() == 5:
            return tuple(int(d) for d in x.shape[2:])  # type: ignore[return-value]
        raise InvalidInputError("Speck calibration input must be [T, B, C, H, W] or [T, B, N], got "
                                f"{tuple(x.shape)}")
    first = stages[0].mod
    if isinstance(first, nn.Linear):
        return (first.in_features, 1, 1)
    raise InvalidInputError(f"layer {stages[0].name!r}: a conv network needs a calibration input to know "
                            "(C, H, W)")


def map_model(model: nn.Module, calibration_x: Tensor | None = None, target: str = "speck") -> SpeckMapping:
    """Map a float model onto Speck's integers (module docstring). ``calibration_x`` (``[T, B, *]``) gives the
    input shape; the model is not modified. Raises ``ChipMappingError`` for anything the chip cannot
    represent."""
    stages, notes = _walk(model)
    shape = _input_shape(stages, calibration_x)
    layers, recs = [], []
    for st in stages:
        layer, rec = _quantise(st, notes)
        layers.append(layer)
        recs.append(rec)
    net = SpeckNetwork(shape, tuple(layers))
    return SpeckMapping(chip=target, network=net, encode=lambda x: encode_events(x, shape),
                        notes=tuple(notes), layers=tuple(recs))


@dataclass
class SpeckAgreement:
    """Float model vs integer chip model on the same inputs (and the vendor's forward when asked)."""

    layers: list[LayerActivity] = field(default_factory=list)
    accuracy: tuple[float, float] | None = None
    vendor_mismatches: int | None = None

    @property
    def agreement(self) -> float:
        """Mean spike agreement over the layers."""
        return float(np.mean([a.agreement for a in self.layers])) if self.layers else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"layers": [a.to_dict() for a in self.layers], "agreement": self.agreement,
                "accuracy": {"float": self.accuracy[0], "chip": self.accuracy[1]} if self.accuracy else None,
                "vendor_mismatches": self.vendor_mismatches}


def compare_mapping(model: nn.Module, mapping: SpeckMapping, x: Tensor, labels: Tensor | None = None,
                    vendor: bool = False) -> SpeckAgreement:
    """Per neuron layer: firing rates (mean spike count per neuron-step) and the fraction of neuron-steps
    whose spike counts are identical between ``model`` and ``mapping.network`` on ``x``; with ``labels``
    ([B]), both accuracies (argmax over classes of the last layer's counts summed over T); with ``vendor``,
    the number of spike counts where sinabs' forward differs from the integer model (must be 0)."""
    events = mapping.encode(x)
    chip = mapping.network.run(events)
    floats, _ = _spikes(model, x)
    res = SpeckAgreement()
    for rec, s_chip in zip(mapping.layers, chip.spikes, strict=True):
        s_f = floats[rec.neuron].reshape(s_chip.shape)
        s_c = torch.from_numpy(s_chip)
        cmp = compare_spikes(s_f, s_c, layer=rec.name)
        rf, rc = float(s_f.float().mean()), float(s_c.double().mean())
        alarm = "collapsed" if rc == 0.0 < rf else None
        first = cmp.first.to_dict() if cmp.first is not None else None
        res.layers.append(LayerActivity(rec.name, rf, rc, cmp.agreement, alarm, first))
    if labels is not None:
        out_f = floats[mapping.layers[-1].neuron].reshape(chip.output.shape)
        acc_f = float((out_f.sum(0).reshape(out_f.shape[1], -1).argmax(-1) == labels).float().mean())
        out_c = torch.from_numpy(chip.output)
        acc_c = float((out_c.sum(0).reshape(out_c.shape[1], -1).argmax(-1) == labels).float().mean())
        res.accuracy = (acc_f, acc_c)
    if vendor:
        ven = vendor_run(mapping.network, events)
        pairs = zip(chip.spikes, ven.spikes, strict=True)
        res.vendor_mismatches = int(sum(np.count_nonzero(a != b) for a, b in pairs))
    return res
