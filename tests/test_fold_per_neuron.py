"""Per-neuron reset parameters: LIFSpec arrays, per-channel/per-neuron calibration (never more mismatches on
the calibration data than per layer), exact runs in nirsim and onnxruntime, ``"auto"`` granularity, typed
errors."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from exporters.fold import fold
from exporters.fold.calibration import LayerData, capture, capture_inputs, choose_per_neuron
from exporters.lifspec import FoldedLIF, LIFSpec, format_value, spec_seq
from exporters.nir import read_nir, to_nir, write_nir
from exporters.onnx import export_onnx_step, run_onnx_step
from exporters.zoo import input_shape_of, tiny_model
from snndeploy.errors import ExportError
from snndeploy.models.layers import TimeDistributed
from snndeploy.models.tree import get_module, neuron_paths
from snndeploy.nirsim import layer_spikes, simulate


def _x(kind: str, T: int = 8, B: int = 48, seed: int = 0, scale: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, *input_shape_of(kind), generator=g) * scale


def _spikes(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    paths = [p for p, _ in neuron_paths(model)]
    with torch.no_grad(), capture(model, paths) as st:
        y = model(x)
    return y, dict(st)


# LIFSpec with per-neuron arrays
# -------------------------------------------------------------------------------


def test_per_neuron_spec_equals_one_scalar_spec_per_neuron():
    """Independent reference: neuron i of the array spec runs exactly like a scalar spec with value i."""
    c = np.array([1.2, 1.5, 1.731, 2.0, 0.9], np.float32)
    vr = np.array([0.0, -0.3, -0.5, 0.2, -1.0], np.float32)
    x = torch.rand(20, 33, 5) * 2.5
    for kind, field, values in (("soft", "reset_amount", c), ("hard", "v_reset", vr)):
        spec = LIFSpec(2.5, False, 0.0, 1.0, kind, **{field: values})
        assert spec.per_neuron == (field,)
        s, v = spec_seq(x, spec)
        for i, value in enumerate(values):
            ref = LIFSpec(2.5, False, 0.0, 1.0, kind, **{field: float(value)})
            s_i, v_i = spec_seq(x[..., i : i + 1], ref)
            assert torch.equal(s[..., i : i + 1], s_i) and torch.equal(v[..., i : i + 1], v_i), (kind, i)
        assert 0 < s.mean() < 1


def test_uniform_array_gives_the_scalar_spikes_bit_for_bit():
    x = torch.rand(12, 16, 3, 4) * 3
    scalar = LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=1.7310586)
    array = LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=np.full((3, 1), np.float32(1.7310586)))
    s0, v0 = spec_seq(x, scalar)
    s1, v1 = spec_seq(x, array)
    assert torch.equal(s0, s1) and torch.equal(v0, v1)


def test_scalar_specs_keep_their_types_and_arrays_round_trip_through_json():
    scalar = LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=1.5)
    assert scalar.per_neuron == () and isinstance(scalar.reset_amount, float)
    assert scalar.to_dict()["reset_amount"] == 1.5 and LIFSpec.from_dict(scalar.to_dict()) == scalar
    arr = LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=[[1.1, 1.7310586], [1.9, 2.0]])
    back = LIFSpec.from_dict(json.loads(arr.to_json()))
    assert back == arr and hash(back) == hash(arr) and back != scalar
    assert back.reset_amount.dtype == np.float32 and not back.reset_amount.flags.writeable
    assert np.array_equal(back.reset_amount, np.array([[1.1, 1.7310586], [1.9, 2.0]], np.float32))
    assert "per-neuron [2, 2]" in format_value(arr.reset_amount) and format_value(1.5) == "1.5"
    assert LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=1.0).subtracts_threshold
    assert not arr.subtracts_threshold


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"reset_amount": [1.0, float("nan")]}, "reset_amount.*finite"),
        ({"reset_amount": np.array(1.0)}, "reset_amount.*ndim"),
        ({"reset_amount": []}, "reset_amount.*non-empty"),
        ({"v_reset": "low"}, "v_reset"),
        ({"tau": [2.0, 3.0]}, "tau must be a finite number"),
        ({"v_threshold": np.ones(3)}, "v_threshold must be a finite number"),
    ],
)
def test_bad_per_neuron_values_are_refused_naming_the_field(kwargs, match):
    base = {"tau": 2.0, "decay_input": False, "v_rest": 0.0, "v_threshold": 1.0, "reset": "soft"}
    with pytest.raises(ExportError, match=match):
        LIFSpec(**{**base, **kwargs})


def test_a_per_neuron_array_of_the_wrong_shape_names_the_layer():
    spec = LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=np.ones(5, np.float32) * 1.5)
    with pytest.raises(ExportError, match="layer 1: per-neuron reset_amount of shape \\[5\\]"):
        spec.check_shape((4,), "1")
    spec.check_shape((3, 5), "1")  # broadcasts
    model = nn.Sequential(TimeDistributed(nn.Linear(3, 4)), FoldedLIF(spec, fold_info={"layer": "1"}))
    with pytest.raises(ExportError, match="layer 1: per-neuron"):
        model(torch.rand(2, 3, 3))
    with pytest.raises(ExportError, match="layer 1: per-neuron"):
        to_nir(model, (3,), dt=1e-3)


# calibration
# --------------------------------------------------------------------------------------------------


def test_choose_per_neuron_breaks_ties_towards_the_layer_choice():
    counts = torch.tensor([[3, 0, 5], [3, 2, 1], [4, 0, 1]])  # G = 3 candidates, 3 neurons
    index, total = choose_per_neuron(counts, [1.0, 1.5, 2.0], layer_choice=1, granularity="neuron")
    assert (
        index.tolist() == [1, 0, 1] and total == 3 + 0 + 1
    )  # neuron 2: tie 1 vs 2 → candidate 1 (the layer's)
    counts = torch.tensor([[[[3]], [[0]]], [[[1]], [[1]]]]).expand(2, 2, 2, 3)  # [G, C, H, W]
    index, total = choose_per_neuron(counts, [1.0, 2.0], layer_choice=0, granularity="channel")
    assert index.shape == (2, 1, 1) and index.flatten().tolist() == [1, 0] and total == 6 + 0


@pytest.mark.parametrize(
    "kind,neuron", [("mlp", "clif"), ("conv", "clif"), ("mlp", "ilif"), ("conv", "ilif")]
)
@pytest.mark.parametrize("granularity", ["channel", "neuron"])
def test_finer_calibration_never_has_more_mismatches_on_the_calibration_data(kind, neuron, granularity):
    """Recounted independently: each folded layer's spikes on the inputs calibration saw, against the
    source's."""
    model = tiny_model(kind, neuron, batch_norm=False)
    x = _x(kind)
    folded, report = fold(model, x, granularity=granularity)
    _, target = _spikes(model, x)
    strictly_better = 0
    for path, _ in neuron_paths(folded):
        rec = report.for_layer(path)
        pn = rec.extra["per_neuron"]
        xin = capture_inputs(folded, x, [path])[path]
        mism = int((spec_seq(xin, get_module(folded, path).spec)[0] != target[path]).sum())
        layer_spec = LIFSpec.from_dict(
            next(c for c in rec.extra["candidates"] if c["rule"] == pn["layer_choice"])
        )
        layer_mism = int((spec_seq(xin, layer_spec)[0] != target[path]).sum())
        assert mism == pn["mismatches"] and layer_mism == pn["layer_mismatches"]
        assert mism <= layer_mism, path
        strictly_better += mism < layer_mism
        assert (pn["changed"] > 0) == bool(get_module(folded, path).spec.per_neuron) or mism == layer_mism
    if granularity == "neuron":
        assert strictly_better >= 1  # the test data is rich enough for per-neuron choice to matter


