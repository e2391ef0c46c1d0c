"""nirsim node executors, one per NIR node type (a registry keyed by type), all float32 torch, batched.

Every executor has ``seq(x [T, B, *]) -> y [T, B, *]`` (a whole sequence; stateless nodes merge T into the
batch exactly as ``TimeDistributed`` does, so results equal the torch model bit for bit) and ``step(x [B,
*], state)``.

Generic NIR neuron semantics (foreign graphs), forward Euler with the graph's dt, float32, this operation
order:
    LIF:     v ← v + (dt/τ)·((v_leak − v) + r·I);  z = v > θ;  v ← v_reset where z
    LI:      v ← v + (dt/τ)·((v_leak − v) + r·I);  output v
    IF:      v ← v + dt·r·I;  z = v > θ;  v ← v_reset where z          I: v ← v + dt·r·I
    CubaLIF: i ← i + (dt/τ_syn)·(w_in·S − i);  then LIF on i (τ_mem)   CubaLI: the same without firing
    Threshold: z = x > θ;  Scale: x·s;  Affine/Linear/Conv/pools/Flatten: the torch functional ops.
Graphs snndeploy wrote (``float_convention`` = ``snndeploy.charge/v1``) run their neurons with
``exporters.lifspec.spec_step``'s operation order instead (see ``sim.py``), which is what makes them exact.

An ``IF`` or ``CubaLIF`` node carrying snndeploy's neuron record (``metadata["snndeploy"]`` with role ``iaf``
/ ``cubalif``, written by ``exporters.nir`` for ``snndeploy.neurons.IAF`` / ``CubaLIF``) runs that neuron's
own step (``iaf_step`` / ``cubalif_step``: spike counts, subtractive or zero reset, the floor, the chip's
order and integer rounding), after checking that the node's NIR parameters are the ones the exporter derives
from the record (else an error naming the node). NIR's own IF/CubaLIF cannot express these (the generic forms
above reset to v_reset and fire once per step), so the record wins whatever the graph's float convention;
without a record the generic form runs. Where the two differ for a given layer is written in the contract
(``nir_semantics``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from exporters.lifspec import nir_threshold
from exporters.nir import cubalif_euler

from ..errors import ExportError, SnnDeployError
from ..neurons.cubalif import CubaLIFParams, CubaLIFState, cubalif_step
from ..neurons.iaf import IAFParams, IAFState, iaf_step
from ..registry import Registry

__all__ = ["Executor", "Stateless", "EXECUTORS", "register_executor", "make_executor"]


def _t(a: Any) -> Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


class Executor:
    """Base: a stateful node runs its ``step`` over time; ``seq`` does that loop."""

    stateful = True

    def to(self, device: torch.device) -> None:
        """Move every tensor attribute (parameters captured by closures move via ``Stateless.to``)."""
        for k, v in vars(self).items():
            if isinstance(v, Tensor):
                setattr(self, k, v.to(device))

    def init_state(self, x: Tensor) -> Any:
        return torch.zeros_like(x)

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        raise NotImplementedError

    def seq(self, x: Tensor) -> Tensor:
        state = self.init_state(x[0])
        out = []
        for t in range(x.shape[0]):
            y, state = self.step(x[t], state)
            out.append(y)
        return torch.stack(out)


class Stateless(Executor):
    """A per-step function applied to [T·B, *] at once."""

    stateful = False

    def __init__(self, fn: Callable[[Tensor], Tensor], *tensors: Tensor):
        self.fn = fn
        self.tensors = list(tensors)  # the closure's tensors, moved in place by ``to``

    def to(self, device: torch.device) -> None:
        for t in self.tensors:
            t.data = t.data.to(device)

    def init_state(self, x: Tensor) -> None:
        return None

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        return self.fn(x), None

    def seq(self, x: Tensor) -> Tensor:
        T, B = x.shape[:2]
        y = self.fn(x.flatten(0, 1))
        return y.reshape(T, B, *y.shape[1:])


Factory = Callable[[nir.NIRNode, str, float], Executor]
EXECUTORS: Registry[type, Factory] = Registry("nirsim executor", ExportError)


def register_executor(cls: type) -> Callable[[Factory], Factory]:
    """Decorator: the executor factory for NIR node type ``cls`` (double registration is an error)."""
    return EXECUTORS.register(cls)


def make_executor(node: nir.NIRNode, name: str, dt: float) -> Executor:
    return EXECUTORS.for_instance(node, f"node {name!r}")(node, name, dt)


@register_executor(nir.Input)
@register_executor(nir.Output)
def _identity(node, name, dt):
    return Stateless(lambda x: x)


@register_executor(nir.Affine)
def _affine(node, name, dt):
    w, b = _t(node.weight), _t(node.bias)
    return Stateless(lambda x: F.linear(x, w, b), w, b)


@register_executor(nir.Linear)
def _linear(node, name, dt):
    w = _t(node.weight)
    return Stateless(lambda x: F.linear(x, w), w)


@register_executor(nir.Scale)
def _scale(node, name, dt):
    s = _t(node.scale)
    return Stateless(lambda x: x * s, s)


def _ints(v: Any, n: int) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(v)).astype(int).tolist()
    return tuple(arr * n if len(arr) == 1 else arr)


def _padding(v: Any, n: int) -> Any:
    if isinstance(v, (str, bytes)):
        return v.decode() if isinstance(v, bytes) else v
    return _ints(v, n)


@register_executor(nir.Conv2d)
def _conv2d(node, name, dt):
    w, b = _t(node.weight), _t(node.bias)
    has_bias = int(np.asarray((node.metadata or {}).get("has_bias", 1)))
    stride, pad, dil = _ints(node.stride, 2), _padding(node.padding, 2), _ints(node.dilation, 2)
    groups = int(np.asarray(node.groups))
    return Stateless(lambda x: F.conv2d(x, w, b if has_bias else None, stride, pad, dil, groups), w, b)


@register_executor(nir.Conv1d)
def _conv1d(node, name, dt):
    w, b = _t(node.weight), _t(node.bias)
    stride, pad, dil = _ints(node.stride, 1), _padding(node.padding, 1), _ints(node.dilation, 1)
    groups = int(np.asarray(node.groups))
    return Stateless(lambda x: F.conv1d(x, w, b, stride, pad, dil, groups), w, b)


@register_executor(nir.AvgPool2d)
def _avgpool(node, name, dt):
    k, s, p = _ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2)
    return Stateless(lambda x: F.avg_pool2d(x, k, s, p))


@register_executor(nir.SumPool2d)
def _sumpool(node, name, dt):
    k, s, p = _ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2)
    return Stateless(lambda x: F.avg_pool2d(x, k, s, p, divisor_override=1))


@register_executor(nir.Flatten)
def _flatten(node, name, dt):
    start = int(np.asarray(node.start_dim))
    end = int(np.asarray(node.end_dim))
    # NIR dimensions exclude the batch axis: shift non-negative ones by one, negative ones count from the end
    return Stateless(lambda x: x.flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end))


@register_executor(nir.Threshold)
def _threshold(node, name, dt):
    thr = _t(node.threshold)
    return Stateless(lambda x: (x > thr).to(torch.float32), thr)


class _Leaky(Executor):
    """LI / LIF (``fire``) / IF / I with the generic Euler semantics of the module docstring."""

    def __init__(self, node: nir.NIRNode, dt: float, fire: bool, leaky: bool):
        self.r = _t(node.r)
        self.fire, self.leaky = fire, leaky
        if leaky:
            self.alpha = _t(dt / np.asarray(node.tau, dtype=np.float64))
            self.v_leak = _t(node.v_leak)
        else:
            self.dt = float(dt)
        if fire:
            self.thr = _t(node.v_threshold)
            self.v_reset = _t(node.v_reset if node.v_reset is not None else np.zeros_like(node.v_threshold))

    def step(self, x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        if self.leaky:
            v = v + self.alpha * ((self.v_leak - v) + self.r * x)
        else:
            v = v + self.dt * (self.r * x)
        if not self.fire:
            return v, v
        z = v > self.thr
        return z.to(torch.float32), torch.where(z, self.v_reset.expand_as(v), v)


@register_executor(nir.LIF)
def _lif(node, name, dt):
    return _Leaky(node, dt, fire=True, leaky=True)


@register_executor(nir.LI)
def _li(node, name, dt):
    return _Leaky(node, dt, fire=False, leaky=True)


def _record(node: nir.NIRNode, name: str, role: str) -> dict[str, Any] | None:
    """The ``snndeploy`` neuron record of ``node`` when its role is ``role``, else None."""
    raw = (node.metadata or {}).get("snndeploy")
    if raw is None:
        return None
    try:
        rec = json.loads(raw.decode() if isinstance(raw, (bytes, np.bytes_)) else str(raw))
    except ValueError as exc:
        raise ExportError(f"node {name!r}: metadata field 'snndeploy' is not valid JSON: {exc}") from None
    if not isinstance(rec, dict) or rec.get("role") != role:
        return None
    if not isinstance(rec.get("params"), dict):
        raise ExportError(f"node {name!r}: the snndeploy {role} record has no 'params' object")
    return rec


_F32_TINY = float(np.finfo(np.float32).tiny)  # below this, a float32 NIR parameter is 0 or denormal


def _same(name: str, what: str, got: Any, expected: float) -> None:
    """``got`` (a NIR parameter, usually float32) equals the record's ``expected`` to float32 precision;
    values below float32's normal range (a bias of 1e-103 is stored as 0) count as equal."""
    g = np.asarray(got, dtype=np.float64)
    if g.size == 0 or not np.allclose(g, expected, rtol=1e-6, atol=_F32_TINY):
        raise ExportError(f"node {name!r}: NIR {what} = {g.ravel()[:3]} disagrees with its snndeploy record "
                          f"(expected {expected:g}); the graph was edited after export")


