"""What every neuron shares: parameter validation, input checks, the reference loop and the thin module.

Conventions (all neurons):
- Time-major tensors ``[T, B, *]``; spikes come back with the input's shape and dtype.
- Arithmetic is done in float32 whatever the input dtype (bf16/fp16 inputs are upcast), so every backend
  produces bit-identical spikes; states are float32.
- States start at 0 for every sequence in multi-step mode: no hidden state survives between calls.
- The engines (backends) and their table live in ``engine.py`` (re-exported here): every engine registers
  ``seq(x_seq, params, state=None) -> (spikes, final_state)`` per neuron; a module resolves ``auto`` per
  call's device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..errors import InvalidInputError, InvalidParameterError
from .engine import Backend, SeqFn, available_backends, get_impl, register_impl

__all__ = [
    "Backend",
    "SeqFn",
    "register_impl",
    "get_impl",
    "available_backends",
    "check_tau",
    "check_threshold",
    "check_finite_number",
    "check_input",
    "check_seq",
    "run_steps",
    "grad_needed",
    "SpikingModule",
    "is_neuron",
    "NeuronModule",
]

# --------------------------------------------------------------------------- validation


def check_finite_number(name: str, value: Any) -> float:
    """``value`` as a float, or an error naming ``name`` if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_tau(name: str, tau: Any) -> float:
    """τ must be > 1 so that the decay β = 1 − 1/τ lies in (0, 1)."""
    tau = check_finite_number(name, tau)
    if tau <= 1.0:
        raise InvalidParameterError(
            f"{name} must be > 1 (decay beta = 1 - 1/{name} = {1 - 1 / tau if tau else float('-inf'):.4g} "
            f"would be <= 0); got {tau}"
        )
    return tau


def check_threshold(name: str, value: Any) -> float:
    """Thresholds must be finite and > 0."""
    value = check_finite_number(name, value)
    if value <= 0:
        raise InvalidParameterError(f"{name} must be > 0, got {value}")
    return value


def check_input(x: Any, name: str = "x_seq", min_rank: int = 2, finite: bool = True) -> Tensor:
    """Validate a neuron input: a floating tensor of rank ≥ ``min_rank`` with only finite values.

    NaN or inf inputs are refused instead of silently never spiking (NaN ≥ θ is False).
    """
    if not isinstance(x, Tensor):
        raise InvalidInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InvalidInputError(
            f"{name} must be a floating tensor (float32/bf16/fp16/float64), got {x.dtype}"
        )
    if x.dim() < min_rank:
        layout = "[T, B, *]" if min_rank >= 2 else "[B, *]"
        raise InvalidInputError(f"{name} must have rank >= {min_rank} ({layout}), got shape {tuple(x.shape)}")
    if finite and x.numel() and not bool(torch.isfinite(x).all()):
        n_bad = int((~torch.isfinite(x)).sum())
        raise InvalidInputError(f"{name} has {n_bad} non-finite values (NaN/inf); neurons refuse them")
    return x


def check_seq(x_seq: Any, state: Any = None) -> None:
    """Cheap checks of the functional ``*_seq`` arguments (no pass over the data): ``x_seq`` a floating tensor
    ``[T, B, *]``, every state tensor shaped like one step ``[B, *]``. Finiteness is checked by the modules
    (``check_input``); the functional forms are the unchecked hot path for that.
    """
    if not isinstance(x_seq, Tensor):
        raise InvalidInputError(f"x_seq must be a torch.Tensor, got {type(x_seq).__name__}")
    if not x_seq.is_floating_point():
        raise InvalidInputError(
            f"x_seq must be a floating tensor (float32/bf16/fp16/float64), got {x_seq.dtype}"
        )
    if x_seq.dim() < 2 or x_seq.shape[0] < 1:
        raise InvalidInputError(
            f"x_seq must have rank >= 2 ([T, B, *]) and T >= 1, got shape {tuple(x_seq.shape)}"
        )
    if state is not None:
        for field, t in zip(state._fields, state, strict=True):
            if not isinstance(t, Tensor) or t.shape != x_seq.shape[1:]:
                got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise InvalidInputError(
                    f"state.{field} must have the shape of one step {tuple(x_seq.shape[1:])}, got {got}"
                )


def grad_needed(*tensors: Any) -> bool:
    """Whether autograd will want a backward through a Function applied to ``tensors`` now: grad mode is on
    and one of them requires grad. (Inside ``Function.forward`` grad mode is always off and
    ``ctx.needs_input_grad`` ignores
    ``torch.no_grad()``, so the BPTT Functions are told from outside whether to keep their saved tensors.)"""
    return torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


# --------------------------------------------------------------------------- shared loop


