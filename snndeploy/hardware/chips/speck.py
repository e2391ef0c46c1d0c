"""Bit-accurate integer model of SynSense Speck / DYNAP-CNN as sinabs 3.1.3 runs it (``DynapcnnNetwork``).

The chip simulator (specksim) lives in samna, which must never be installed here; the vendor reference is the
*discretised* ``DynapcnnNetwork`` forward pass of ``sinabs.backend.dynapcnn`` (sinabs' own stand-in for the
chip), run in the ``sinabs`` vendor venv (``speck_vendor.py``). This module reproduces it with exact integer
arithmetic.

A network is a chain of DYNAP-CNN layers (one per core), each ``weights → IAF → sum pooling`` (sinabs
``backend/dynapcnn/dynapcnn_layer.py`` ``DynapcnnLayer.forward``: conv, then ``spk``, then
``lp_pool2d(norm_type=1)`` per destination). Parameters (``discretize.py``:
``DYNAPCNN_WEIGHT_PRECISION_BITS = 8``, ``DYNAPCNN_STATE_PRECISION_BITS = 16``):

- ``weight``: int8 ``[-128, 127]``; a conv kernel ``[C_out, C_in, k, k]`` (square, stride ∈ {1, 2, 4, 8}, zero
  padding 0..7) or a linear matrix ``[N_out, N_in]``: sinabs turns ``nn.Linear`` into a conv whose kernel is
  the whole input (``dynapcnn_layer.py`` ``convert_linear_to_conv``), so it reads the input flattened in
  (C, H, W) order, its input map must be square (H = W: ``DynapcnnLayer`` refuses non-square kernels,
  measured) and its neurons have shape (N_out, 1, 1);
- ``bias``: optional, int8 on the weights' scale, added every step (on the chip a bias is a leak driven by the
  slow clock: sinabs ``docs/speck/faqs/available_algorithmic_operation.md``; the forward adds it per step);
- ``threshold`` θ (``spike_threshold``): 16-bit, 1..32767, one per layer; ``min_v_mem`` (``threshold_low``):
  16-bit, −32768..0;
- ``pool``: sum pooling 1, 2 or 4 (square, stride = kernel, floor) after the neurons.

Equations of one layer and step t, all integers (``[T, B, ...]`` time-major; state starts at 0):

1. I[t] = Σ w·x[t] + b: the conv (or matrix product) of the layer's input events (``nn.Conv2d`` in
   ``DynapcnnLayer.forward``);
2. v ← v + I[t]  (``layers/functional/lif.py`` ``lif_forward_single`` with IAF's ``alpha_mem = 1``, no
   synapse);
3. n = trunc(v / θ) · [v > 0]  (``activation/spike_generation.py`` ``MultiSpike.forward``: several spikes per
   step; for v > 0 truncation is floor);
4. v ← v − n·θ  (``activation/reset_mechanism.py`` ``MembraneSubtract`` with ``subtract_value=None``);
5. v ← max(v, min_v_mem)  (``lif_forward_single``: ``relu(v − min_v_mem) + min_v_mem``);
6. the layer's output events: n, sum-pooled over p×p windows (``sum_pool2d`` = ``lp_pool2d(norm_type=1)``).

After step 4, 0 ≤ v < θ when v was positive, so the stored state always fits 16 bits; only the transient v + I
is wider, and this model keeps it exact where the chip processes events one by one (see below).

Float vs integer: sinabs computes 1–5 in float32 on integer-valued tensors. That is exact while every partial
sum of step 1 and |v + I| stay below 2**24 (float32 represents every integer up to 2**24; then the quotient
v/θ, correctly rounded, cannot cross an integer, so trunc is exact too; ``lp_pool2d`` divides by p² and
multiplies back, exact for p ∈ {1, 2, 4}). ``SpeckNetwork.float32_headroom`` gives, per layer, max over the
run of Σ|w|·x + |b| + max(θ − 1, −min_v_mem): below ``FLOAT32_EXACT`` the vendor's float forward equals this
model; above, it may differ (this model stays exact: it is the chip's integer arithmetic, not float32's).

Not modelled: the chip is asynchronous and event-driven (no time step; sinabs ``docs/speck/dangers.md``):
events arrive one at a time, so an inhibitory event that follows an excitatory one within the same "step" may
change the output; timing, power, routing, the readout layer, the DVS layer and reset-to-zero
(``MembraneReset``) are out of scope. Core placement is the vendor's: ``speck_vendor.place_on_cores``.

Input convention: ``x`` is ``[T, B, C, H, W]`` non-negative integer event counts per pixel and step (for a
network whose input shape is (N, 1, 1), ``[T, B, N]`` is accepted). ``run`` returns one spike-count array per
layer (the IAF's output before pooling: ``[T, B, C, H, W]`` for conv layers, ``[T, B, N]`` for linear layers)
and ``states["v"]``, the membrane after each step in the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InvalidInputError, InvalidParameterError, ResourceLimitError
from .base import ChipRun

__all__ = [
    "WEIGHT_MIN", "WEIGHT_MAX", "STATE_MIN", "STATE_MAX", "STRIDES", "POOLS", "MAX_KERNEL", "MAX_PADDING",
    "FLOAT32_EXACT", "SpeckLayer", "SpeckNetwork", "int_array", "sum_pool",
    "iaf_multispike",
]

WEIGHT_MIN, WEIGHT_MAX = -128, 127  # DYNAPCNN_WEIGHT_PRECISION_BITS = 8
STATE_MIN, STATE_MAX = -(2**15), 2**15 - 1  # DYNAPCNN_STATE_PRECISION_BITS = 16
STRIDES = (1, 2, 4, 8)  # docs/speck/overview.md "DYNAP-CNN Layer / Feature"
POOLS = (1, 2, 4)  # overview.md: sum pooling 1x1, 2x2, 4x4
MAX_KERNEL = 16  # overview.md: kernel up to 16x16
MAX_PADDING = 7  # overview.md: padding 0..7
#: float32 represents every integer of magnitude ≤ 2**24: sinabs' float forward is exact below it.
FLOAT32_EXACT = 2**24
#: The integer model computes sums in float32 or float64 (exact below 2**24, 2**53) and refuses inputs beyond.
_FLOAT64_EXACT = 2**53


def int_array(value: Any, layer: str, field: str, lo: int, hi: int,
              ndim: tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a read-only int64 array with every element in [lo, hi] (``InvalidParameterError`` naming
    the layer, field, offending value and limit otherwise). Integer-valued float arrays are refused: a chip
    parameter must already be an integer."""
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidParameterError(f"layer {layer!r}: {field} must be an integer array, got dtype "
                                    f"{arr.dtype}")
    if ndim is not None and arr.ndim not in ndim:
        dims = " or ".join(map(str, ndim))
        raise InvalidParameterError(f"layer {layer!r}: {field} must have {dims} dimensions, got shape "
                                    f"{arr.shape}")
    arr = arr.astype(np.int64)
    if arr.size:
        bad = np.flatnonzero((arr < lo) | (arr > hi))
        if bad.size:
            idx = np.unravel_index(bad[0], arr.shape)
            where = ", ".join(map(str, idx))
            raise InvalidParameterError(
                f"layer {layer!r}: {field}[{where}] = {int(arr[idx])} is outside [{lo}, {hi}] "
                f"({bad.size} element(s) out of range)")
    arr.setflags(write=False)
    return arr


