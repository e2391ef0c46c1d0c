"""NIR export: file → nir.read → nirsim equals the folded model exactly (and the source for exact
folds)."""

import json

import nir
import numpy as np
import pytest
import torch
from torch import nn

from exporters.fold import fold
from exporters.fold.calibration import capture
from exporters.nir import contract_of, read_nir, to_nir, write_nir
from exporters.zoo import KINDS, input_shape_of, tiny_model
from snndeploy.errors import ExportError
from snndeploy.models.layers import TimeDistributed
from snndeploy.models.tree import neuron_paths
from snndeploy.neurons import CLIF, LIF
from snndeploy.nirsim import layer_spikes, simulate

NEURONS = {
    "lif_soft": ("lif", {}),
    "lif_hard": ("lif", {"v_reset": 0.0}),
    "lif_decay_input": ("lif", {"decay_input": True, "tau": 1.5, "v_reset": -0.1}),
    "klif": ("klif", {"decay_input": False}),
    "clif": ("clif", {}),
    "ilif": ("ilif", {}),
    "iaf": ("iaf", {}),
    "iaf_binary_floor": ("iaf", {"max_spikes": 1, "v_min": -0.5}),
    "cubalif_xylo": ("cubalif", {}),
    "cubalif_loihi": ("cubalif", {"flavour": "loihi", "bias": 0.1}),
}


def _x(kind, T=5, B=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, *input_shape_of(kind), generator=g) * 3


def _node_spikes(graph_out, folded, x):
    """(nirsim per-node values, folded model per-layer spikes)."""
    paths = [p for p, _ in neuron_paths(folded)]
    with torch.no_grad(), capture(folded, paths) as st:
        y = folded(x)
    return y, dict(st)


@pytest.mark.parametrize("kind,flat", [(k, False) for k in KINDS] + [("residual", True)])
@pytest.mark.parametrize("name", list(NEURONS))
def test_nir_file_round_trip_equals_folded_model(tmp_path, name, kind, flat):
    neuron, kw = NEURONS[name]
    model = tiny_model(kind, neuron, batch_norm=(name != "lif_hard"), **kw)
    x = _x(kind)
    folded, report = fold(model, x)
    graph = to_nir(folded, input_shape_of(kind), dt=1e-3, T=x.shape[0], flat=flat, report=report)
    path = tmp_path / "model.nir"
    write_nir(path, graph)
    loaded = read_nir(path)
    y_sim, values = simulate(loaded, x, record=True)
    y_fold, spikes = _node_spikes(None, folded, x)
    assert torch.equal(y_sim, y_fold)
    contract = contract_of(loaded)
    assert (
        contract["dt"] == 1e-3
        and contract["T"] == x.shape[0]
        and contract["residual"] == ("flat" if flat else "nested")
    )
    sim_spikes = layer_spikes(loaded, values)
    assert set(sim_spikes) == set(spikes)
    for p, s in spikes.items():
        assert torch.equal(sim_spikes[p], s), p
    assert sum(float(s.sum()) for s in spikes.values()) > 0
    if name in ("lif_soft", "lif_decay_input"):
        assert contract["exact"]
    if report.exact and name == "lif_hard":  # exact folds (no BatchNorm): equal to the source model too
        with torch.no_grad():
            assert torch.equal(y_sim, model(x))


