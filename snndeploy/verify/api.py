"""``verify``: run the same inputs through every runtime and judge spike equivalence against a policy.

Runtimes and what each is compared with (``expectation``):
- ``source[torch]``: the source model on the reference backend — the reference itself.
- ``source[<engine>]``: the source model on the engine ``auto`` picks (``numba``/``eager`` on CPU, ``triton`` on CUDA) → exact.
- ``folded``: the folded model (``exporters.fold``) → exact when the fold report is exact, else approximate.
- ``onnxruntime[step|unrolled]``: the ONNX export in onnxruntime → exact (ONNX keeps every neuron exact).
- ``nirsim``: the NIR graph in snndeploy's interpreter → exact vs ``folded``; vs the source like ``folded``.
- peers (``norse``, ``spikingjelly``, ``snntorch``) on the flat NIR graph → informational, compared with ``nirsim``:
  a peer that cannot run the graph is reported as unavailable, never as a failure of the graph.

Policy: an exact runtime must agree on 100% of neuron-steps of every layer and on every prediction; an approximate one
passes when its spike agreement (over all layers' neuron-steps) ≥ ``min_spike_agreement`` and its accuracy drop
≤ ``max_accuracy_drop`` percentage points (agreement of predictions with the source when no labels are given).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InvalidInputError
from ..models.tree import get_module
from ..neurons.engine import resolve_backend
from .compare import SpikeComparison, compare_spikes
from .margins import membrane_margin
from .peers import KNOWN_DIFFERENCES
from .runners import FAILED, OK, RuntimeRun, run_nirsim, run_onnx, run_peer, run_torch

__all__ = ["verify", "VerifyReport", "RuntimeReport", "EXACT", "APPROXIMATE", "INFORMATIONAL"]

EXACT, APPROXIMATE, INFORMATIONAL, REFERENCE = "exact", "approximate", "informational", "reference"


@dataclass
class RuntimeReport:
    """One runtime compared with one reference runtime."""

    runtime: str
    reference: str
    expectation: str
    status: str
    detail: str = ""
    layers: list[SpikeComparison] = field(default_factory=list)
    prediction_agreement: float | None = None
    output_max_abs_diff: float | None = None
    accuracy: float | None = None
    passed: bool | None = None
    reason: str = ""

    @property
    def spike_agreement(self) -> float | None:
        total = sum(c.total for c in self.layers)
        return 1.0 - sum(c.mismatches for c in self.layers) / total if total else None

    @property
    def first_divergence(self) -> tuple[str, Any] | None:
        """(layer, Divergence) of the earliest divergent layer in forward order."""
        for c in self.layers:
            if c.first is not None:
                return c.layer, c.first
        return None

    def to_dict(self) -> dict[str, Any]:
        first = self.first_divergence
        return {
            "runtime": self.runtime, "reference": self.reference, "expectation": self.expectation,
            "status": self.status, "detail": self.detail, "passed": self.passed, "reason": self.reason,
            "spike_agreement": self.spike_agreement, "prediction_agreement": self.prediction_agreement,
            "output_max_abs_diff": self.output_max_abs_diff, "accuracy": self.accuracy,
            "first_divergence": {"layer": first[0], **first[1].to_dict()} if first else None,
            "layers": [c.to_dict() for c in self.layers],
        }


@dataclass
class VerifyReport:
    """Everything ``verify`` found; ``passed`` is the policy verdict over non-informational runtimes."""

    samples: int
    T: int
    runtimes: list[RuntimeReport]
    firing_rates: dict[str, float]
    source_accuracy: float | None
    policy: dict[str, float]
    known_differences: dict[str, list[str]]
    runs: dict[str, RuntimeRun] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return all(r.passed is not False for r in self.runtimes)

    @property
    def failures(self) -> list[RuntimeReport]:
        return [r for r in self.runtimes if r.passed is False]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "snndeploy-verify/1", "passed": self.passed, "samples": self.samples, "T": self.T,
            "policy": self.policy, "source_accuracy": self.source_accuracy, "firing_rates": self.firing_rates,
            "runtimes": [r.to_dict() for r in self.runtimes], "known_differences": self.known_differences,
        }


def _predictions(out: Tensor) -> Tensor:
    return out.float().mean(0).reshape(out.shape[1], -1).argmax(-1)


def _compare(run: RuntimeRun, ref: RuntimeRun, expectation: str, y: Tensor | None, margins: dict[str, Tensor],
             policy: dict[str, float], ref_accuracy: float | None) -> RuntimeReport:
    rep = RuntimeReport(run.name, ref.name, expectation, run.status, run.detail)
    if run.status != OK or run.output is None:
        rep.reason = run.detail
        if run.status == FAILED and expectation in (EXACT, APPROXIMATE):
            rep.passed = False  # the artifact itself is broken (an unavailable runtime is not)
        return rep
    if run.output.shape != ref.output.shape:
        rep.passed = False if expectation in (EXACT, APPROXIMATE) else None
        rep.reason = f"output shape {tuple(run.output.shape)} != reference {tuple(ref.output.shape)}"
        return rep
    for path, s_ref in ref.spikes.items():
        if path in run.spikes:
            rep.layers.append(compare_spikes(s_ref, run.spikes[path], path, margins.get(path)))
    pred = _predictions(run.output)
    rep.prediction_agreement = float((pred == _predictions(ref.output)).float().mean())
    rep.output_max_abs_diff = float((run.output.float() - ref.output.float()).abs().max())
    if y is not None:
        rep.accuracy = float((pred == y).float().mean())
    agreement = rep.spike_agreement
    if expectation == EXACT:
        bad = [c for c in rep.layers if not c.identical]
        rep.passed = not bad and rep.prediction_agreement == 1.0
        if bad:
            layer, d = rep.first_divergence
            rep.reason = (f"first divergence at layer {layer}, t={d.t}, sample={d.sample}, neuron={list(d.neuron)}: "
                          f"{ref.name} {d.reference:g} vs {run.name} {d.other:g}"
                          + (f", margin to threshold {d.margin:.3g}" if d.margin is not None else ""))
        elif not rep.passed:
            rep.reason = f"predictions differ on {1 - rep.prediction_agreement:.2%} of samples"
    elif expectation == APPROXIMATE:
        acc_ref = ref_accuracy if y is not None else 1.0
        acc = rep.accuracy if y is not None else rep.prediction_agreement
        drop_pt = 100.0 * (acc_ref - acc)
        ok_spikes = agreement is None or agreement >= policy["min_spike_agreement"]
        ok_acc = drop_pt <= policy["max_accuracy_drop"]
        rep.passed = ok_spikes and ok_acc
        rep.reason = (f"spike agreement {agreement if agreement is not None else float('nan'):.4f} "
                      f"(min {policy['min_spike_agreement']}), accuracy drop {drop_pt:.2f} pt "
                      f"(max {policy['max_accuracy_drop']})")
    return rep


def _batches(n: int, batch_size: int) -> list[slice]:
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _merge(parts: list[RuntimeRun]) -> RuntimeRun:
    """Concatenate per-batch runs of one runtime along the batch axis (status: the first non-ok one)."""
    first = parts[0]
    bad = next((p for p in parts if p.status != OK), None)
    if bad is not None:
        return RuntimeRun(first.name, bad.status, bad.detail)
    cat = lambda key, d: torch.cat([p.__dict__[d][key] for p in parts], dim=1)  # noqa: E731
    common = set.intersection(*(set(p.spikes) for p in parts))
    return RuntimeRun(
        first.name, OK, first.detail, torch.cat([p.output for p in parts], dim=1),
        {k: cat(k, "spikes") for k in first.spikes if k in common},
        {k: cat(k, "inputs") for k in first.inputs},
    )


def verify(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None = None,
    *,
    folded: nn.Module | None = None,
    fold_exact: bool | None = None,
    nir_graph: Any = None,
    peer_graph: Any = None,
    onnx_paths: Sequence[str] = (),
    peers: Sequence[str] = ("norse", "spikingjelly", "snntorch", "sinabs", "rockpool"),
    fused_backend: bool = True,
    min_spike_agreement: float = 0.995,
    max_accuracy_drop: float = 0.5,
    batch_size: int = 64,
    on_batch: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Run ``x`` [T, B, *input_shape] through every runtime given and compare them (see the module docstring).

    Args:
        model: the source model (any neuron types).
        x: inputs, time-major. y: optional labels [B] for accuracy.
        folded: the folded model; ``fold_exact``: the fold report's verdict (``FoldReport.exact``).
        nir_graph: the NIR graph of ``folded`` (run in nirsim); ``peer_graph``: the graph handed to peers
            (default ``nir_graph``; pass the flat export).
        onnx_paths: ONNX files written by ``exporters.onnx`` (step and/or unrolled).
        peers: peer simulators to try on the NIR graph.
        fused_backend: also run the source model on its fused backend (``auto``: Triton on CUDA, numba on CPU).
        min_spike_agreement, max_accuracy_drop: the policy for approximate folds.
        batch_size: samples per batch; ``on_batch(done, total)`` is called after each (progress bars).
    """

    if not isinstance(x, Tensor) or x.dim() < 3 or not x.is_floating_point():
        raise InvalidInputError(f"verify: x must be a float tensor [T, B, *input_shape], got "
                                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    if y is not None and (y.dim() != 1 or y.shape[0] != x.shape[1]):
        raise InvalidInputError(f"verify: y must be [B={x.shape[1]}], got {tuple(y.shape)}")
    policy = {"min_spike_agreement": float(min_spike_agreement), "max_accuracy_drop": float(max_accuracy_drop)}
    fused = resolve_backend("lif", "auto", x.device).value  # the engine "auto" picks here (the same for every neuron)
    jobs: list[tuple[str, Callable[[Tensor], RuntimeRun]]] = [
        ("source", lambda xb: run_torch("source[torch]", model, xb, backend="torch", keep_inputs=True)),
    ]
    if fused_backend:
        jobs.append(("fused", lambda xb: run_torch(f"source[{fused}]", model, xb, backend="auto")))
    if folded is not None:
        jobs.append(("folded", lambda xb: run_torch("folded", folded, xb)))
    for i, p in enumerate(onnx_paths):
        jobs.append((f"onnx{i}", lambda xb, p=p: run_onnx(str(p), xb.cpu())))
    if nir_graph is not None:
        jobs.append(("nirsim", lambda xb: run_nirsim(nir_graph, xb.cpu())))
    graph_for_peers = peer_graph if peer_graph is not None else nir_graph
    if graph_for_peers is not None:
        for peer in peers:
            jobs.append((f"peer:{peer}", lambda xb, peer=peer: run_peer(peer, graph_for_peers, xb.cpu())))

    slices = _batches(x.shape[1], batch_size)
    parts: dict[str, list[RuntimeRun]] = {key: [] for key, _ in jobs}
    for i, sl in enumerate(slices):
        xb = x[:, sl]
        for key, job in jobs:
            parts[key].append(job(xb))
        if on_batch is not None:
            on_batch(i + 1, len(slices))
    runs = {key: _merge(v) for key, v in parts.items()}

    src = runs["source"]
    if src.status != OK:
        raise InvalidInputError(f"verify: the source model did not run: {src.detail}")

    margins = {p: m for p, inp in src.inputs.items()
               if (m := membrane_margin(get_module(model, p), inp)) is not None}
    src_acc = float((_predictions(src.output) == y).float().mean()) if y is not None else None
    fold_expect = EXACT if fold_exact else APPROXIMATE
    reports = [RuntimeReport(src.name, src.name, REFERENCE, OK, src.detail, accuracy=src_acc, passed=True)]
    for key, run in runs.items():
        if key == "source":
            continue
        if key == "fused" or key.startswith("onnx"):
            reports.append(_compare(run, src, EXACT, y, margins, policy, src_acc))
        elif key in ("folded", "nirsim"):
            reports.append(_compare(run, src, fold_expect, y, margins, policy, src_acc))
            if key == "nirsim" and "folded" in runs and runs["folded"].status == OK:
                reports.append(_compare(run, runs["folded"], EXACT, y, {}, policy, src_acc))
        else:
            ref = runs.get("nirsim", src)
            reports.append(_compare(run, ref if ref.status == OK else src, INFORMATIONAL, y, {}, policy, src_acc))
    rates = {p: float(s.float().mean()) for p, s in src.spikes.items()}
    known = {k: v for k, v in KNOWN_DIFFERENCES.items() if k in peers}
    return VerifyReport(x.shape[1], x.shape[0], reports, rates, src_acc, policy, known, runs)
