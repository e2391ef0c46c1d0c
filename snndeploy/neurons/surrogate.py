"""Surrogate gradients for the Heaviside spike function Θ(z) = 1 if z ≥ 0 else 0.

The forward pass is always the exact step (fires at equality); the backward pass replaces Θ'(z) by the
derivative below. Each surrogate is a small frozen dataclass with one width/slope parameter ``alpha`` and an
analytic ``grad(z)``, which the hand-written BPTT backends and the Triton kernels use directly.

| class      | default α | Θ'(z) replaced by                                  | used by (reference code)  |
|------------|-----------|-----------------------------------------------------|---------------------------|
| Rectangle  | 1.0       | 1/α for abs(z) ≤ α/2, else 0                         | CLIF (Huang et al. 2024)  |
| Sigmoid    | 4.0       | α·σ(αz)·(1 − σ(αz))                                  | KLIF, ILIF, spikingjelly  |
| ATan       | 2.0       | (α/2) / (1 + (π/2·α·z)²)                             | spikingjelly's default    |
| Triangle   | 1.0       | max(0, 1 − abs(z)/α) / α                             | snntorch ``triangular``   |

Every surrogate integrates to 1 over z, so a surrogate of width α approximates the Dirac delta Θ'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ..errors import InvalidParameterError, UnknownNameError

__all__ = [
    "Surrogate",
    "Rectangle",
    "Sigmoid",
    "ATan",
    "Triangle",
    "heaviside",
    "get_surrogate",
    "SURROGATES",
]


def heaviside(z: Tensor) -> Tensor:
    """Θ(z): 1 where z ≥ 0 (fires at equality), else 0, in z's dtype."""
    return (z >= 0).to(z.dtype)


class _SpikeFunction(torch.autograd.Function):
    """Θ(z) forward, ``surrogate.grad(z)`` backward: one autograd.Function for every surrogate."""

    @staticmethod
    def forward(ctx, z: Tensor, surrogate: Surrogate) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(z)
        ctx.surrogate = surrogate
        return heaviside(z)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (z,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(z), None


@dataclass(frozen=True)
class Surrogate:
    """Base class: ``surrogate(z)`` returns Θ(z) with the surrogate gradient attached."""

    alpha: float = 1.0
    #: Integer id the Triton kernels switch on (a ``tl.constexpr``).
    kind_id: ClassVar[int] = -1

    def __post_init__(self) -> None:
        if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0):
            raise InvalidParameterError(
                f"{type(self).__name__}: alpha must be a finite number > 0, got {self.alpha!r}"
            )

    def __call__(self, z: Tensor) -> Tensor:
        return _SpikeFunction.apply(z, self)

    def grad(self, z: Tensor) -> Tensor:
        """The surrogate of Θ'(z), elementwise."""
        raise NotImplementedError

    def grad_(self, z: Tensor) -> Tensor:
        """In-place ``grad``: overwrites ``z`` (a floating tensor the caller owns) with ``grad(z)``, bit for
        bit,
        allocating at most one temporary (the BPTT backwards use it on their own scratch buffers)."""
        return z.copy_(self.grad(z))

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Rectangle(Surrogate):
    """Θ'(z) ≈ 1/α on abs(z) ≤ α/2 (CLIF's default, α = 1: grad 1 on [−0.5, 0.5])."""

    alpha: float = 1.0
    kind_id: ClassVar[int] = 0

    def grad(self, z: Tensor) -> Tensor:
        # = (abs(z) ≤ α/2).to(z.dtype) / α; a floating ``out`` avoids the slow bool tensor (4× on CPU).
        return torch.le(z.abs(), self.alpha / 2, out=torch.empty_like(z)).div_(self.alpha)

    def grad_(self, z: Tensor) -> Tensor:
        return z.abs_().le_(self.alpha / 2).div_(self.alpha)


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Θ'(z) ≈ α·σ(αz)(1 − σ(αz)) (spikingjelly ``surrogate.Sigmoid``; KLIF's and ILIF's default, α = 4)."""

    alpha: float = 4.0
    kind_id: ClassVar[int] = 1

    def grad(self, z: Tensor) -> Tensor:
        sg = torch.sigmoid(self.alpha * z)
        # α·(1 − σ)·σ in one fused pass (ATen's sigmoid_backward(grad=α, output=σ)) instead of three.
        return torch.ops.aten.sigmoid_backward(sg.new_tensor(self.alpha), sg)

    def grad_(self, z: Tensor) -> Tensor:
        sg = z.mul_(self.alpha).sigmoid_()
        return torch.ops.aten.sigmoid_backward.grad_input(sg.new_tensor(self.alpha), sg, grad_input=sg)


@dataclass(frozen=True)
class ATan(Surrogate):
    """Θ'(z) ≈ (α/2) / (1 + (π/2·α·z)²) (spikingjelly ``surrogate.ATan``, α = 2)."""

    alpha: float = 2.0
    kind_id: ClassVar[int] = 2

    def grad(self, z: Tensor) -> Tensor:
        # = (α/2) / (1 + (π/2·α·z)²); ``scalar / tensor`` is reciprocal(tensor)·scalar in torch.
        return (math.pi / 2 * self.alpha * z).square_().add_(1.0).reciprocal_().mul_(self.alpha / 2)

    def grad_(self, z: Tensor) -> Tensor:
        return z.mul_(math.pi / 2 * self.alpha).square_().add_(1.0).reciprocal_().mul_(self.alpha / 2)


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Θ'(z) ≈ max(0, 1 − abs(z)/α)/α (a triangle of half-width α and unit area)."""

    alpha: float = 1.0
    kind_id: ClassVar[int] = 3

    def grad(self, z: Tensor) -> Tensor:
        # = clamp(1 − abs(z)/α, min=0)/α with the same roundings, in place (−u + 1 equals 1 − u exactly).
        return (z.abs().div_(self.alpha)).neg_().add_(1.0).clamp_(min=0.0).div_(self.alpha)

    def grad_(self, z: Tensor) -> Tensor:
        return z.abs_().div_(self.alpha).neg_().add_(1.0).clamp_(min=0.0).div_(self.alpha)


SURROGATES: dict[str, type[Surrogate]] = {
    "rectangle": Rectangle,
    "sigmoid": Sigmoid,
    "atan": ATan,
    "triangle": Triangle,
}


def get_surrogate(spec: str | Surrogate | None, default: type[Surrogate]) -> Surrogate:
    """Resolve a surrogate given as an instance, a name (``"sigmoid"``, ``"sigmoid:2.0"``) or ``None``."""
    if spec is None:
        return default()
    if isinstance(spec, Surrogate):
        return spec
    if isinstance(spec, str):
        name, _, alpha = spec.partition(":")
        cls = SURROGATES.get(name.strip().lower())
        if cls is None:
            raise UnknownNameError(f"unknown surrogate {spec!r}; known: {', '.join(SURROGATES)}")
        if not alpha:
            return cls()
        try:
            return cls(alpha=float(alpha))
        except ValueError as exc:
            raise InvalidParameterError(f"surrogate {spec!r}: alpha must be a number") from exc
    raise InvalidParameterError(f"surrogate must be a Surrogate, a name or None, got {type(spec).__name__}")