class _NeuronStep(Executor):
    """A neuron snndeploy exported: its own reference step on float32, no gradient."""

    def __init__(self, step: Any, params: Any, state_type: Any):
        self.step_fn, self.params, self.state_type = step, params, state_type

    def init_state(self, x: Tensor) -> Any:
        return self.state_type(*(torch.zeros_like(x) for _ in self.state_type._fields))

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        with torch.no_grad():
            return self.step_fn(x, state, self.params)


def _params(cls: type, rec: dict[str, Any], name: str) -> Any:
    try:
        return cls(**rec["params"])
    except (TypeError, SnnDeployError) as exc:
        raise ExportError(f"node {name!r}: the snndeploy record's params are invalid: {exc}") from None


@register_executor(nir.IF)
def _if(node, name, dt):
    rec = _record(node, name, "iaf")
    if rec is None:
        return _Leaky(node, dt, fire=True, leaky=False)
    p = _params(IAFParams, rec, name)
    _same(name, "r·dt", np.asarray(node.r, dtype=np.float64) * dt, 1.0)
    _same(name, "v_threshold", node.v_threshold, float(nir_threshold(p.v_threshold)))
    return _NeuronStep(iaf_step, p, IAFState)


@register_executor(nir.I)
def _i(node, name, dt):
    return _Leaky(node, dt, fire=False, leaky=False)


