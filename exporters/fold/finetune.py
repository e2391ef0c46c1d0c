"""Fold-aware fine-tuning: a few epochs of the folded network, from the source weights, distilling the source.

Loss per batch (x: [T, B, *] time-major; logits averaged over T; S^ℓ the spikes [T, B, *] of neuron layer ℓ):

    L = logit_weight · MSE(mean_t folded(x), mean_t source(x))
      + spike_weight · (1/L) Σ_ℓ MSE(S^ℓ_folded(x), S^ℓ_source(x))
      + ce_weight · CE(mean_t folded(x), y)

The spike term is the spike-level distillation: its gradient reaches the weights through each ``FoldedLIF``'s
surrogate (∂S/∂H = surrogate'(H − θ)), through time via the membrane and, unless ``detach_reset``, through the
reset's spike factor. Only the weight layers (Linear/Conv2d) train; the folded neurons keep their spec; the
student runs in eval mode (no dropout), the source model is frozen (eval, no grad).

After every epoch the selection criterion is measured on the evaluation inputs and the best state, epoch 0
included,
is kept, so fine-tuning never returns a model that is worse than the fold it started from by that criterion:
``select="logits"`` is the distillation error (MSE of the time-mean logits), ``select="spikes"`` the spike
disagreement over all neuron layers (1 − ``calibration.total_agreement``, what ``verify`` judges).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snndeploy.errors import ExportError
from snndeploy.models.tree import get_module, neuron_paths

from ..lifspec import FoldedLIF
from .calibration import capture, layer_agreement, output_agreement, total_agreement

__all__ = ["FinetuneResult", "finetune", "SELECT"]

#: Selection criteria of the best epoch (module docstring).
SELECT = ("logits", "spikes")


@dataclass
class FinetuneResult:
    """The fine-tuned model and measurements before/after (on the inputs given as ``eval_inputs``)."""

    model: nn.Module
    history: list[float] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    selection: list[float] = field(default_factory=list)
    best_epoch: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "history": list(self.history),
            "before": dict(self.before),
            "after": dict(self.after),
            "selection": list(self.selection),
            "best_epoch": self.best_epoch,
        }


def _summary(source: nn.Module, model: nn.Module, x: Tensor, y: Tensor | None) -> dict[str, Any]:
    agree = layer_agreement(source, model, x)
    out = output_agreement(source, model, x, y)
    out["mean_spike_agreement"] = sum(agree.values()) / max(len(agree), 1)
    out["total_spike_agreement"] = total_agreement(source, model, x)
    out["spike_agreement"] = agree
    return out


@dataclass(frozen=True)
class _Weights:
    logits: float
    spikes: float
    ce: float


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
    logit_weight: float = 1.0,
    spike_weight: float = 0.0,
    detach_reset: bool = False,
    select: str = "logits",
    keep_best: bool = True,
    eval_inputs: Tensor | None = None,
    eval_labels: Tensor | None = None,
    seed: int = 0,
) -> FinetuneResult:
    """Fine-tune a copy of ``folded`` to match ``source`` (see module docstring).

    Args:
        folded: the folded model (``exporters.fold.fold``); not modified.
        source: the source model (teacher); not modified. Its neuron layers must sit at the same paths as the
            folded model's (true for any ``fold`` result) when ``spike_weight`` > 0 or ``select="spikes"``.
        inputs: training inputs ``[T, N, *input_shape]``.
        labels: optional ``[N]`` class labels for the CE term.
        epochs, batch_size, lr: Adam schedule.
        ce_weight, logit_weight, spike_weight: weights of the loss terms (module docstring).
        detach_reset: stop the gradient through the reset's spike factor in every ``FoldedLIF`` while
            training.
        select: ``"logits"`` or ``"spikes"``: which error picks the best epoch.
        keep_best: return the best epoch by ``select`` (epoch 0 included); False returns the last epoch (to
            measure what training alone does; ``selection`` is recorded either way).
        eval_inputs, eval_labels: where to measure the selection criterion and agreement/accuracy before and
        after
            (default: ``inputs``).
        seed: shuffling seed.

    Returns:
        ``FinetuneResult`` with the new model (eval mode), the training loss per epoch, the selection error
        per epoch (epoch 0 first), the kept epoch and before/after measurements.
    """
    _check_args(inputs, labels, epochs, batch_size, lr)
    weights = _check_weights(ce_weight, logit_weight, spike_weight, select)
    ex = eval_inputs if eval_inputs is not None else inputs
    ey = eval_labels if eval_inputs is not None else labels
    source_was_training = source.training
    source.eval()
    model = copy.deepcopy(folded).eval()
    paths = [p for p, _ in neuron_paths(model)]
    if weights.spikes or select == "spikes":
        _check_paths(source, model, paths)
    result = FinetuneResult(model)
    with torch.no_grad():
        result.before = _summary(source, model, ex, ey)
        eval_teacher = source(ex).mean(0)

    def eval_error() -> float:
        with torch.no_grad():
            if select == "spikes":
                return 1.0 - total_agreement(source, model, ex)
            return float(F.mse_loss(model(ex).mean(0), eval_teacher))

    best_err, best_state = eval_error(), copy.deepcopy(model.state_dict())
    result.selection.append(best_err)
    opt = torch.optim.Adam(_weights_only_trainable(model), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.eval()  # dropout off: the student must match the deterministic teacher
    neurons = [m for m in model.modules() if isinstance(m, FoldedLIF)]
    for m in neurons:
        m.detach_reset = detach_reset
    try:
        for epoch in range(epochs):
            order = torch.randperm(inputs.shape[1], generator=gen)
            result.history.append(
                _fit_epoch(model, source, paths, opt, inputs, labels, order, batch_size, weights)
            )
            err = eval_error()
            result.selection.append(err)
            if err < best_err or not keep_best:
                best_err, best_state, result.best_epoch = err, copy.deepcopy(model.state_dict()), epoch + 1
    finally:
        for m in neurons:
            m.detach_reset = False
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
        raise ExportError(
            f"finetune inputs must be [T, N, *input_shape], got {getattr(inputs, 'shape', inputs)}"
        )
    if labels is not None and labels.shape[0] != inputs.shape[1]:
        raise ExportError(f"finetune labels have {labels.shape[0]} entries for {inputs.shape[1]} inputs")
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise ExportError(
            f"finetune needs epochs >= 0, batch_size >= 1, lr > 0 (got {epochs}, {batch_size}, {lr})"
        )


def _check_weights(ce: float, logits: float, spikes: float, select: str) -> _Weights:
    for name, w in (("ce_weight", ce), ("logit_weight", logits), ("spike_weight", spikes)):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
            raise ExportError(f"finetune {name} must be a number >= 0, got {w!r}")
    if not (ce or logits or spikes):
        raise ExportError("finetune needs a loss: ce_weight, logit_weight and spike_weight are all 0")
    if select not in SELECT:
        raise ExportError(f"finetune select must be one of {SELECT}, got {select!r}")
    return _Weights(float(logits), float(spikes), float(ce))


def _check_paths(source: nn.Module, model: nn.Module, paths: list[str]) -> None:
    """Spike distillation pairs layers by path: every folded neuron path must be a neuron path of the
    source."""
    src = {p for p, _ in neuron_paths(source)}
    missing = [p for p in paths if p not in src]
    if missing:
        raise ExportError(
            f"finetune: the source model has no neuron layer at {missing} (spike distillation pairs "
            "the folded and source layers by path)"
        )


def _weights_only_trainable(model: nn.Module) -> list[nn.Parameter]:
    """Freeze everything but the Linear/Conv2d parameters (the neurons' folded parameters stay as folded)."""
    params = [p for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)) for p in m.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    return params


