"""Fold-aware fine-tuning: a few epochs of the folded network, from the source weights, distilling the source.

Loss per batch (x: [T, B, *] time-major; logits averaged over T):
    L = MSE(mean_t folded(x), mean_t source(x)) + ce_weight · CE(mean_t folded(x), y)
Only the weight layers (Linear/Conv2d) train; the folded neurons (``SpecLIF``) keep their spec and pass gradients
through their surrogate; the student runs in eval mode (no dropout), the source model is frozen (eval, no grad). After every epoch the distillation error
(MSE of the time-mean logits) is measured on the evaluation inputs, and the best state, epoch 0 included, is kept:
fine-tuning never returns a model that matches the source worse than the fold it started from.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snndeploy.errors import ExportError

from .calibration import layer_agreement, output_agreement

__all__ = ["FinetuneResult", "finetune"]


@dataclass
class FinetuneResult:
    """The fine-tuned model and measurements before/after (on the inputs given as ``eval_inputs``)."""

    model: nn.Module
    history: list[float] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "before": dict(self.before), "after": dict(self.after)}


def _summary(source: nn.Module, model: nn.Module, x: Tensor, y: Tensor | None) -> dict[str, Any]:
    agree = layer_agreement(source, model, x)
    out = output_agreement(source, model, x, y)
    out["mean_spike_agreement"] = sum(agree.values()) / max(len(agree), 1)
    out["spike_agreement"] = agree
    return out


def finetune(
    folded: nn.Module,
    source: nn.Module,
    inputs: Tensor,
    labels: Tensor | None = None,
    *,
    epochs: int = 2,
    batch_size: int = 64,
    lr: float = 1e-3,
    ce_weight: float = 0.0,
    eval_inputs: Tensor | None = None,
    eval_labels: Tensor | None = None,
    seed: int = 0,
) -> FinetuneResult:
    """Fine-tune a copy of ``folded`` to match ``source`` (see module docstring).

    Args:
        folded: the folded model (``exporters.fold.fold``); not modified.
        source: the source model (teacher); not modified.
        inputs: training inputs ``[T, N, *input_shape]``.
        labels: optional ``[N]`` class labels for the CE term.
        epochs, batch_size, lr: Adam schedule.
        ce_weight: weight of the cross-entropy term (0: pure distillation).
        eval_inputs, eval_labels: where to measure agreement/accuracy before and after (default: ``inputs``).
        seed: shuffling seed.

    Returns:
        ``FinetuneResult`` with the new model (eval mode), the loss per epoch and before/after measurements.
    """
    _check_args(inputs, labels, epochs, batch_size, lr)
    ex = eval_inputs if eval_inputs is not None else inputs
    ey = eval_labels if eval_inputs is not None else labels
    source_was_training = source.training
    source.eval()
    model = copy.deepcopy(folded).eval()
    result = FinetuneResult(model)
    with torch.no_grad():
        result.before = _summary(source, model, ex, ey)
        teacher = torch.cat([source(inputs[:, i:i + batch_size]).mean(0) for i in range(0, inputs.shape[1], batch_size)])
        eval_teacher = source(ex).mean(0)

    def eval_error() -> float:
        with torch.no_grad():
            return float(F.mse_loss(model(ex).mean(0), eval_teacher))

    best_err, best_state = eval_error(), copy.deepcopy(model.state_dict())
    opt = torch.optim.Adam(_weights_only_trainable(model), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.eval()  # dropout off: the student must match the deterministic teacher
    for _ in range(epochs):
        order = torch.randperm(inputs.shape[1], generator=gen)
        result.history.append(_fit_epoch(model, opt, inputs, labels, teacher, order, batch_size, ce_weight))
        err = eval_error()
        if err < best_err:
            best_err, best_state = err, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        result.after = _summary(source, model, ex, ey)
    source.train(source_was_training)
    return result


def _check_args(inputs: Tensor, labels: Tensor | None, epochs: int, batch_size: int, lr: float) -> None:
    if not isinstance(inputs, Tensor) or inputs.dim() < 3:
        raise ExportError(f"finetune inputs must be [T, N, *input_shape], got {getattr(inputs, 'shape', inputs)}")
    if labels is not None and labels.shape[0] != inputs.shape[1]:
        raise ExportError(f"finetune labels have {labels.shape[0]} entries for {inputs.shape[1]} inputs")
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise ExportError(f"finetune needs epochs >= 0, batch_size >= 1, lr > 0 (got {epochs}, {batch_size}, {lr})")


def _weights_only_trainable(model: nn.Module) -> list[nn.Parameter]:
    """Freeze everything but the Linear/Conv2d parameters (the neurons' folded parameters stay as folded)."""
    params = [p for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)) for p in m.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    return params


def _fit_epoch(model: nn.Module, opt: torch.optim.Optimizer, inputs: Tensor, labels: Tensor | None,
               teacher: Tensor, order: Tensor, batch_size: int, ce_weight: float) -> float:
    """One pass over ``inputs`` in ``order``: MSE to the teacher's mean logits (+ ``ce_weight`` · CE); mean loss."""
    total, n = 0.0, 0
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        logits = model(inputs[:, idx]).mean(0)
        loss = F.mse_loss(logits, teacher[idx])
        if ce_weight and labels is not None:
            loss = loss + ce_weight * F.cross_entropy(logits, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
        n += len(idx)
    return total / max(n, 1)
