"""The neuron engine interface: every implementation of a neuron's time loop is a registered backend.

An engine registers, for each neuron it implements, one sequence function with the signature

    seq(x_seq, params, state=None) -> (spikes, final_state)

``x_seq`` is ``[T, B, *]`` (any floating dtype, computed in float32), ``params`` the neuron's frozen
``*Params`` record, ``state`` its ``*State`` NamedTuple of ``[B, *]`` float32 tensors (``None``: zeros);
``spikes`` has ``x_seq``'s shape and dtype, ``final_state`` is the same NamedTuple type. Every engine returns
the same spikes and states as the reference (tested with tolerance 0 for spikes) and gradients through all of
them.

Engines (``Backend``):

| backend  | what runs                                                    | devices | registered by     |
|----------|--------------------------------------------------------------|---------|-------------------|
| `torch`  | autograd through a loop of the step function (the reference) | any     | `<neuron>.py`     |
| `eager`  | the hand-written reverse-time BPTT in PyTorch ops (the spec) | any     | `eager_loops/`    |
| `numba`  | the same BPTT as fused CPU loops compiled with numba         | CPU     | `cpu_loops/`      |
| `triton` | the same BPTT as fused Triton kernels                        | CUDA    | `triton_kernels/` |

``auto`` resolves per device when a module runs: CUDA → ``triton`` when it is registered (Triton imports), CPU
→ ``numba`` when registered (numba imports), otherwise ``eager``. ``bptt`` is the deprecated name of the
hand-written BPTT: it resolves as before (CPU → ``numba`` when registered, else ``eager``) with a
``DeprecationWarning``. The optional engines (``numba``, ``triton``) are loaded in one place,
``snndeploy/neurons/engines.py``, which records why one is missing (``unavailable()``); ``snndeploy info``
shows what ``auto`` picks per device.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from enum import Enum
from typing import Any

import torch
from torch import Tensor

from ..errors import InvalidInputError, InvalidParameterError, UnknownNameError
from ..registry import Registry

__all__ = [
    "Backend",
    "SeqFn",
    "ENGINES",
    "register_impl",
    "get_impl",
    "resolve_backend",
    "available_backends",
    "mark_unavailable",
    "unavailable",
    "require_device",
    "deprecated_seq",
]

SeqFn = Callable[..., tuple[Tensor, Any]]


class Backend(str, Enum):
    """A neuron engine (see the module docstring): ``torch``, ``eager``, ``numba``, ``triton``, or ``auto``.

    ``BPTT`` (``"bptt"``) is the deprecated name of the hand-written BPTT engines (``numba`` on CPU when
    available, else ``eager``); parsing it warns.
    """

    TORCH = "torch"
    EAGER = "eager"
    NUMBA = "numba"
    TRITON = "triton"
    AUTO = "auto"
    BPTT = "bptt"

    @classmethod
    def parse(cls, value: str | Backend) -> Backend:
        """``value`` as a Backend; unknown names raise ``UnknownNameError``, ``"bptt"`` warns (deprecated)."""
        if isinstance(value, Backend):
            backend = value
        else:
            try:
                backend = cls(str(value).lower())
            except ValueError:
                known = ", ".join(b.value for b in cls if b is not Backend.BPTT)
                raise UnknownNameError(f"unknown backend {value!r}; known: {known}") from None
        if backend is Backend.BPTT:
            warnings.warn(
                "backend 'bptt' is deprecated: use 'auto' (or 'numba' / 'eager' explicitly); it runs "
                "'numba' on CPU tensors when numba is installed, else 'eager'",
                DeprecationWarning,
                stacklevel=3,
            )
        return backend


#: The engine table: (neuron name, concrete backend) → sequence function.
ENGINES: Registry[tuple[str, Backend], SeqFn] = Registry("neuron engine")

_CONCRETE = (Backend.TORCH, Backend.EAGER, Backend.NUMBA, Backend.TRITON)
_UNAVAILABLE: dict[Backend, str] = {}


def register_impl(neuron: str, backend: Backend | str) -> Callable[[SeqFn], SeqFn]:
    """Decorator: register ``fn`` as the ``backend`` engine of ``neuron`` (a concrete backend, once)."""
    backend = Backend(backend)
    if backend not in _CONCRETE:
        raise InvalidParameterError(
            f"cannot register an engine under {backend.value!r}: it resolves to another backend"
        )
    return ENGINES.register((neuron, backend))


def mark_unavailable(backend: Backend, reason: str) -> None:
    """Record why an optional engine is not registered (``engines.py`` calls this; shown by errors and
    ``info``)."""
    _UNAVAILABLE[backend] = reason


def unavailable() -> dict[Backend, str]:
    """Optional engines that are not loaded in this process, with the reason."""
    return dict(_UNAVAILABLE)


def available_backends(neuron: str) -> list[Backend]:
    """The concrete backends registered for ``neuron`` in this process, in the order torch, eager, numba,
    triton."""
    return [b for b in _CONCRETE if (neuron, b) in ENGINES]


def resolve_backend(neuron: str, backend: Backend | str, device: torch.device | str | None = None) -> Backend:
    """The concrete backend that ``backend`` means for ``neuron`` on ``device`` (``None``: the CPU).

    ``auto``: CUDA → ``triton`` if registered; CPU → ``numba`` if registered; otherwise ``eager`` (``torch``
    for a neuron without a hand-written BPTT engine).
    ``bptt`` (deprecated): CPU → ``numba`` if registered, otherwise ``eager`` (what it always ran).
    """
    backend = backend if isinstance(backend, Backend) else Backend.parse(backend)
    if backend not in (Backend.AUTO, Backend.BPTT):
        return backend
    device = torch.device(device) if device is not None else None
    if (
        backend is Backend.AUTO
        and device is not None
        and device.type == "cuda"
        and (neuron, Backend.TRITON) in ENGINES
    ):
        return Backend.TRITON
    return _bptt(neuron, device)


def get_impl(neuron: str, backend: Backend | str, device: torch.device | str | None = None) -> SeqFn:
    """The sequence function of ``neuron`` on ``backend`` (``auto``/``bptt`` resolved for ``device``)."""
    concrete = resolve_backend(neuron, backend, device)
    fn = ENGINES.find((neuron, concrete))
    if fn is None:
        have = ", ".join(b.value for b in available_backends(neuron)) or "none"
        why = f" ({_UNAVAILABLE[concrete]})" if concrete in _UNAVAILABLE else ""
        raise UnknownNameError(
            f"neuron {neuron!r} has no {concrete.value!r} backend here{why}; available: {have}"
        )
    return fn


def require_device(x: Tensor, backend: str, device_type: str) -> None:
    """Refuse a tensor an engine cannot run on, naming the way out."""
    if x.device.type != device_type:
        raise InvalidInputError(
            f"backend {backend!r} runs on {device_type} tensors; x_seq is on {x.device} "
            "(use backend='auto', or 'eager' on any device)"
        )


def deprecated_seq(neuron: str, old_name: str) -> SeqFn:
    """A deprecated public ``*_seq_bptt`` function: warns, then runs the ``bptt`` resolution for the input's
    device."""

    def seq(x_seq: Tensor, params: Any, state: Any = None) -> tuple[Tensor, Any]:
        warnings.warn(
            f"{old_name} is deprecated: use get_impl({neuron!r}, 'auto', x.device) or the {neuron}_seq_numba "
            f"/ {neuron}_seq_eager engines",
            DeprecationWarning,
            stacklevel=2,
        )
        device = x_seq.device if isinstance(x_seq, Tensor) else None
        return get_impl(neuron, _bptt(neuron, device))(x_seq, params, state)

    seq.__name__ = seq.__qualname__ = old_name
    doc = "Deprecated: the hand-written BPTT engine of {} for the input's device (numba on CPU, else eager)."
    seq.__doc__ = doc.format(neuron)
    return seq


def _bptt(neuron: str, device: torch.device | None) -> Backend:
    """The hand-written BPTT engine for ``device``: ``numba`` on the CPU when registered, else ``eager``."""
    kind = device.type if device is not None else "cpu"
    if kind == "cpu" and (neuron, Backend.NUMBA) in ENGINES:
        return Backend.NUMBA
    # a neuron with no hand-written BPTT (e.g. a chip-faithful neuron) runs its reference loop
    return Backend.EAGER if (neuron, Backend.EAGER) in ENGINES else Backend.TORCH
