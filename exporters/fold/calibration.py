"""Calibration data plumbing: capture layer inputs/spikes with hooks, score candidate specs, measure agreement.

All runs are in eval mode under ``torch.no_grad``; inputs are time-major ``[T, B, *]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from snndeploy.models.tree import get_module, neuron_paths

from ..lifspec import LIFSpec, spec_seq

__all__ = ["LayerData", "capture", "capture_inputs", "score_specs", "layer_agreement", "output_agreement"]


@dataclass(frozen=True)
class LayerData:
    """Calibration data for one neuron layer.

    Args:
        x: the layer's input [T, B, *] in the partially folded model (upstream already folded).
        target: the source model's spikes of this layer on the same calibration batch.
        local_target: the source neuron's spikes on ``x`` (isolates this layer's fold error).
    """

    x: Tensor
    target: Tensor
    local_target: Tensor


@contextlib.contextmanager
def capture(model: nn.Module, paths: Iterable[str], what: str = "output") -> Iterator[dict[str, Tensor]]:
    """Record the input (``what="input"``) or output of the modules at ``paths`` during the next forward passes."""
    store: dict[str, Tensor] = {}
    handles = []
    for path in paths:
        module = get_module(model, path)
        if what == "input":
            def pre(_m, args, _p=path):
                store[_p] = args[0].detach()
            handles.append(module.register_forward_pre_hook(pre))
        else:
            def post(_m, _args, out, _p=path):
                store[_p] = out.detach()
            handles.append(module.register_forward_hook(post))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


class _Captured(Exception):
    """Raised by a hook once every requested input is stored, to skip the rest of the forward pass."""


@torch.no_grad()
def capture_inputs(model: nn.Module, x: Tensor, paths: Iterable[str]) -> dict[str, Tensor]:
    """Inputs of the modules at ``paths`` when ``model`` runs on ``x`` (the pass stops once all are seen)."""
    paths = list(paths)
    store: dict[str, Tensor] = {}
    handles = []
    for path in paths:
        def pre(_m, args, _p=path):
            store[_p] = args[0].detach()
            if len(store) == len(paths):
                raise _Captured
        handles.append(get_module(model, path).register_forward_pre_hook(pre))
    try:
        model(x)
    except _Captured:
        pass
    finally:
        for h in handles:
            h.remove()
    return store


def _mismatch(a: Tensor, b: Tensor) -> int:
    return int((a != b).sum())


@torch.no_grad()
def score_specs(candidates: list[LIFSpec], data: LayerData) -> list[tuple[LIFSpec, int]]:
    """(spec, mismatching neuron-steps vs ``data.target``) for every candidate, in the given order."""
    return [(spec, _mismatch(spec_seq(data.x, spec)[0], data.target)) for spec in candidates]


@torch.no_grad()
def layer_agreement(source: nn.Module, folded: nn.Module, x: Tensor) -> dict[str, float]:
    """Per neuron layer: fraction of identical neuron-steps between ``source`` and ``folded`` on ``x``."""
    paths = [p for p, _ in neuron_paths(source)]
    with capture(source, paths) as a:
        source(x)
    with capture(folded, paths) as b:
        folded(x)
    return {p: 1.0 - _mismatch(a[p], b[p]) / max(a[p].numel(), 1) for p in paths}


@torch.no_grad()
def output_agreement(source: nn.Module, folded: nn.Module, x: Tensor, y: Tensor | None = None) -> dict[str, float]:
    """Max abs logit difference, prediction agreement (argmax of the time-mean) and accuracies when ``y`` is given."""
    a, b = source(x), folded(x)
    pa, pb = a.mean(0).argmax(-1), b.mean(0).argmax(-1)
    out = {"output_max_abs_diff": float((a - b).abs().max()), "prediction_agreement": float((pa == pb).float().mean())}
    if y is not None:
        out["accuracy_source"] = float((pa == y).float().mean())
        out["accuracy_folded"] = float((pb == y).float().mean())
    return out