def _int_scalar(value: Any, layer: str, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(f"layer {layer!r}: {field} must be an integer, got {value!r}")
    if not lo <= int(value) <= hi:
        raise InvalidParameterError(f"layer {layer!r}: {field} = {int(value)} is outside [{lo}, {hi}]")
    return int(value)


@dataclass(frozen=True, eq=False)
class SpeckLayer:
    """One DYNAP-CNN layer (core): weights → multi-spike IAF → sum pooling (module docstring for the maths).

    Args:
        name: shown in every error and report.
        weight: int ``[C_out, C_in, k, k]`` (conv) or ``[N_out, N_in]`` (linear), each in [−128, 127].
        threshold: θ in 1..32767.
        min_v_mem: lower bound of the membrane in −32768..0.
        bias: optional int ``[C_out]`` in [−128, 127].
        stride, padding: conv only (stride ∈ {1, 2, 4, 8}, padding 0..7; a linear layer needs 1 and 0).
        pool: sum pooling after the neurons, 1, 2 or 4 (a linear layer needs 1).
    """

    name: str
    weight: np.ndarray
    threshold: int
    min_v_mem: int
    bias: np.ndarray | None = None
    stride: int = 1
    padding: int = 0
    pool: int = 1

    def __post_init__(self) -> None:
        n = self.name
        w = int_array(self.weight, n, "weight", WEIGHT_MIN, WEIGHT_MAX, ndim=(2, 4))
        object.__setattr__(self, "weight", w)
        if w.ndim == 4 and w.shape[2] != w.shape[3]:
            raise InvalidParameterError(f"layer {n!r}: kernel {w.shape[2]}x{w.shape[3]} is not square "
                                        "(DynapcnnLayer raises ValueError for non-square kernels)")
        if w.ndim == 4 and not 1 <= w.shape[2] <= MAX_KERNEL:
            raise InvalidParameterError(f"layer {n!r}: kernel size {w.shape[2]} is outside [1, {MAX_KERNEL}]")
        if min(w.shape) < 1:
            raise InvalidParameterError(f"layer {n!r}: weight has an empty dimension, shape {w.shape}")
        if self.bias is not None:
            b = int_array(self.bias, n, "bias", WEIGHT_MIN, WEIGHT_MAX, ndim=(1,))
            if b.shape[0] != w.shape[0]:
                raise InvalidParameterError(f"layer {n!r}: bias has {b.shape[0]} entries, weight "
                                            f"{w.shape[0]} outputs")
            object.__setattr__(self, "bias", b)
        object.__setattr__(self, "threshold", _int_scalar(self.threshold, n, "threshold", 1, STATE_MAX))
        object.__setattr__(self, "min_v_mem", _int_scalar(self.min_v_mem, n, "min_v_mem", STATE_MIN, 0))
        lin = w.ndim == 2
        max_stride, max_pad, max_pool = (1, 0, 1) if lin else (max(STRIDES), MAX_PADDING, max(POOLS))
        object.__setattr__(self, "stride", _int_scalar(self.stride, n, "stride", 1, max_stride))
        if self.stride not in STRIDES:
            raise InvalidParameterError(f"layer {n!r}: stride {self.stride} is not one of {STRIDES}")
        object.__setattr__(self, "padding", _int_scalar(self.padding, n, "padding", 0, max_pad))
        object.__setattr__(self, "pool", _int_scalar(self.pool, n, "pool", 1, max_pool))
        if self.pool not in POOLS:
            raise InvalidParameterError(f"layer {n!r}: pool {self.pool} is not one of {POOLS}")

    @property
    def kind(self) -> str:
        """``"linear"`` or ``"conv"``."""
        return "linear" if self.weight.ndim == 2 else "conv"

    def neuron_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(C, H, W) of the neurons for an input shaped ``in_shape`` (``InvalidParameterError`` if wrong)."""
        c, h, w = in_shape
        if self.kind == "linear":
            if self.weight.shape[1] != c * h * w:
                n_in = self.weight.shape[1]
                raise InvalidParameterError(f"layer {self.name!r}: linear weight takes {n_in} inputs, the "
                                            f"layer before gives {c}x{h}x{w} = {c * h * w}")
            if h != w:
                raise InvalidParameterError(
                    f"layer {self.name!r}: a linear layer needs a square input map, got {h}x{w} (sinabs "
                    "makes it a conv with kernel = the input map, and DynapcnnLayer refuses non-square "
                    "kernels)")
            return (self.weight.shape[0], 1, 1)
        k = self.weight.shape[2]
        if self.weight.shape[1] != c:
            raise InvalidParameterError(f"layer {self.name!r}: conv weight takes {self.weight.shape[1]} "
                                        f"channels, the layer before gives {c}")
        ho, wo = ((d + 2 * self.padding - k) // self.stride + 1 for d in (h, w))
        if ho < 1 or wo < 1:
            raise InvalidParameterError(f"layer {self.name!r}: kernel {k} (padding {self.padding}) does not "
                                        f"fit the {h}x{w} input")
        return (self.weight.shape[0], ho, wo)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "weight": self.weight.tolist(),
                "threshold": self.threshold, "min_v_mem": self.min_v_mem,
                "bias": None if self.bias is None else self.bias.tolist(),
                "stride": self.stride, "padding": self.padding, "pool": self.pool}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeckLayer:
        bias = d.get("bias")
        return cls(name=d["name"], weight=np.asarray(d["weight"], dtype=np.int64), threshold=d["threshold"],
                   min_v_mem=d["min_v_mem"], bias=None if bias is None else np.asarray(bias, dtype=np.int64),
                   stride=d.get("stride", 1), padding=d.get("padding", 0), pool=d.get("pool", 1))


def iaf_multispike(current: Any, threshold: int, min_v_mem: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2–5 of the module docstring over ``current`` ``[T, B, ...]`` (integers): (spike counts, v after
    each step), both ``[T, B, ...]`` int64, from v = 0. numpy: its per-call overhead is a fraction of torch's,
    and the time loop makes many small calls."""
    cur = np.asarray(current, dtype=np.int64)
    v = np.zeros(cur.shape[1:], dtype=np.int64)
    spikes = np.empty_like(cur)
    states = np.empty_like(cur)
    for t in range(cur.shape[0]):
        v += cur[t]
        n = np.where(v > 0, v // threshold, 0)  # trunc = floor for v > 0
        v -= n * threshold
        np.maximum(v, min_v_mem, out=v)
        spikes[t] = n
        states[t] = v
    return spikes, states


def sum_pool(x: torch.Tensor, p: int) -> torch.Tensor:
    """Sum over non-overlapping p×p windows of ``x`` ``[N, C, H, W]`` (floor: trailing rows/columns go)."""
    if p == 1:
        return x
    n, c, h, w = x.shape
    ho, wo = h // p, w // p
    return x[:, :, : ho * p, : wo * p].reshape(n, c, ho, p, wo, p).sum(dim=(3, 5))


@dataclass(frozen=True, eq=False)
class SpeckNetwork:
    """A chain of ``SpeckLayer`` fed by ``input_shape`` (C, H, W) events (validated on construction)."""

    input_shape: tuple[int, int, int]
    layers: tuple[SpeckLayer, ...]

    def __post_init__(self) -> None:
        shape = tuple(self.input_shape)
        if len(shape) != 3 or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1
                                  for d in shape):
            raise InvalidParameterError(f"input_shape must be three positive integers (C, H, W), got "
                                        f"{self.input_shape!r}")
        object.__setattr__(self, "input_shape", tuple(int(d) for d in shape))
        layers = tuple(self.layers)
        if not layers:
            raise InvalidParameterError("a Speck network needs at least one layer")
        for layer in layers:
            if not isinstance(layer, SpeckLayer):
                raise InvalidParameterError(f"layers must be SpeckLayer records, got {type(layer).__name__}")
        names = [lyr.name for lyr in layers]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"layer names must be unique, got {names}")
        object.__setattr__(self, "layers", layers)
        self.shapes()  # validates the shape chain

    def shapes(self) -> list[tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]]:
        """Per layer (input, neuron, output-after-pooling) shapes, each (C, H, W)."""
        out = []
        shape = self.input_shape
        for layer in self.layers:
            neurons = layer.neuron_shape(shape)
            pooled = (neurons[0], neurons[1] // layer.pool, neurons[2] // layer.pool)
            if min(pooled) < 1:
                raise InvalidParameterError(f"layer {layer.name!r}: pool {layer.pool} is larger than the "
                                            f"{neurons[1]}x{neurons[2]} neuron map")
            out.append((shape, neurons, pooled))
            shape = pooled
        return out

    def _check_input(self, x: Any) -> torch.Tensor:
        arr = np.asarray(x)
        if arr.dtype == bool:
            arr = arr.astype(np.int64)
        if not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"Speck input must be integer event counts, got dtype {arr.dtype} "
                                    "(turn float inputs into events with the mapping's encode)")
        c, h, w = self.input_shape
        if arr.ndim == 3 and h == w == 1 and arr.shape[2] == c:
            arr = arr.reshape(*arr.shape, 1, 1)
        if arr.ndim != 5 or tuple(arr.shape[2:]) != self.input_shape:
            raise InvalidInputError(f"Speck input must be [T, B, {c}, {h}, {w}] (or [T, B, {c}] when "
                                    f"H = W = 1), got shape {arr.shape}")
        if arr.size and int(arr.min()) < 0:
            idx = np.unravel_index(int(np.argmin(arr)), arr.shape)
            where = ", ".join(map(str, idx))
            raise InvalidInputError(f"Speck input events must be >= 0, got x[{where}] = {arr[idx]}")
        return torch.from_numpy(arr.astype(np.int64))

    def _forward(self, x: Any, headroom: bool) -> tuple[ChipRun, list[int]]:
        # One intra-op thread for the many small convs: with torch's default two on a busy two-core machine
        # they ran 15-25x slower (barrier waits; measured on 330 fuzz networks, 0.3 s vs 4.5 s). Restored
        # after.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._forward_1(x, headroom)
        finally:
            torch.set_num_threads(threads)

    def _forward_1(self, x: Any, headroom: bool) -> tuple[ChipRun, list[int]]:
        inp = self._check_input(x)
        T, B = inp.shape[:2]
        spikes, states, peaks = [], [], []
        for layer, (_, neurons, _) in zip(self.layers, self.shapes(), strict=True):
            flat = inp.reshape(T * B, *inp.shape[2:])
            w = torch.tensor(layer.weight)
            fan = int(w.abs().reshape(w.shape[0], -1).sum(1).max())
            xmax = int(flat.max()) if flat.numel() else 0
            bound = xmax * fan + 128 + 2**15
            if bound >= _FLOAT64_EXACT:
                raise ResourceLimitError(
                    f"layer {layer.name!r}: input counts up to {xmax} times a fan-in of Σ|w| = {fan} can "
                    f"reach {bound}, beyond the exact range 2**53 of this model")
            # Exact integer sums in floating point: float32 when every partial sum is below 2**24 (its exact
            # integer range; torch's float32 conv is ~10x faster than float64's), else float64 (below 2**53).
            dt = torch.float32 if bound < FLOAT32_EXACT else torch.float64
            b = None if layer.bias is None else torch.tensor(layer.bias).to(dt)
            cur = self._synapse(layer, flat.to(dt), w.to(dt), b)
            if headroom:
                drive = self._synapse(layer, flat.to(dt), w.abs().to(dt), None if b is None else b.abs())
                slack = max(layer.threshold - 1, -layer.min_v_mem)
                peaks.append(int(drive.max()) + slack if drive.numel() else slack)
            cur = cur.to(torch.int64).reshape(T, B, *neurons).numpy()
            s, v = iaf_multispike(cur, layer.threshold, layer.min_v_mem)
            shape_out = (T, B, neurons[0]) if layer.kind == "linear" else (T, B, *neurons)
            spikes.append(s.reshape(shape_out))
            states.append(v.reshape(shape_out))
            pooled = sum_pool(torch.from_numpy(s).reshape(T * B, *neurons), layer.pool)
            inp = pooled.reshape(T, B, *pooled.shape[1:])
        return ChipRun(spikes=tuple(spikes), states={"v": tuple(states)}), peaks

    @staticmethod
    def _synapse(layer: SpeckLayer, flat: torch.Tensor, w: torch.Tensor,
                 b: torch.Tensor | None) -> torch.Tensor:
        """Step 1 on integer-valued floats: exact, since every partial sum is an integer below the float
        type's exact range (checked by the caller)."""
        if layer.kind == "linear":
            out = flat.reshape(flat.shape[0], -1) @ w.T
            return out if b is None else out + b
        return F.conv2d(flat, w, b, stride=layer.stride, padding=layer.padding)

    def run(self, x: Any) -> ChipRun:
        """Simulate ``x`` (``[T, B, C, H, W]`` int event counts ≥ 0) with the chip's integer arithmetic."""
        return self._forward(x, headroom=False)[0]

    def float32_headroom(self, x: Any) -> tuple[int, ...]:
        """Per layer, the largest Σ|w|·x + |b| + max(θ − 1, −min_v_mem) over the run of ``x``: an upper bound
        on every partial sum and on |v + I|. sinabs' float32 forward equals ``run`` when all are below
        ``FLOAT32_EXACT``."""
        return tuple(self._forward(x, headroom=True)[1])

    def to_dict(self) -> dict[str, Any]:
        return {"chip": "speck", "input_shape": list(self.input_shape),
                "layers": [lyr.to_dict() for lyr in self.layers]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeckNetwork:
        if d.get("chip", "speck") != "speck":
            raise InvalidParameterError(f"not a Speck network record: chip = {d.get('chip')!r}")
        layers = tuple(SpeckLayer.from_dict(x) for x in d["layers"])
        return cls(input_shape=tuple(d["input_shape"]), layers=layers)
