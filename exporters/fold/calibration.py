"""Calibration data plumbing: capture layer inputs/spikes with hooks, score candidate specs, measure
agreement.

All runs are in eval mode under ``torch.no_grad``; inputs are time-major ``[T, B, *]``.

Per-neuron (or per-channel) choice, ``choose_per_neuron``: for candidate specs c_1..c_G of one reset kind and
the mismatch counts M[g, n] = Σ_{t,b} [S_g[t, b, n] ≠ S_target[t, b, n]] of candidate g at neuron n, neuron n
gets

    g*(n) = argmin_g M[g, n],  ties → the layer's choice ℓ = argmin_g Σ_n M[g, n] when it is among the minima,
    else
            the candidate nearest to ℓ in value

(per channel: M summed over the spatial axes first). Because ℓ is a candidate for every neuron,
Σ_n M[g*(n), n] ≤ Σ_n M[ℓ, n]: on the calibration data the per-neuron choice never has more mismatches than
the per-layer one. The layer's neurons are independent given the layer's input, so the per-neuron choices do
not interact within a layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from snndeploy.errors import ExportError
from snndeploy.models.tree import get_module, neuron_paths

from ..lifspec import LIFSpec, spec_seq

__all__ = [
    "LayerData",
    "GRANULARITIES",
    "capture",
    "capture_inputs",
    "score_specs",
    "mismatch_counts",
    "choose_per_neuron",
    "layer_agreement",
    "output_agreement",
    "total_agreement",
]

#: How finely calibration may choose reset parameters: one value per layer, per channel (axis 0 of the neuron
#: shape; equal to ``neuron`` for 1-D layers) or per neuron.
GRANULARITIES = ("layer", "channel", "neuron")


@dataclass(frozen=True)
class LayerData:
    """Calibration data for one neuron layer.

    Args:
        x: the layer's input [T, B, *] in the partially folded model (upstream already folded).
        target: the source model's spikes of this layer on the same calibration batch.
        local_target: the source neuron's spikes on ``x`` (isolates this layer's fold error).
        granularity: ``GRANULARITIES``: how finely the rule may choose its reset parameters.
    """

    x: Tensor
    target: Tensor
    local_target: Tensor
    granularity: str = "layer"

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ExportError(
                f"calibration granularity must be one of {GRANULARITIES}, got {self.granularity!r}"
            )
        if self.x.dim() < 3 or self.x.shape != self.target.shape:
            raise ExportError(
                f"calibration data: layer input {tuple(self.x.shape)} and target spikes "
                f"{tuple(self.target.shape)} must both be [T, B, *neuron_shape]"
            )


@contextlib.contextmanager
def capture(model: nn.Module, paths: Iterable[str], what: str = "output") -> Iterator[dict[str, Tensor]]:
    """Record the input (``what="input"``) or output of the modules at ``paths`` during the next forward
    passes."""
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
def mismatch_counts(candidates: list[LIFSpec], data: LayerData) -> Tensor:
    """M [G, *neuron_shape] (int64): mismatching steps of every candidate at every neuron, summed over T and
    batch."""
    return torch.stack([(spec_seq(data.x, spec)[0] != data.target).sum(dim=(0, 1)) for spec in candidates])


def choose_per_neuron(
    counts: Tensor, values: list[float], layer_choice: int, granularity: str
) -> tuple[Tensor, int]:
    """(index [*neuron_shape] of the chosen candidate per neuron, total mismatches) — module docstring.

    Args:
        counts: M [G, *neuron_shape] from ``mismatch_counts`` (one reset kind).
        values: the G candidates' parameter values (tie-break by distance to ``values[layer_choice]``).
        layer_choice: ℓ, the per-layer choice among the G candidates.
        granularity: ``"channel"`` sums M over the axes after the first (one choice per channel) or
        ``"neuron"``.
    """
    if granularity == "channel" and counts.dim() > 2:
        counts = counts.sum(dim=tuple(range(2, counts.dim())), keepdim=True)
    dist = torch.tensor([abs(v - values[layer_choice]) for v in values], dtype=torch.float64)
    # ties broken towards ℓ: the distance term is < 1, so it never outweighs one mismatch
    score = counts.double() + (dist / (2.0 * (float(dist.max()) + 1.0))).view(-1, *[1] * (counts.dim() - 1))
    index = score.argmin(0)
    total = int(counts.gather(0, index.unsqueeze(0)).sum())
    return index, total


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
def total_agreement(source: nn.Module, folded: nn.Module, x: Tensor) -> float:
    """Fraction of identical neuron-steps over all neuron layers together (``verify``'s spike agreement)."""
    paths = [p for p, _ in neuron_paths(source)]
    with capture(source, paths) as a:
        source(x)
    with capture(folded, paths) as b:
        folded(x)
    total = sum(a[p].numel() for p in paths)
    return 1.0 - sum(_mismatch(a[p], b[p]) for p in paths) / max(total, 1)


@torch.no_grad()
def output_agreement(
    source: nn.Module, folded: nn.Module, x: Tensor, y: Tensor | None = None
) -> dict[str, float]:
    """Max abs logit difference, prediction agreement (argmax of the time-mean) and accuracies when ``y`` is
    given."""
    a, b = source(x), folded(x)
    pa, pb = a.mean(0).argmax(-1), b.mean(0).argmax(-1)
    out = {
        "output_max_abs_diff": float((a - b).abs().max()),
        "prediction_agreement": float((pa == pb).float().mean()),
    }
    if y is not None:
        out["accuracy_source"] = float((pa == y).float().mean())
        out["accuracy_folded"] = float((pb == y).float().mean())
    return out