class _Cuba(Executor):
    def __init__(self, node: nir.NIRNode, dt: float, fire: bool):
        self.a_syn = _t(dt / np.asarray(node.tau_syn, dtype=np.float64))
        self.a_mem = _t(dt / np.asarray(node.tau_mem, dtype=np.float64))
        self.r, self.v_leak, self.w_in = _t(node.r), _t(node.v_leak), _t(node.w_in)
        self.fire = fire
        if fire:
            self.thr = _t(node.v_threshold)
            self.v_reset = _t(node.v_reset)

    def init_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.zeros_like(x), torch.zeros_like(x)

    def step(self, x: Tensor, state: tuple[Tensor, Tensor]):
        i, v = state
        i = i + self.a_syn * (self.w_in * x - i)
        v = v + self.a_mem * ((self.v_leak - v) + self.r * i)
        if not self.fire:
            return v, (i, v)
        z = v > self.thr
        return z.to(torch.float32), (i, torch.where(z, self.v_reset.expand_as(v), v))


@register_executor(nir.CubaLIF)
def _cubalif(node, name, dt):
    rec = _record(node, name, "cubalif")
    if rec is None:
        return _Cuba(node, dt, fire=True)
    p = _params(CubaLIFParams, rec, name)
    for what, value in cubalif_euler(p, dt, name).items():
        _same(name, what, getattr(node, what), value)
    return _NeuronStep(cubalif_step, p, CubaLIFState)


@register_executor(nir.CubaLI)
def _cubali(node, name, dt):
    return _Cuba(node, dt, fire=False)