def test_first_layer_per_neuron_choice_is_at_least_as_good_as_any_per_layer_candidate():
    """On one layer's own data (no upstream effect): per-neuron ≤ every per-layer candidate, recounted."""
    from exporters.fold.rules import fold_clif

    model = tiny_model("conv", "clif", batch_norm=False)
    x = _x("conv")
    path = next(iter(neuron_paths(model)))[0]
    xin = capture_inputs(model, x, [path])[path]
    module = get_module(model, path)
    with torch.no_grad():
        target = module(xin)
    data = LayerData(xin, target, target, granularity="neuron")
    new, rec = fold_clif(module, path, data)
    mism = int((new(xin) != target).sum())
    for cand in rec.extra["candidates"]:
        assert mism <= int((spec_seq(xin, LIFSpec.from_dict(cand))[0] != target).sum()), cand["rule"]


# exact runtimes
# ------------------------------------------------------------------------------------------------


def _per_neuron_model(kind: str, neuron: str) -> tuple[nn.Module, torch.Tensor]:
    model = tiny_model(kind, neuron, batch_norm=True)
    x = _x(kind, T=6, B=40, seed=3)
    folded, _ = fold(model, x, granularity="neuron")
    assert any(m.spec.per_neuron for _, m in neuron_paths(folded)), "the test needs per-neuron parameters"
    return folded, x


def _hard_per_neuron_model() -> nn.Sequential:
    torch.manual_seed(0)
    vr = (torch.rand(4, 1, 1) - 0.8).numpy()
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)),
        FoldedLIF(LIFSpec(2.0, False, 0.0, 1.0, "hard", v_reset=vr)),
        TimeDistributed(nn.Flatten()),
        TimeDistributed(nn.Linear(4 * 8 * 8, 5)),
        FoldedLIF(
            LIFSpec(3.0, True, 0.0, 0.5, "soft", reset_amount=np.linspace(0.3, 0.9, 5, dtype=np.float32))
        ),
    ).eval()


