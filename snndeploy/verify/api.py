"""``verify``: run the same inputs through every runtime and judge spike equivalence against a policy.

Runtimes and what each is compared with (``expectation``):
- ``source[torch]``: the source model on the reference backend — the reference itself.
- ``source[<engine>]``: the source model on the engine ``auto`` picks (``numba``/``eager`` on CPU,
  ``triton`` on CUDA) → exact.
- ``folded``: the folded model (``exporters.fold``) → exact when the fold report is exact, else approximate.
- ``onnxruntime[step|unrolled]``: the ONNX export in onnxruntime → exact (ONNX keeps every neuron exact).
- ``nirsim``: the NIR graph in snndeploy's interpreter. Its expectations come from the graph's own contract:
  vs ``folded`` exact unless the *export* approximated a layer (``soft_reset="hard"``, a peer profile), vs the
  source exact only when the contract says ``exact: true`` (and the fold is exact), else approximate.
- peers (``norse``, ``spikingjelly``, ``snntorch``, ``sinabs``, ``rockpool``), each on the graph its own
  export profile writes (``exporters.nir_profiles``) → informational, compared layer by layer with
  ``folded``: the row's verdict is ``identical`` only when every hooked layer's spikes and every prediction
  agree, else ``differs`` (with the first divergence); a peer that cannot import the graph is
  ``unavailable`` (with the reason), never a failure of the model.

Policy: an exact runtime must agree on 100% of neuron-steps of every layer and on every prediction; an
approximate one passes when its spike agreement (over all layers' neuron-steps) ≥ ``min_spike_agreement``
and its accuracy drop ≤ ``max_accuracy_drop`` percentage points (agreement of predictions with the source
when no labels are given).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from exporters.nir import contract_of
from exporters.nir_profiles import export_for

from ..errors import InvalidInputError, SnnDeployError
from ..models.tree import get_module
from ..neurons.base import NeuronModule
from ..neurons.engine import resolve_backend
from .compare import SpikeComparison, compare_spikes
from .margins import membrane_margin
from .peers import KNOWN_DIFFERENCES
from .runners import FAILED, OK, UNAVAILABLE, RuntimeRun, run_nirsim, run_onnx, run_peer, run_torch

__all__ = [
    "verify",
    "VerifyReport",
    "RuntimeReport",
    "EXACT",
    "APPROXIMATE",
    "INFORMATIONAL",
    "DEFAULT_PEERS",
    "nir_expectations",
]

DEFAULT_PEERS = ("norse", "spikingjelly", "snntorch", "sinabs", "rockpool")

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
    def identical(self) -> bool:
        """Every compared layer's spikes equal and every prediction equal (outputs equal when no layer was
        hooked)."""
        if self.status != OK or self.prediction_agreement is None:
            return False
        if self.layers:
            return all(c.identical for c in self.layers) and self.prediction_agreement == 1.0
        return self.output_max_abs_diff == 0.0

    @property
    def verdict(self) -> str:
        """``pass``/``FAIL`` for judged rows; ``identical``/``differs`` for informational rows that ran; else
        the status (``unavailable``, ``failed``). A row whose spikes differ is never shown as fine."""
        if self.passed is not None:
            return "pass" if self.passed else "FAIL"
        if self.status != OK:
            return self.status
        if self.expectation == REFERENCE:
            return "reference"
        return "identical" if self.identical else "differs"

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
            "runtime": self.runtime,
            "reference": self.reference,
            "expectation": self.expectation,
            "status": self.status,
            "detail": self.detail,
            "passed": self.passed,
            "reason": self.reason,
            "verdict": self.verdict,
            "spike_agreement": self.spike_agreement,
            "prediction_agreement": self.prediction_agreement,
            "output_max_abs_diff": self.output_max_abs_diff,
            "accuracy": self.accuracy,
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
            "format": "snndeploy-verify/1",
            "passed": self.passed,
            "samples": self.samples,
            "T": self.T,
            "policy": self.policy,
            "source_accuracy": self.source_accuracy,
            "firing_rates": self.firing_rates,
            "runtimes": [r.to_dict() for r in self.runtimes],
            "known_differences": self.known_differences,
        }


def _predictions(out: Tensor) -> Tensor:
    return out.float().mean(0).reshape(out.shape[1], -1).argmax(-1)


def _compare(
    run: RuntimeRun,
    ref: RuntimeRun,
    expectation: str,
    y: Tensor | None,
    margins: dict[str, Tensor],
    policy: dict[str, float],
    ref_accuracy: float | None,
) -> RuntimeReport:
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
        got = run.spikes.get(path)
        if got is not None and got.numel() == s_ref.numel():  # peers may hook [B·T, *]-shaped layers
            rep.layers.append(compare_spikes(s_ref, got.reshape(s_ref.shape), path, margins.get(path)))
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
            rep.reason = (
                f"first divergence at layer {layer}, t={d.t}, sample={d.sample}, neuron={list(d.neuron)}: "
                f"{ref.name} {d.reference:g} vs {run.name} {d.other:g}"
                + (f", margin to threshold {d.margin:.3g}" if d.margin is not None else "")
            )
        elif not rep.passed:
            rep.reason = f"predictions differ on {1 - rep.prediction_agreement:.2%} of samples"
    elif expectation == INFORMATIONAL and not rep.identical:
        first = rep.first_divergence
        agree = f"{100 * agreement:.3f}%" if agreement is not None else "n/a"
        rep.reason = (
            f"differs: {agree} identical neuron-steps, {100 * rep.prediction_agreement:.2f}% same "
            "predictions"
            + (
                f"; first divergence at layer {first[0]}, t={first[1].t}, sample="
                f"{first[1].sample}, neuron={list(first[1].neuron)}"
                if first
                else ""
            )
            + (f"; {run.detail}" if run.detail else "")
        )
    elif expectation == APPROXIMATE:
        acc_ref = ref_accuracy if y is not None else 1.0
        acc = rep.accuracy if y is not None else rep.prediction_agreement
        drop_pt = 100.0 * (acc_ref - acc)
        ok_spikes = agreement is None or agreement >= policy["min_spike_agreement"]
        ok_acc = drop_pt <= policy["max_accuracy_drop"]
        rep.passed = ok_spikes and ok_acc
        rep.reason = (
            f"spike agreement {agreement if agreement is not None else float('nan'):.4f} "
            f"(min {policy['min_spike_agreement']}), accuracy drop {drop_pt:.2f} pt "
            f"(max {policy['max_accuracy_drop']})"
        )
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
        first.name,
        OK,
        first.detail,
        torch.cat([p.output for p in parts], dim=1),
        {k: cat(k, "spikes") for k in first.spikes if k in common},
        {k: cat(k, "inputs") for k in first.inputs},
    )


def nir_expectations(graph: Any, fold_exact: bool | None) -> tuple[str, str]:
    """(nirsim vs source, nirsim vs folded) expectations from the graph's contract (module docstring).

    A layer the *export* approximated (``soft_reset="hard"``: key ``export``; a peer profile: key
    ``profile_approximation``) makes both approximate; otherwise nirsim must equal the folded model
    exactly, and the source exactly when the contract (and the fold) say ``exact``. A graph without a
    contract: exact vs folded.
    """
    contract = contract_of(graph) if graph is not None else None
    if contract is None:
        return (EXACT if fold_exact else APPROXIMATE), EXACT
    layers = contract.get("layers") or []
    export_approx = any("export" in layer or "profile_approximation" in layer for layer in layers)
    vs_folded = APPROXIMATE if export_approx else EXACT
    vs_source = (
        EXACT if contract.get("exact") and fold_exact is not False and not export_approx else APPROXIMATE
    )
    return vs_source, vs_folded


def _check_inputs(x: Tensor, y: Tensor | None) -> None:
    if not isinstance(x, Tensor) or x.dim() < 3 or not x.is_floating_point():
        raise InvalidInputError(
            f"verify: x must be a float tensor [T, B, *input_shape], got "
            f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}"
        )
    if y is not None and (y.dim() != 1 or y.shape[0] != x.shape[1]):
        raise InvalidInputError(f"verify: y must be [B={x.shape[1]}], got {tuple(y.shape)}")


def peer_exports(
    folded: nn.Module,
    input_shape: tuple[int, ...],
    peers: Sequence[str],
    dt: float = 1e-3,
    T: int | None = None,
) -> dict[str, Any]:
    """{peer: its profile's graph of ``folded``} (a peer without a profile, or whose export fails, maps to the
    error message: its row is reported unavailable with it)."""
    out: dict[str, Any] = {}
    for peer in peers:
        try:
            out[peer] = export_for(folded, input_shape, peer, dt=dt, T=T).graph
        except SnnDeployError as exc:
            out[peer] = f"no {peer} export: {exc}"
    return out


Job = Callable[[Tensor], RuntimeRun]


def _auto_engine(model: nn.Module, device: torch.device) -> str:
    """The engine(s) ``auto`` runs the model's neurons on, for the row name (``numba``, ``eager``,
    ``triton``)."""
    names = {m.neuron_name for m in model.modules() if isinstance(m, NeuronModule)}
    return "/".join(sorted({resolve_backend(n, "auto", device).value for n in names})) or "auto"


def _jobs(
    model: nn.Module,
    x: Tensor,
    folded: nn.Module | None,
    nir_graph: Any,
    peer_graphs: Mapping[str, Any],
    onnx_paths: Sequence[str],
    fused_backend: bool,
) -> dict[str, Job]:
    """One job per runtime, keyed ``source``, ``fused``, ``folded``, ``onnx<i>``, ``nirsim``,
    ``peer:<name>``."""
    fused = _auto_engine(model, x.device)
    jobs: dict[str, Job] = {
        "source": lambda xb: run_torch("source[torch]", model, xb, backend="torch", keep_inputs=True)
    }
    if fused_backend:
        jobs["fused"] = lambda xb: run_torch(f"source[{fused}]", model, xb, backend="auto")
    if folded is not None:
        jobs["folded"] = lambda xb: run_torch("folded", folded, xb)
    for i, p in enumerate(onnx_paths):
        jobs[f"onnx{i}"] = lambda xb, p=p: run_onnx(str(p), xb.cpu())
    if nir_graph is not None:
        jobs["nirsim"] = lambda xb: run_nirsim(nir_graph, xb.cpu())
    for peer, graph in peer_graphs.items():
        if isinstance(graph, str):
            jobs[f"peer:{peer}"] = lambda xb, peer=peer, why=graph: RuntimeRun(peer, UNAVAILABLE, why)
        else:
            jobs[f"peer:{peer}"] = lambda xb, peer=peer, g=graph: run_peer(peer, g, xb.cpu())
    return jobs


def _run_batched(
    jobs: dict[str, Job], x: Tensor, batch_size: int, on_batch: Callable[[int, int], None] | None
) -> dict[str, RuntimeRun]:
    slices = _batches(x.shape[1], batch_size)
    parts: dict[str, list[RuntimeRun]] = {key: [] for key in jobs}
    for i, sl in enumerate(slices):
        xb = x[:, sl]
        for key, job in jobs.items():
            parts[key].append(job(xb))
        if on_batch is not None:
            on_batch(i + 1, len(slices))
    return {key: _merge(v) for key, v in parts.items()}


def _judge(
    runs: dict[str, RuntimeRun],
    y: Tensor | None,
    margins: dict[str, Tensor],
    policy: dict[str, float],
    src_acc: float | None,
    fold_expect: str,
    nir_expect: tuple[str, str],
) -> list[RuntimeReport]:
    """One report row per (runtime, reference) pair, with its expectation (module docstring)."""
    src = runs["source"]
    folded_ok = "folded" in runs and runs["folded"].status == OK
    reports = [RuntimeReport(src.name, src.name, REFERENCE, OK, src.detail, accuracy=src_acc, passed=True)]
    for key, run in runs.items():
        if key == "source":
            continue
        if key == "fused" or key.startswith("onnx"):
            reports.append(_compare(run, src, EXACT, y, margins, policy, src_acc))
        elif key == "folded":
            reports.append(_compare(run, src, fold_expect, y, margins, policy, src_acc))
        elif key == "nirsim":
            reports.append(_compare(run, src, nir_expect[0], y, margins, policy, src_acc))
            if folded_ok:
                reports.append(_compare(run, runs["folded"], nir_expect[1], y, {}, policy, src_acc))
        else:
            ref = runs["folded"] if folded_ok else runs.get("nirsim", src)
            reports.append(
                _compare(run, ref if ref.status == OK else src, INFORMATIONAL, y, {}, policy, src_acc)
            )
    return reports


def verify(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None = None,
    *,
    folded: nn.Module | None = None,
    fold_exact: bool | None = None,
    nir_graph: Any = None,
    peer_graphs: Mapping[str, Any] | None = None,
    onnx_paths: Sequence[str] = (),
    peers: Sequence[str] = DEFAULT_PEERS,
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
        nir_graph: a NIR graph of ``folded`` (run in nirsim; its contract sets the expectations).
        peer_graphs: {peer: graph} handed to each peer; default: each peer's export profile of ``folded``
            (``exporters.nir_profiles.export_for``, dt from ``nir_graph``'s contract, else 1e-3 s).
        onnx_paths: ONNX files written by ``exporters.onnx`` (step and/or unrolled).
        peers: peer simulators to run (``snndeploy.verify.peers.PEERS``).
        fused_backend: also run the source model on its fused backend (``auto``: Triton on CUDA, else bptt).
        min_spike_agreement, max_accuracy_drop: the policy for approximate folds.
        batch_size: samples per batch; ``on_batch(done, total)`` is called after each (progress bars).
    """
    _check_inputs(x, y)
    policy = {
        "min_spike_agreement": float(min_spike_agreement),
        "max_accuracy_drop": float(max_accuracy_drop),
    }
    contract = contract_of(nir_graph) if nir_graph is not None else None
    if peer_graphs is None:
        dt = float(contract["dt"]) if contract else 1e-3
        peer_graphs = (
            peer_exports(folded, tuple(x.shape[2:]), peers, dt, int(x.shape[0]))
            if folded is not None
            else {p: "no folded model to export for peers" for p in peers}
        )
    jobs = _jobs(
        model,
        x,
        folded,
        nir_graph,
        {p: g for p, g in peer_graphs.items() if p in peers},
        onnx_paths,
        fused_backend,
    )
    runs = _run_batched(jobs, x, batch_size, on_batch)
    src = runs["source"]
    if src.status != OK:
        raise InvalidInputError(f"verify: the source model did not run: {src.detail}")
    margins = {
        p: m for p, inp in src.inputs.items() if (m := membrane_margin(get_module(model, p), inp)) is not None
    }
    src_acc = float((_predictions(src.output) == y).float().mean()) if y is not None else None
    fold_expect = EXACT if fold_exact else APPROXIMATE
    reports = _judge(runs, y, margins, policy, src_acc, fold_expect, nir_expectations(nir_graph, fold_exact))
    rates = {p: float(s.float().mean()) for p, s in src.spikes.items()}
    known = {k: v for k, v in KNOWN_DIFFERENCES.items() if k in peers}
    return VerifyReport(x.shape[1], x.shape[0], reports, rates, src_acc, policy, known, runs)
