"""verify: every neuron × model kind passes on its own exports; tampered artifacts are caught with the first
divergence named; peers that cannot run a graph are reported as unavailable; reports and CLI exit codes."""

from __future__ import annotations

import copy
import json
import logging
import warnings

import nir
import numpy as np
import pytest
import torch

from exporters.nir import to_nir
from snndeploy.models import ModelConfig, build_model
from snndeploy.neurons.engine import resolve_backend
from snndeploy.pipeline import export_all
from snndeploy.verify import APPROXIMATE, EXACT, INFORMATIONAL, verify
from snndeploy.verify.report import to_markdown, write_report

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

SHAPES = {"mlp": (6,), "vgg": (1, 8, 8), "resnet18": (3, 8, 8)}


def _model(kind: str, neuron: str, seed: int = 0, **neuron_kwargs):
    torch.manual_seed(seed)
    cfg = ModelConfig(kind, SHAPES[kind], 4, neuron=neuron, neuron_kwargs=neuron_kwargs, width=0.0625)
    model = build_model(cfg).eval()
    # Randomise BatchNorm statistics so folding BN is really exercised.
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.8, 1.6)
    return model


def _x(kind: str, B: int = 16, T: int = 6, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((T, B, *SHAPES[kind]), generator=g) * 3


# Untrained random tiny nets sit close to threshold far more often than trained ones, so the approximate
# CLIF/ILIF
# folds are judged here with a looser spike-agreement policy than the CLI default (0.995); exact paths stay
# exact.
POLICY = {"min_spike_agreement": 0.95, "max_accuracy_drop": 5.0}


def _run(model, kind, tmp_path, peers=(), x=None):
    x = _x(kind) if x is None else x
    art = export_all(model, SHAPES[kind], _x(kind, seed=2), tmp_path, T=x.shape[0])
    report = verify(
        model,
        x,
        folded=art.folded,
        fold_exact=art.fold_report.exact,
        nir_graph=art.nir_graph,
        onnx_paths=[art.onnx_path],
        peers=peers,
        **POLICY,
    )
    return report, art


@pytest.mark.parametrize("kind", ["mlp", "vgg", "resnet18"])
@pytest.mark.parametrize(
    "neuron,kwargs", [("lif", {"v_reset": 0.0}), ("lif", {}), ("klif", {}), ("clif", {}), ("ilif", {})]
)
def test_every_neuron_and_model_passes_on_its_own_exports(kind, neuron, kwargs, tmp_path):
    report, art = _run(_model(kind, neuron, **kwargs), kind, tmp_path)
    by = {(r.runtime, r.reference): r for r in report.runtimes}
    exact_rows = [r for r in report.runtimes if r.expectation == EXACT]
    assert exact_rows and all(r.passed for r in exact_rows), [
        (r.runtime, r.reference, r.reason) for r in exact_rows
    ]
    if art.fold_report.exact:
        assert report.passed, [(r.runtime, r.reference, r.reason) for r in report.failures]
    else:
        # Approximate folds (CLIF, ILIF, KLIF's floor) on untrained random nets: spikes stay close;
        # predictions of
        # untrained deep nets are near ties, so the accuracy part of the policy is not meaningful here.
        assert by[("folded", "source[torch]")].spike_agreement >= POLICY["min_spike_agreement"]
    # The exact checks really compared every layer and agreed on all of them.
    fused = f"source[{resolve_backend('lif', 'auto').value}]"
    for key in [(fused, "source[torch]"), ("onnxruntime[step]", "source[torch]"), ("nirsim", "folded")]:
        r = by[key]
        assert r.expectation == EXACT and r.layers and all(c.identical for c in r.layers), key
    assert len(by[("nirsim", "folded")].layers) == len(report.firing_rates)
    expect = EXACT if art.fold_report.exact else APPROXIMATE
    assert by[("folded", "source[torch]")].expectation == expect
    if neuron == "lif":  # LIF folds are exact: the NIR graph spikes exactly like the source
        assert expect == EXACT and by[("nirsim", "source[torch]")].spike_agreement == 1.0


def _tamper(graph: nir.NIRGraph, what: str) -> nir.NIRGraph:
    g = copy.deepcopy(graph)
    lifs = [n for n in g.nodes.values() if isinstance(n, nir.LIF)]
    if what == "threshold":
        lifs[0].v_threshold = np.asarray(lifs[0].v_threshold) * 1.5
    elif what == "tau":
        lifs[0].tau = np.asarray(lifs[0].tau) * 4.0
    elif what == "weight":
        aff = next(n for n in g.nodes.values() if isinstance(n, (nir.Affine, nir.Linear)))
        aff.weight = -np.asarray(aff.weight)
    return g


@pytest.mark.parametrize("what", ["threshold", "tau", "weight"])
def test_altered_nir_is_caught_with_first_divergence(what, tmp_path):
    model = _model("mlp", "lif", v_reset=0.0)
    x = _x("mlp", B=32)
    art = export_all(model, SHAPES["mlp"], x, tmp_path, T=x.shape[0])
    bad = _tamper(art.nir_graph, what)
    report = verify(model, x, folded=art.folded, fold_exact=True, nir_graph=bad, peers=())
    assert not report.passed
    failing = {(r.runtime, r.reference) for r in report.failures}
    assert ("nirsim", "folded") in failing
    r = next(r for r in report.failures if (r.runtime, r.reference) == ("nirsim", "folded"))
    if r.status == "failed":  # nirsim refused the graph: its parameters disagree with the export metadata
        assert "edited after export" in r.reason and "node" in r.reason
    else:
        layer, first = r.first_divergence
        assert layer in report.firing_rates and 0 <= first.t < x.shape[0]
        assert "first divergence at layer" in r.reason


def test_onnx_of_another_model_is_caught(tmp_path):
    model = _model("mlp", "clif", seed=0)
    other = _model("mlp", "clif", seed=123)
    x = _x("mlp", B=32)
    art = export_all(other, SHAPES["mlp"], x, tmp_path / "other", T=x.shape[0])
    report = verify(model, x, onnx_paths=[art.onnx_path], peers=())
    r = next(r for r in report.runtimes if r.runtime.startswith("onnxruntime"))
    assert r.passed is False and r.first_divergence is not None


def test_margin_is_reported_at_the_first_divergence(tmp_path):
    model = _model("mlp", "lif", v_reset=0.0)
    x = _x("mlp", B=64)
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(p for p in other.parameters() if p.dim() == 2).mul_(1.05)
    art = export_all(other, SHAPES["mlp"], x, tmp_path, T=x.shape[0])
    report = verify(model, x, onnx_paths=[art.onnx_path], peers=())
    r = next(r for r in report.runtimes if r.runtime.startswith("onnxruntime"))
    _, first = r.first_divergence
    assert (
        first.margin is not None and abs(first.margin) < 1.0
    )  # a 5% weight change flips near-threshold neurons


def test_peers_that_cannot_run_are_unavailable_and_differing_peers_are_never_ok(tmp_path):
    pytest.importorskip("norse")
    soft = _model("mlp", "lif")  # soft reset: norse's profile must approximate it by a hard reset
    report, _ = _run(soft, "mlp", tmp_path / "soft", peers=("norse", "nosuchpeer"))
    rows = {r.runtime: r for r in report.runtimes if r.expectation == INFORMATIONAL}
    assert set(rows) == {"norse", "nosuchpeer"}
    assert rows["nosuchpeer"].status == "unavailable" and rows["nosuchpeer"].reason
    norse = rows["norse"]
    assert norse.status == "ok" and norse.passed is None and norse.layers
    assert norse.verdict == "differs" and "soft reset" in norse.reason and "first divergence" in norse.reason
    assert "| norse | folded | informational | ran |" in to_markdown(report) and "**differs**" in to_markdown(
        report
    )
    assert report.passed  # a peer never fails the model


def test_norse_is_identical_layer_by_layer_on_its_profile(tmp_path):
    pytest.importorskip("norse")
    report, _ = _run(_model("mlp", "lif", v_reset=0.0), "mlp", tmp_path, peers=("norse",))
    r = next(r for r in report.runtimes if r.runtime == "norse")
    assert r.reference == "folded" and len(r.layers) == len(report.firing_rates)
    assert r.verdict == "identical" and all(c.identical for c in r.layers) and r.prediction_agreement == 1.0


def test_hard_reset_export_of_a_soft_model_is_judged_approximate_not_exact(tmp_path):
    """The contract says exact: false (export-level approximation): nirsim vs folded must not be an exact
    row."""
    model = _model("mlp", "lif")
    x = _x("mlp", B=32)
    art = export_all(model, SHAPES["mlp"], x, tmp_path, T=x.shape[0])
    hard = to_nir(art.folded, SHAPES["mlp"], T=x.shape[0], soft_reset="hard", report=art.fold_report)
    report = verify(
        model,
        x,
        folded=art.folded,
        fold_exact=art.fold_report.exact,
        nir_graph=hard,
        peers=(),
        min_spike_agreement=0.5,
        max_accuracy_drop=100.0,
    )
    rows = {(r.runtime, r.reference): r for r in report.runtimes}
    assert rows[("nirsim", "folded")].expectation == APPROXIMATE
    assert rows[("nirsim", "source[torch]")].expectation == APPROXIMATE
    assert rows[("nirsim", "folded")].spike_agreement < 1.0 and report.passed


def test_report_files_and_stable_json_keys(tmp_path):
    model = _model("mlp", "lif", v_reset=0.0)
    x = _x("mlp", B=16)
    art = export_all(model, SHAPES["mlp"], x, tmp_path, T=x.shape[0])
    bad = _tamper(art.nir_graph, "threshold")
    report = verify(
        model,
        x,
        y=torch.zeros(16, dtype=torch.long),
        folded=art.folded,
        fold_exact=True,
        nir_graph=bad,
        peers=(),
    )
    paths = write_report(report, tmp_path / "rep")
    data = json.loads(paths["json"].read_text())
    assert set(data) >= {
        "format",
        "passed",
        "samples",
        "T",
        "policy",
        "source_accuracy",
        "firing_rates",
        "runtimes",
        "known_differences",
    }
    assert data["passed"] is False
    assert {
        "runtime",
        "reference",
        "expectation",
        "status",
        "spike_agreement",
        "first_divergence",
        "layers",
    } <= set(data["runtimes"][1])
    assert "FAILED" in paths["markdown"].read_text()
    for key in ("agreement", "raster_diff"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_installed_peer_is_reported_with_a_status(tmp_path):
    from snndeploy.verify.peers import KNOWN_DIFFERENCES, PEERS, load_findings

    report, _ = _run(_model("mlp", "lif", v_reset=0.0), "mlp", tmp_path, peers=tuple(PEERS))
    rows = {r.runtime: r for r in report.runtimes if r.expectation == INFORMATIONAL}
    assert set(rows) == set(PEERS)
    for name, r in rows.items():
        assert r.status in ("ok", "unavailable") and r.passed is None
        assert r.status == "ok" or r.reason, name  # an unavailable peer always says why
        assert r.verdict in ("identical", "differs", "unavailable")
        if r.verdict == "differs":
            assert r.reason.startswith("differs")
        if load_findings().get("peers", {}).get(name):
            assert KNOWN_DIFFERENCES[name]
    assert report.passed