@pytest.mark.parametrize("case", ["conv-clif", "mlp-ilif", "residual-clif", "hard-and-soft"])
@pytest.mark.parametrize("flat", [False, True])
def test_per_neuron_fold_runs_identically_in_nirsim(tmp_path, case, flat):
    if case == "hard-and-soft":
        folded, x, shape = _hard_per_neuron_model(), _x("conv", T=6, B=40, seed=4), (2, 8, 8)
    else:
        kind, neuron = case.split("-")
        (folded, x), shape = _per_neuron_model(kind, neuron), input_shape_of(kind)
    graph = to_nir(folded, shape, dt=1e-3, T=x.shape[0], flat=flat)
    write_nir(tmp_path / "m.nir", graph)
    loaded = read_nir(tmp_path / "m.nir")
    y_sim, values = simulate(loaded, x, record=True)
    y_fold, spikes = _spikes(folded, x)
    assert torch.equal(y_sim, y_fold)
    sim_spikes = layer_spikes(loaded, values)
    for p, s in spikes.items():
        assert torch.equal(sim_spikes[p], s), p
    assert sum(float(s.sum()) for s in spikes.values()) > 0


@pytest.mark.parametrize("case", ["conv-clif", "mlp-ilif", "hard-and-soft"])
def test_per_neuron_fold_runs_identically_in_onnxruntime(tmp_path, case):
    if case == "hard-and-soft":
        folded, x, shape = _hard_per_neuron_model(), _x("conv", T=7, B=40, seed=5), (2, 8, 8)
    else:
        kind, neuron = case.split("-")
        (folded, x), shape = _per_neuron_model(kind, neuron), input_shape_of(kind)
    contract = export_onnx_step(folded, tmp_path / "f.onnx", shape)
    out = run_onnx_step(ort.InferenceSession(str(tmp_path / "f.onnx")), x, contract)
    y, spikes = _spikes(folded, x)
    for p, s in spikes.items():
        np.testing.assert_array_equal(out["layer_" + p.replace(".", "_") + ".spikes"], s.numpy(), err_msg=p)
    np.testing.assert_allclose(out["y"], y.numpy(), rtol=1e-5, atol=1e-5)


# auto granularity and bad input
# ---------------------------------------------------------------------------------


def test_auto_granularity_decides_on_held_out_samples_and_records_it():
    model = tiny_model("mlp", "clif", batch_norm=False)
    x = _x("mlp", B=64)
    folded, report = fold(model, x, granularity="auto")
    sel = report.metrics["granularity"]
    assert sel["mode"] == "auto" and sel["fit_samples"] == 48 and sel["holdout_samples"] == 16
    scores = sel["holdout_agreement"]
    best = max(scores.values())
    assert scores[sel["chosen"]] == best
    assert all(
        scores[g] < best
        for g in ("layer", "channel", "neuron")[: ("layer", "channel", "neuron").index(sel["chosen"])]
    )  # a finer granularity must win strictly
    again, _ = fold(model, x, granularity=sel["chosen"])
    for (_, a), (_, b) in zip(neuron_paths(folded), neuron_paths(again), strict=True):
        assert a.spec == b.spec
    few = fold(model, x[:, :5], granularity="auto")[1].metrics["granularity"]
    assert few["chosen"] == "layer" and "5 calibration samples" in few["reason"]
    assert "granularity" not in fold(model, granularity="auto")[1].metrics  # no data: nothing to decide
    assert not any(m.spec.per_neuron for _, m in neuron_paths(fold(model, x)[0]))  # the default: per layer


@pytest.mark.parametrize(
    "data,kwargs,match",
    [
        ([[1.0]], {}, "floating tensor"),
        (torch.ones(4, 8, 6, dtype=torch.int64), {}, "floating tensor"),
        (torch.ones(8, 6), {}, "floating tensor"),
        (torch.ones(4, 0, 6), {}, "at least one sample"),
        (torch.full((4, 8, 6), float("nan")), {}, "NaN"),
        (torch.ones(4, 8, 6), {"granularity": "synapse"}, "granularity"),
        (torch.ones(4, 8, 6), {"holdout": 1.0}, "holdout"),
        (torch.ones(4, 8, 6), {"holdout": True}, "holdout"),
    ],
)
def test_bad_calibration_input_gets_typed_errors(data, kwargs, match):
    model = tiny_model("mlp", "clif", batch_norm=False)
    with pytest.raises(ExportError, match=match):
        fold(model, data, **kwargs)


def test_layer_data_checks_its_shapes_and_granularity():
    x = torch.rand(4, 3, 5)
    with pytest.raises(ExportError, match="granularity"):
        LayerData(x, x, x, granularity="synapse")
    with pytest.raises(ExportError, match="must both be"):
        LayerData(x, x[:, :2], x)
