"""Training losses on time-major logits ``[T, B, C]`` (a classifier output every step).

- ``tet``: the CLIF/ILIF repos' per-step loss (TET, Deng et al. 2022; CLIF ``train.py``):
      L = (1 − λ)·(1/T)·Σ_t CE(o_t, y) + λ·MSE(o, φ),   λ = 0.05,
  with φ a constant ``means`` = 1.0 everywhere (the repos' default regulariser on the logits' magnitude).
- ``tet_onehot``: the same with φ = one_hot(y) (CLIF ``-mse_n_reg``: the MSE term as a second objective).
- ``ce``: plain cross-entropy on the mean logits, CE((1/T)·Σ_t o_t, y).
The prediction is always argmax of the mean logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from ..errors import InvalidInputError, InvalidParameterError, UnknownNameError

__all__ = ["LOSSES", "get_loss", "tet_loss", "ce_mean_loss"]


def _check(logits: Tensor, target: Tensor) -> None:
    if logits.dim() != 3 or target.dim() != 1 or logits.shape[1] != target.shape[0]:
        raise InvalidInputError(
            f"loss needs logits [T, B, C] and labels [B], got {tuple(logits.shape)} and {tuple(target.shape)}"
        )


def tet_loss(logits: Tensor, target: Tensor, lam: float = 0.05, means: float | None = 1.0) -> Tensor:
    """(1 − λ)·mean_t CE(o_t, y) + λ·MSE(o, φ); φ = ``means`` everywhere, or one_hot(y) when ``means`` is
    None."""
    _check(logits, target)
    if not 0.0 <= lam <= 1.0:
        raise InvalidParameterError(f"loss lambda must lie in [0, 1], got {lam}")
    T, B, C = logits.shape
    logits = logits.float()
    ce = F.cross_entropy(logits.reshape(T * B, C), target.repeat(T))  # = mean over t of the per-step CE
    if lam == 0.0:
        return ce
    if means is None:
        phi = F.one_hot(target, C).to(logits.dtype).expand(T, B, C)
    else:
        phi = logits.new_full(logits.shape, float(means))
    return (1.0 - lam) * ce + lam * F.mse_loss(logits, phi)


def ce_mean_loss(logits: Tensor, target: Tensor, lam: float = 0.0, means: float | None = None) -> Tensor:
    """Cross-entropy of the mean logits over T (``lam``/``means`` are ignored)."""
    _check(logits, target)
    return F.cross_entropy(logits.float().mean(0), target)


LossFn = Callable[[Tensor, Tensor, float], Tensor]

LOSSES: dict[str, LossFn] = {
    "tet": lambda o, y, lam: tet_loss(o, y, lam, means=1.0),
    "tet_onehot": lambda o, y, lam: tet_loss(o, y, lam, means=None),
    "ce": lambda o, y, lam: ce_mean_loss(o, y),
}


def get_loss(name: str) -> LossFn:
    """``LOSSES[name]`` or an error listing the known losses."""
    fn = LOSSES.get(str(name).lower())
    if fn is None:
        raise UnknownNameError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    return fn