def _fit_epoch(
    model: nn.Module,
    source: nn.Module,
    paths: list[str],
    opt: torch.optim.Optimizer,
    inputs: Tensor,
    labels: Tensor | None,
    order: Tensor,
    batch_size: int,
    w: _Weights,
) -> float:
    """One pass over ``inputs`` in ``order`` with the module docstring's loss; returns the mean loss."""
    total, n = 0.0, 0
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        xb = inputs[:, idx]
        with torch.no_grad(), capture(source, paths if w.spikes else []) as teacher_spikes:
            teacher = source(xb)
        spikes: dict[str, Tensor] = {}
        hooks = [
            get_module(model, p).register_forward_hook(
                lambda _m, _a, out, _p=p, _store=spikes: _store.__setitem__(_p, out)
            )
            for p in (paths if w.spikes else [])
        ]
        try:
            out = model(xb)
        finally:
            for h in hooks:
                h.remove()
        logits = out.mean(0)
        loss = w.logits * F.mse_loss(logits, teacher.mean(0)) if w.logits else logits.sum() * 0.0
        if w.spikes:
            loss = loss + w.spikes * sum(F.mse_loss(spikes[p], teacher_spikes[p]) for p in paths) / len(paths)
        if w.ce and labels is not None:
            loss = loss + w.ce * F.cross_entropy(logits, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
        n += len(idx)
    return total / max(n, 1)