def run_steps(
    step: Callable[[Tensor, Any, Any], tuple[Tensor, Any]],
    x_seq: Tensor,
    params: Any,
    state: Any,
) -> tuple[Tensor, Any]:
    """Reference time loop: apply ``step`` to every ``x_seq[t]`` (float32), stack the spikes.

    Autograd records the whole loop; this is the readable reference every other backend must equal.
    The steps come from ``unbind`` (one backward op that stacks the T step gradients) rather than ``x32[t]``,
    whose T select-backwards each materialise a zero ``[T, B, *]`` gradient: O(T²) work, 66 % of the
    reference's forward + backward time at T = 32, B·F = 64k (profiled).
    """
    x32 = x_seq.float()
    spikes = []
    for x_t in x32.unbind(0):
        s, state = step(x_t, state, params)
        spikes.append(s)
    out = torch.stack(spikes) if spikes else x32.new_zeros(x32.shape)
    return out.to(x_seq.dtype), state


# --------------------------------------------------------------------------- module


class SpikingModule(nn.Module):
    """What makes a module a neuron layer, everywhere in snndeploy: ``forward(x_seq)`` maps ``[T, B, *]``
    inputs to binary spikes of the same shape, with its own state starting at zero in every call.

    Subclasses: every snndeploy neuron (``NeuronModule``) and the folded ``exporters.lifspec.FoldedLIF``. Use
    ``is_neuron(module)`` rather than a list of types.
    """


def is_neuron(module: nn.Module) -> bool:
    """True for a neuron layer (a ``SpikingModule``): the one definition the walkers, exporters, energy and
    hardware checks share."""
    return isinstance(module, SpikingModule)


class NeuronModule(SpikingModule):
    """Thin ``nn.Module`` over a neuron's functional form.

    Subclasses set ``neuron_name``, implement ``params()`` (the frozen parameter record), ``init_state(x)``
    and ``step`` (the reference single-step function).

    Input checks (``check_inputs``): ``True`` (default) checks rank and dtype everywhere and refuses NaN/inf
    on the CPU; ``"full"`` also refuses NaN/inf on CUDA (one device→host sync per layer per call); ``False``
    skips all.

    Modes:
    - ``step_mode="m"`` (default): ``forward(x_seq)`` takes ``[T, B, *]``, starts from zero state, returns
      spikes.
    - ``step_mode="s"``: ``forward(x_t)`` takes ``[B, *]`` and keeps the state between calls until
      ``reset_state()``; it always runs the reference step, and equals the multi-step spikes exactly.
    """

    neuron_name: str = ""

    def __init__(
        self, backend: str | Backend = Backend.AUTO, step_mode: str = "m", check_inputs: bool | str = True
    ):
        super().__init__()
        self.backend = Backend.parse(backend)
        if step_mode not in ("m", "s"):
            raise InvalidParameterError(
                f"step_mode must be 'm' (multi-step) or 's' (single-step), got {step_mode!r}"
            )
        self.step_mode = step_mode
        self.check_inputs = check_inputs
        self._state: Any = None

    # subclasses -------------------------------------------------------------
    def params(self) -> Any:
        raise NotImplementedError

    def init_state(self, x: Tensor) -> Any:
        raise NotImplementedError

    @staticmethod
    def step(x: Tensor, state: Any, params: Any) -> tuple[Tensor, Any]:
        raise NotImplementedError

    # shared -----------------------------------------------------------------
    def reset_state(self) -> None:
        """Forget the single-step state (the next ``forward`` starts from zeros)."""
        self._state = None

    @property
    def state(self) -> NamedTuple | None:
        """The single-step state (``None`` before the first step or after ``reset_state``)."""
        return self._state

    def forward(self, x: Tensor) -> Tensor:
        # Finiteness needs a device→host sync: on CUDA it would stall every layer of every training step, so
        # it runs
        # there only with check_inputs="full"; shape and dtype are always checked (no sync).
        finite = self.check_inputs == "full" or (bool(self.check_inputs) and not getattr(x, "is_cuda", False))
        if self.step_mode == "m":
            if self.check_inputs:
                check_input(x, "x_seq", min_rank=2, finite=finite)
            impl = get_impl(self.neuron_name, self.backend, x.device)
            spikes, _ = impl(x, self.params(), None)
            return spikes
        if self.check_inputs:
            check_input(x, "x_t", min_rank=1, finite=finite)
        if self._state is None:
            self._state = self.init_state(x)
        s, self._state = self.step(x.float(), self._state, self.params())
        return s.to(x.dtype)

    def extra_repr(self) -> str:
        p = self.params()
        fields = (
            {k: v for k, v in vars(p).items() if not isinstance(v, Tensor)} if hasattr(p, "__dict__") else {}
        )
        inner = ", ".join(f"{k}={v}" for k, v in fields.items())
        return f"{inner}, backend={self.backend.value}, step_mode={self.step_mode!r}"
