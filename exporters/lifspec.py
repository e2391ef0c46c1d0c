"""``LIFSpec``: the one description of a LIF-family neuron after folding, and the one Euler discretisation.

Every fold rule produces a ``LIFSpec``; the NIR and ONNX exporters, ``snndeploy.nirsim`` and the folded torch
model (``FoldedLIF``) consume it. Discrete-time equations, one step (Θ(z) = 1 if z ≥ 0, time in steps):

    H[t] = k · charge(V[t−1], X[t]; τ, decay_input, V_rest)      (``snndeploy.neurons.dynamics.charge``)
         = a·V[t−1] + b·X[t] + c,   a = k(1 − 1/τ),  b = k/τ (decay_input) or k,  c = k·V_rest/τ
    S[t] = Θ(H[t] − V_th)                                           (fires at ``≥``)
    V[t] = (1 − S)·H + S·V_reset      (reset "hard")
    V[t] = H − S·reset_amount         (reset "soft")

``k`` (``scale``) is 1 except for folded KLIF, whose scaled membrane F = k·H is the state. The operation order
is exactly the one of ``dynamics.charge`` / ``fire`` / ``hard_reset`` / ``soft_reset``, so a spec built from a
LIF module reproduces its spikes bit for bit.

Discretisation (``to_euler`` / ``from_euler``; NIR LIF/LI: τ_n·dv/dt = (v_leak − v) + r·I, forward Euler with
step dt: v ← v + dt/τ_n·(v_leak − v + r·I) = (1 − dt/τ_n)·v + dt/τ_n·v_leak + dt/τ_n·r·I). Matching
coefficients:

    a = 1 − dt/τ_n        →  τ_n    = dt / (1 − a)            (= τ·dt when k = 1)
    b = dt/τ_n · r        →  r      = b / (1 − a)             (= τ, or 1 with decay_input, when k = 1)
    c = dt/τ_n · v_leak   →  v_leak = c / (1 − a)             (= V_rest when k = 1)

The threshold: our neurons fire at H ≥ θ computed in float32 (``h − θ`` with θ cast to float32), NIR at v >
θ_n. For float32 v, ``v > nextafter(float32(θ), −inf)`` ⟺ ``v ≥ float32(θ)``, so ``nir_threshold`` exports
that value.

Per-neuron reset parameters: ``v_reset`` and ``reset_amount`` are a number (one value for the layer) or a
per-neuron array (float32, read-only) that broadcasts to the layer's neuron shape ``[*shape]`` (without T and
batch): e.g. ``[C, H, W]`` per neuron or ``[C, 1, 1]`` per channel. The equations hold elementwise (V = H − S
⊙ c); the arrays enter the float32 operations as float32 tensors, so a per-neuron value equal everywhere to a
scalar gives the scalar's spikes bit for bit. τ, θ, V_rest and k stay per layer. Readers that only handle
scalars check ``spec.per_neuron`` (the names of the per-neuron fields; empty for a scalar spec) and refuse or
approximate the others.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snndeploy.errors import ExportError
from snndeploy.neurons.base import SpikingModule
from snndeploy.neurons.dynamics import charge, fire, hard_reset, soft_reset
from snndeploy.neurons.surrogate import Sigmoid, Surrogate

__all__ = [
    "LIFSpec",
    "PER_NEURON_FIELDS",
    "format_value",
    "EulerParams",
    "to_euler",
    "from_euler",
    "nir_threshold",
    "spec_step",
    "spec_seq",
    "FoldedLIF",
    "FLOAT_CONVENTION",
]

#: Name of the float operation order of ``spec_step`` (recorded in every artifact's metadata).
FLOAT_CONVENTION = "snndeploy.charge/v1"

#: ``LIFSpec`` fields that may hold a per-neuron array (all others are one number per layer).
PER_NEURON_FIELDS = ("v_reset", "reset_amount")

ParamValue = float | np.ndarray


def _check_value(name: str, value: Any) -> ParamValue:
    """A finite number → float; for ``PER_NEURON_FIELDS`` also an array-like of finite numbers (ndim ≥ 1) →
    read-only float32 array."""
    if isinstance(value, bool):
        raise ExportError(f"LIFSpec.{name} must be a finite number, got {value!r}")
    if isinstance(value, (int, float, np.floating, np.integer)):
        if not math.isfinite(value):
            raise ExportError(f"LIFSpec.{name} must be a finite number, got {value!r}")
        return float(value)
    if name not in PER_NEURON_FIELDS:
        raise ExportError(f"LIFSpec.{name} must be a finite number, got {type(value).__name__}")
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.array(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ExportError(
            f"LIFSpec.{name} must be a finite number or a per-neuron array, got {type(value).__name__}"
        ) from None
    if arr.ndim == 0:
        raise ExportError(f"LIFSpec.{name}: a per-neuron array needs ndim ≥ 1 (pass a number for one value)")
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ExportError(
            f"LIFSpec.{name}: a per-neuron array must be non-empty and finite (shape {arr.shape})"
        )
    arr.setflags(write=False)
    return arr


def _plain(value: Any) -> Any:
    """JSON-ready form: arrays → nested lists of floats (float32 values are exact in JSON's float64)."""
    return value.astype(np.float64).tolist() if isinstance(value, np.ndarray) else value


def _frozen(value: Any) -> Any:
    return ("array", value.shape, value.tobytes()) if isinstance(value, np.ndarray) else value


def format_value(value: ParamValue, fmt: str = ".6g") -> str:
    """``value`` for messages: the number, or ``per-neuron [shape] min…max (mean m)`` for an array."""
    if isinstance(value, np.ndarray):
        return (
            f"per-neuron {list(value.shape)} {float(value.min()):{fmt}}…{float(value.max()):{fmt}} "
            f"(mean {float(value.mean()):{fmt}})"
        )
    return f"{value:{fmt}}"


@dataclass(frozen=True, eq=False)
class LIFSpec:
    """A LIF-family neuron in discrete time (see the module docstring for the equations).

    Args:
        tau: charge time constant τ in steps (> 1 when ``scale`` is 1).
        decay_input: input scaled by 1/τ inside ``charge``.
        v_rest: V_rest of ``charge`` (the leak target).
        v_threshold: fires when H ≥ v_threshold (float32 comparison).
        reset: ``"hard"`` (to ``v_reset``) or ``"soft"`` (subtract ``reset_amount``).
        v_reset: hard-reset value: a number, or a per-neuron array (module docstring).
        reset_amount: soft-reset subtraction per spike: a number, or a per-neuron array.
        scale: k, multiplies the charge (folded KLIF); 1 for LIF-like neurons.

    Equality and hashing compare per-neuron arrays by shape and value.
    """

    tau: float
    decay_input: bool
    v_rest: float
    v_threshold: float
    reset: str = "hard"
    v_reset: ParamValue = 0.0
    reset_amount: ParamValue = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("tau", "v_rest", "v_threshold", "v_reset", "reset_amount", "scale"):
            object.__setattr__(self, name, _check_value(name, getattr(self, name)))
        object.__setattr__(self, "_operands", {})
        if self.reset not in ("hard", "soft"):
            raise ExportError(f"LIFSpec.reset must be 'hard' or 'soft', got {self.reset!r}")
        if self.tau == 0:
            raise ExportError("LIFSpec.tau must be non-zero")
        if self.scale <= 0:
            raise ExportError(f"LIFSpec.scale (k) must be > 0, got {self.scale}")
        if not 0.0 < self.decay < 1.0:
            raise ExportError(
                f"LIFSpec decay a = k(1 − 1/τ) = {self.decay:.6g} must lie in (0, 1) for a leaky neuron "
                f"(τ={self.tau}, k={self.scale}); a = 1 is an IF neuron, a ≥ 1 is unstable"
            )

    def _key(self) -> tuple:
        return tuple(_frozen(getattr(self, f.name)) for f in fields(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LIFSpec):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # per-neuron parameters -------------------------------------------------------------------------
    @property
    def per_neuron(self) -> tuple[str, ...]:
        """Names of the fields holding a per-neuron array (``()`` for a spec with one value per field)."""
        return tuple(n for n in PER_NEURON_FIELDS if isinstance(getattr(self, n), np.ndarray))

    @property
    def subtracts_threshold(self) -> bool:
        """Soft reset subtracting exactly float32(θ) at every neuron (the reset of sinabs, rockpool, Xylo)."""
        return self.reset == "soft" and bool(
            np.all(np.float32(self.reset_amount) == np.float32(self.v_threshold))
        )

    def check_shape(self, shape: tuple[int, ...], layer: str) -> None:
        """Raise an ``ExportError`` naming ``layer`` when a per-neuron array does not broadcast to ``shape``
        (the neuron shape of one sample, without T and batch)."""
        for name in self.per_neuron:
            arr = getattr(self, name)
            ok = arr.ndim <= len(shape)
            if ok:
                try:
                    ok = np.broadcast_shapes(arr.shape, tuple(shape)) == tuple(shape)
                except ValueError:
                    ok = False
            if not ok:
                raise ExportError(
                    f"layer {layer}: per-neuron {name} of shape {list(arr.shape)} does not broadcast "
                    f"to the layer's neuron shape {list(shape)}"
                )

    def operand(self, name: str, like: Tensor) -> float | Tensor:
        """Field ``name`` as an operand of the float32 step on ``like``'s device: the float itself, or the
        per-neuron array as a float32 tensor (cached per device)."""
        value = getattr(self, name)
        if not isinstance(value, np.ndarray):
            return value
        cache = self._operands  # type: ignore[attr-defined]
        key = (name, like.device)
        if key not in cache:
            cache[key] = torch.tensor(value, dtype=torch.float32, device=like.device)
        return cache[key]

    # derived coefficients ------------------------------------------------------------------------
    @property
    def decay(self) -> float:
        """a = k·(1 − 1/τ): the factor on V[t−1]."""
        return self.scale * (1.0 - 1.0 / self.tau)

    @property
    def input_gain(self) -> float:
        """b = k/τ (decay_input) or k: the factor on X[t]."""
        return self.scale * (1.0 / self.tau if self.decay_input else 1.0)

    @property
    def leak(self) -> float:
        """c = k·V_rest/τ: the constant term."""
        return self.scale * self.v_rest / self.tau

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready fields (per-neuron arrays as nested lists; ``from_dict`` restores them)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LIFSpec:
        try:
            return cls(
                **{
                    k: d[k]
                    for k in (
                        "tau",
                        "decay_input",
                        "v_rest",
                        "v_threshold",
                        "reset",
                        "v_reset",
                        "reset_amount",
                        "scale",
                    )
                }
            )
        except KeyError as exc:
            raise ExportError(f"LIFSpec record is missing field {exc.args[0]!r}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class EulerParams:
    """Continuous-time NIR parameters of one neuron (LIF/LI): τ_n, r, v_leak (same units as dt)."""

    tau: float
    r: float
    v_leak: float


def to_euler(spec: LIFSpec, dt: float) -> EulerParams:
    """NIR (τ_n, r, v_leak) whose forward-Euler step with ``dt`` has the coefficients (a, b, c) of
    ``spec``."""
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ExportError(f"dt must be a finite number > 0, got {dt!r}")
    one_minus_a = 1.0 - spec.decay
    return EulerParams(tau=dt / one_minus_a, r=spec.input_gain / one_minus_a, v_leak=spec.leak / one_minus_a)


def from_euler(tau: np.ndarray | float, r: np.ndarray | float, v_leak: np.ndarray | float, dt: float):
    """Inverse of ``to_euler``: the discrete coefficients (a, b, c) = (1 − dt/τ_n, dt·r/τ_n, dt·v_leak/τ_n).

    Works elementwise on arrays (per-neuron parameters of foreign graphs).
    """
    tau = np.asarray(tau, dtype=np.float64)
    if np.any(tau <= 0):
        raise ExportError("NIR tau must be > 0")
    ratio = dt / tau
    return 1.0 - ratio, ratio * np.asarray(r, dtype=np.float64), ratio * np.asarray(v_leak, dtype=np.float64)


def nir_threshold(v_threshold: float) -> np.float32:
    """The NIR threshold (fires at ``>``) equivalent to our ``≥ float32(v_threshold)``: the next float32
    below."""
    return np.nextafter(np.float32(v_threshold), np.float32(-np.inf))


def spec_step(
    x: Tensor, v: Tensor, spec: LIFSpec, surrogate: Surrogate | None = None, detach_reset: bool = False
) -> tuple[Tensor, Tensor]:
    """One step of ``spec`` (module docstring). ``x``, ``v``: [B, *] float32. Returns (spikes, new V).

    ``detach_reset`` stops the gradient through the spike factor of the reset (values unchanged).
    """
    h = charge(v, x, spec.tau, spec.decay_input, spec.v_rest)
    if spec.scale != 1.0:
        h = spec.scale * h
    s = fire(h, spec.v_threshold, surrogate)
    s_r = s.detach() if detach_reset else s
    if spec.reset == "hard":
        return s, hard_reset(h, s_r, spec.operand("v_reset", h))
    return s, soft_reset(h, s_r, spec.operand("reset_amount", h))


def spec_seq(
    x_seq: Tensor,
    spec: LIFSpec,
    v0: Tensor | None = None,
    surrogate: Surrogate | None = None,
    detach_reset: bool = False,
) -> tuple[Tensor, Tensor]:
    """``spec_step`` over ``x_seq`` [T, B, *] (float32 arithmetic, zero initial state). Returns (spikes, final
    V)."""
    x32 = x_seq.float()
    v = v0 if v0 is not None else torch.zeros_like(x32[0])
    out = []
    for t in range(x32.shape[0]):
        s, v = spec_step(x32[t], v, spec, surrogate, detach_reset)
        out.append(s)
    spikes = torch.stack(out) if out else torch.zeros_like(x32)
    return spikes.to(x_seq.dtype), v


class FoldedLIF(SpikingModule):
    """The folded neuron layer: runs a ``LIFSpec``. ``forward(x_seq)``: [T, B, *] → spikes [T, B, *].

    Differentiable through ``surrogate`` (Sigmoid α = 4 by default) for fold-aware fine-tuning;
    ``detach_reset`` (default False) stops the gradient through the reset's spike factor. ``fold_info``
    carries the fold record (source neuron, rule, exactness) to the exporters. Per-neuron parameters must
    broadcast to the input's neuron shape ``x_seq.shape[2:]`` (checked, ``ExportError``).
    """

    def __init__(
        self,
        spec: LIFSpec,
        surrogate: Surrogate | None = None,
        fold_info: dict[str, Any] | None = None,
        detach_reset: bool = False,
    ):
        super().__init__()
        self.spec = spec
        self.surrogate = surrogate if surrogate is not None else Sigmoid()
        self.fold_info: dict[str, Any] = dict(fold_info or {})
        self.detach_reset = bool(detach_reset)

    def params(self) -> LIFSpec:
        return self.spec

    def forward(self, x_seq: Tensor) -> Tensor:
        if x_seq.dim() < 2:
            raise ExportError(f"FoldedLIF: input must be [T, B, *], got shape {tuple(x_seq.shape)}")
        if self.spec.per_neuron:
            self.spec.check_shape(tuple(x_seq.shape[2:]), str(self.fold_info.get("layer", "FoldedLIF")))
        surrogate = self.surrogate if torch.is_grad_enabled() and x_seq.requires_grad else None
        spikes, _ = spec_seq(x_seq, self.spec, surrogate=surrogate, detach_reset=self.detach_reset)
        return spikes

    def extra_repr(self) -> str:
        s = self.spec
        reset = (
            f"v_reset={format_value(s.v_reset)}"
            if s.reset == "hard"
            else f"reset_amount={format_value(s.reset_amount)}"
        )
        k = f", k={s.scale}" if s.scale != 1.0 else ""
        return (
            f"tau={s.tau}, decay_input={s.decay_input}, v_threshold={s.v_threshold}, {s.reset} reset, "
            f"{reset}{k}"
        )


def __getattr__(name: str) -> Any:
    """``SpecLIF``: the old name of ``FoldedLIF`` (confusable with the record ``LIFSpec``), deprecated."""
    if name == "SpecLIF":
        import warnings

        warnings.warn(
            "exporters.lifspec.SpecLIF is now FoldedLIF (the module that runs a LIFSpec); the old name "
            "will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return FoldedLIF
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