def test_soft_reset_is_an_li_threshold_scale_cycle_with_metadata():
    model = nn.Sequential(TimeDistributed(nn.Linear(4, 5)), LIF(tau=2.0, v_threshold=0.8))
    folded, _ = fold(model)
    g = to_nir(folded, (4,), dt=1e-3)
    kinds = {k: type(v).__name__ for k, v in g.nodes.items()}
    assert kinds == {
        "input": "Input",
        "layer_0": "Affine",
        "layer_1_li": "LI",
        "layer_1_thr": "Threshold",
        "layer_1_reset": "Scale",
        "output": "Output",
    }
    assert ("layer_1_reset", "layer_1_li") in g.edges
    np.testing.assert_allclose(g.nodes["layer_1_reset"].scale, -0.5 * 0.8, rtol=1e-6)  # −β·θ
    np.testing.assert_allclose(g.nodes["layer_1_li"].tau, 2e-3, rtol=1e-6)  # τ·dt
    np.testing.assert_allclose(g.nodes["layer_1_li"].r, 2.0, rtol=1e-6)  # r = τ
    assert g.nodes["layer_1_thr"].threshold[0] == np.nextafter(np.float32(0.8), np.float32(-1))
    meta = json.loads(g.nodes["layer_1_li"].metadata["snndeploy"])
    assert meta["source"] == "LIF" and meta["exact"] and meta["spec"]["reset"] == "soft"
    assert "previous step" in contract_of(g)["cycle_semantics"]


def test_threshold_ties_fire_identically_through_nir(tmp_path):
    lin = nn.Linear(1, 3, bias=False)
    lin.weight.data = torch.tensor([[1.0], [0.5], [0.25]])
    model = nn.Sequential(
        TimeDistributed(lin), LIF(tau=2.0, v_threshold=1.0, v_reset=0.0), TimeDistributed(nn.Identity())
    )
    x = torch.tensor([1.0, 2.0, 0.0, 4.0, 2.0]).view(5, 1, 1)  # H hits 1.0 exactly on several steps
    folded, _ = fold(model)
    write_nir(tmp_path / "t.nir", to_nir(folded, (1,)))
    y_sim = simulate(read_nir(tmp_path / "t.nir"), x)
    with torch.no_grad():
        y = model(x)
    assert torch.equal(y_sim, y) and y.sum() >= 3


def test_hard_reset_export_of_soft_neurons_is_marked_approximate():
    folded, _ = fold(tiny_model("mlp", "lif"))
    g = to_nir(folded, input_shape_of("mlp"), soft_reset="hard")
    c = contract_of(g)
    assert not c["exact"] and all("hard" in layer["export"] for layer in c["layers"])
    assert all(type(n).__name__ != "LI" for n in g.nodes.values())


def test_nir_read_accepts_the_file_without_our_reader(tmp_path):
    folded, _ = fold(tiny_model("residual", "lif"))
    write_nir(tmp_path / "r.nir", to_nir(folded, input_shape_of("residual")))
    g = nir.read(tmp_path / "r.nir")
    assert any(isinstance(n, nir.NIRGraph) for n in g.nodes.values())


@pytest.mark.parametrize(
    "model,shape,match",
    [
        (
            nn.Sequential(TimeDistributed(nn.Linear(3, 4)), CLIF()),
            (3,),
            r"layer 1: no NIR mapping for CLIF \(fold it first",
        ),
        (
            nn.Sequential(TimeDistributed(nn.Linear(3, 4)), TimeDistributed(nn.BatchNorm1d(4))),
            (3,),
            "layer 1: .*BatchNorm1d",
        ),
        (nn.Sequential(TimeDistributed(nn.Linear(3, 4)), LIF()), (5,), "layer 0: shape mismatch"),
        (nn.Sequential(TimeDistributed(nn.Conv2d(2, 4, 3)), LIF()), (3, 8, 8), "layer 0: shape mismatch"),
        (
            nn.Sequential(TimeDistributed(nn.Linear(3, 4)), nn.Tanh()),
            (3,),
            "layer 1: unsupported module Tanh",
        ),
    ],
)
def test_bad_models_are_refused_naming_the_layer_and_leave_no_file(tmp_path, model, shape, match):
    with pytest.raises(ExportError, match=match):
        write_nir(tmp_path / "bad.nir", to_nir(model, shape))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    folded, _ = fold(tiny_model("mlp", "lif"))
    g = to_nir(folded, input_shape_of("mlp"))

    def boom(path, graph):
        open(path, "wb").write(b"partial")
        raise ValueError("disk full")

    monkeypatch.setattr(nir, "write", boom)
    with pytest.raises(ExportError, match="disk full"):
        write_nir(tmp_path / "m.nir", g)
    assert list(tmp_path.iterdir()) == []
