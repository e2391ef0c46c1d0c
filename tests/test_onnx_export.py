"""ONNX export: the step model (any T) and the unrolled model equal the source model exactly in
onnxruntime."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from exporters.fold import fold
from exporters.fold.calibration import capture
from exporters.onnx import MIN_OPSET, export_onnx_step, export_onnx_unrolled, prepare, run_onnx_step
from exporters.zoo import input_shape_of, tiny_model
from snndeploy.errors import ExportError
from snndeploy.models.layers import TimeDistributed
from snndeploy.models.tree import neuron_paths
from snndeploy.neurons import LIF

CASES = [("mlp", "lif", {}), ("mlp", "lif", {"v_reset": 0.0}), ("conv", "klif", {"decay_input": False}),
         ("mlp", "klif", {}), ("residual", "clif", {}), ("mlp", "clif", {}), ("conv", "ilif", {}),
         ("residual", "lif", {"v_reset": -0.1, "decay_input": True, "tau": 1.5}),
         ("conv", "iaf", {}), ("mlp", "iaf", {"max_spikes": 3, "v_min": -1.0}), ("residual", "cubalif", {}),
         ("mlp", "cubalif", {"flavour": "loihi", "bias": 0.25}),
         ("mlp", "cubalif", {"alpha": 0.5, "beta": 0.75, "lsb": 2.0**-8}),
         ("mlp", "cubalif", {"flavour": "loihi", "alpha": 0.5, "beta": 0.75, "lsb": 2.0**-8})]


def _x(kind, T, B, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, *input_shape_of(kind), generator=g) * 3


def _torch_run(model, x):
    """(output, {"layer_<path>.spikes": spikes}) of the torch model."""
    paths = [p for p, _ in neuron_paths(model)]
    with torch.no_grad(), capture(model, paths) as st:
        y = model(x)
    return y.numpy(), {"layer_" + p.replace(".", "_") + ".spikes": st[p].numpy() for p in paths}


def _assert_same(onnx_out: dict, y_ref, spikes_ref, require_spikes: bool = True):
    """Spikes exactly; the real-valued output to float32 GEMM rounding (an ulp or two)."""
    for name, s in spikes_ref.items():
        np.testing.assert_array_equal(onnx_out[name], s, err_msg=name)
    np.testing.assert_allclose(onnx_out["y"], y_ref, rtol=1e-5, atol=1e-5)
    assert not require_spikes or sum(float(s.sum()) for s in spikes_ref.values()) > 0


@pytest.mark.parametrize("kind,neuron,kw", CASES, ids=[f"{k}-{n}-{i}" for i, (k, n, _) in enumerate(CASES)])
def test_step_and_unrolled_equal_the_source_model(tmp_path, kind, neuron, kw):
    model = tiny_model(kind, neuron, batch_norm=(kind != "mlp"), **kw)
    shape = input_shape_of(kind)
    contract = export_onnx_step(model, tmp_path / "step.onnx", shape)
    export_onnx_unrolled(model, tmp_path / "unrolled.onnx", shape, T=4)
    ref_model = prepare(model)  # BatchNorm folded (the exact reference); the neurons are the source's
    step = ort.InferenceSession(str(tmp_path / "step.onnx"))
    unrolled = ort.InferenceSession(str(tmp_path / "unrolled.onnx"))
    names = [o.name for o in unrolled.get_outputs()]
    n_inputs = 0
    for seed, B in enumerate((1, 37, 500 if kind == "mlp" else 250)):
        x = _x(kind, 7, B, seed)  # T = 7 for the step model (no T at export)
        y_ref, spikes_ref = _torch_run(ref_model, x)
        out = run_onnx_step(step, x, contract)
        _assert_same(out, y_ref, spikes_ref)
        if kind == "mlp":  # no BatchNorm: the reference is the source model itself
            _assert_same(out, *_torch_run(model, x))
        x4 = x[:4]
        _assert_same(dict(zip(names, unrolled.run(None, {"x": x4.numpy()}), strict=True)),
                     *_torch_run(ref_model, x4))
        n_inputs += B
    assert n_inputs >= 288


def test_a_thousand_random_inputs_agree_exactly_for_every_neuron(tmp_path):
    for neuron in ("lif", "klif", "clif", "ilif", "iaf", "cubalif"):
        model = tiny_model("mlp", neuron, batch_norm=False)
        c = export_onnx_step(model, tmp_path / f"{neuron}.onnx", (6,))
        sess = ort.InferenceSession(str(tmp_path / f"{neuron}.onnx"))
        x = torch.randn(9, 1000, 6) * 2
        _assert_same(run_onnx_step(sess, x, c), *_torch_run(model, x))


def test_files_pass_the_checker_and_carry_names_and_contract(tmp_path):
    model = tiny_model("residual", "clif")
    c = export_onnx_step(model, tmp_path / "s.onnx", (2, 8, 8))
    proto = onnx.load(str(tmp_path / "s.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= MIN_OPSET
    names = [i.name for i in proto.graph.input]
    assert names == c["inputs"] and names[0] == "x" and "layer_2.u" in names and "layer_2.m" in names
    assert [o.name for o in proto.graph.output] == c["outputs"] and "layer_2.u_next" in c["outputs"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["snndeploy_contract"])
    assert meta["neurons"]["2"] == "CLIF" and meta["kind"] == "step"


def test_unrolled_model_refuses_another_T(tmp_path):
    model = tiny_model("mlp", "lif")
    export_onnx_unrolled(model, tmp_path / "u.onnx", (6,), T=3)
    sess = ort.InferenceSession(str(tmp_path / "u.onnx"))
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime raises its own error types
        sess.run(None, {"x": np.zeros((5, 2, 6), np.float32)})


def test_folded_models_export_too(tmp_path):
    model = tiny_model("conv", "clif")
    x = _x("conv", 6, 20, 3)
    folded, _ = fold(model, x)
    c = export_onnx_step(folded, tmp_path / "f.onnx", (2, 8, 8))
    _assert_same(run_onnx_step(ort.InferenceSession(str(tmp_path / "f.onnx")), x, c), *_torch_run(folded, x))


def test_bad_input_leaves_no_file(tmp_path):
    bad = nn.Sequential(TimeDistributed(nn.Linear(3, 4)), nn.Softplus())
    with pytest.raises(ExportError, match="layer 1: unsupported module Softplus"):
        export_onnx_step(bad, tmp_path / "b.onnx", (3,))
    with pytest.raises(ExportError, match="T must be"):
        export_onnx_unrolled(nn.Sequential(LIF()), tmp_path / "b.onnx", (3,), T=0)
    with pytest.raises(ExportError, match="opset"):
        export_onnx_step(nn.Sequential(LIF()), tmp_path / "b.onnx", (3,), opset=11)
    with pytest.raises(ExportError, match="b.onnx: shape mismatch"):
        export_onnx_step(nn.Sequential(TimeDistributed(nn.Linear(3, 4))), tmp_path / "b.onnx", (5,))
    assert list(tmp_path.iterdir()) == []


_NEURONS = ["lif", "clif", "klif", "ilif"]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(neuron=st.sampled_from(_NEURONS), hidden=st.lists(st.integers(1, 7), min_size=1, max_size=2),
       tau=st.floats(1.1, 4.0), seed=st.integers(0, 1000))
def test_hypothesis_models_agree_in_onnxruntime(tmp_path, neuron, hidden, tau, seed):
    from snndeploy.neurons import make_neuron

    torch.manual_seed(seed)
    layers, n = [], 3
    for h in hidden:
        layers += [TimeDistributed(nn.Linear(n, h)), make_neuron(neuron, tau=tau)]
        n = h
    model = nn.Sequential(*layers, TimeDistributed(nn.Linear(n, 2))).eval()
    path = tmp_path / f"h{seed}.onnx"
    c = export_onnx_step(model, path, (3,))
    x = torch.rand(6, 50, 3) * 4
    _assert_same(run_onnx_step(ort.InferenceSession(str(path)), x, c), *_torch_run(model, x),
                 require_spikes=False)
