"""IAF (Speck / sinabs integrate-and-fire): hand-computed steps, an independent reference, the surrogate of
the spike count, bad parameters, the exporters, and Speck: on the chip grid the float model equals the
integer chip model (and sinabs' DynapcnnNetwork) spike for spike."""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
import torch
from torch import nn

from exporters.fold import fold
from exporters.nir import contract_of, read_nir, to_nir, write_nir
from exporters.onnx import export_onnx_step, run_onnx_step
from snndeploy.energy import count_ops
from snndeploy.energy.neuron_ops import neuron_ops
from snndeploy.errors import ExportError, InvalidParameterError, UnknownNameError
from snndeploy.filecheck import validate_onnx
from snndeploy.hardware.check import check_model
from snndeploy.hardware.chips.speck_iaf import SpeckIAF
from snndeploy.hardware.chips.speck_map import map_model
from snndeploy.hardware.handoff import chip_check
from snndeploy.hardware.views import neuron_view
from snndeploy.models.layers import TimeDistributed as TD
from snndeploy.neurons import IAF, IAFParams, get_impl, iaf_seq, make_neuron
from snndeploy.neurons.surrogate import Sigmoid, Triangle
from snndeploy.nirsim import simulate
from snndeploy.verify.margins import membrane_margin


def sinabs_reference(x: torch.Tensor, theta: float, cap: int | None, v_min: float | None):
    """sinabs 3.1.3's float forward written out again: v += x; n = (v > 0)·trunc(v/θ) (MaxSpike: clamp);
    v −= n·θ; v = relu(v − v_min) + v_min (float32, not the library's code)."""
    th = torch.tensor(theta, dtype=torch.float32)
    v = torch.zeros_like(x[0], dtype=torch.float32)
    out = []
    for t in range(x.shape[0]):
        v = v + x[t].float()
        n = (v > 0) * torch.div(v, th, rounding_mode="trunc")
        if cap is not None:
            n = torch.clamp(n, max=cap)
        v = v - n * th
        if v_min is not None:
            v = torch.relu(v - v_min) + v_min
        out.append(n)
    return torch.stack(out), v


# -- forward -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cap, v_min, counts, v_end",
    [
        (None, None, [0, 3, 0, 0, 0], -1.0),  # H: 0.5, 3.25 → 3 (V .25), .75, −2.25, −1.0
        (None, -1.0, [0, 3, 0, 0, 0], 0.25),  # the floor lifts −2.25 to −1: H = −1 + 1.25
        (2, None, [0, 2, 1, 0, 0], -1.0),  # 3.25 → 2 (V 1.25); 1.75 → 1 (V .75); −2.25; −1.0
        (1, None, [0, 1, 1, 0, 0], 0.0),  # 3.25 → 1 (V 2.25); 2.75 → 1 (V 1.75); −1.25; 0.0
    ],
)
def test_hand_computed_steps(cap, v_min, counts, v_end):
    x = torch.tensor([0.5, 2.75, 0.5, -3.0, 1.25]).reshape(5, 1, 1)
    s, st = iaf_seq(x, IAFParams(1.0, cap, v_min))
    assert s.flatten().tolist() == counts
    assert st.v.item() == v_end


def test_fires_at_the_threshold_and_counts_many_spikes():
    x = torch.tensor([[[0.75, 0.7499999, 1000.75 * 0.75, -5.0]]])
    s, st = iaf_seq(x, IAFParams(0.75))
    assert s.flatten().tolist() == [1.0, 0.0, 1000.0, 0.0]  # H ≥ θ fires (not >), floor(H/θ) spikes
    assert st.v.flatten().tolist()[:3] == [0.0, pytest.approx(0.7499999), pytest.approx(0.5625)]


@pytest.mark.parametrize("cap", [None, 1, 3])
@pytest.mark.parametrize("v_min", [None, -0.6, 0.0])
def test_equals_sinabs_float_forward(cap, v_min):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(40, 16, 9, generator=g) * 1.7 + 0.4
    s, st = iaf_seq(x, IAFParams(0.6, cap, v_min))
    s_ref, v_ref = sinabs_reference(x, 0.6, cap, v_min)
    assert torch.equal(s, s_ref) and torch.equal(st.v, v_ref)
    assert float(s.max()) > (1 if cap != 1 else 0)


def test_module_single_step_dtype_and_engine():
    x = torch.randn(12, 3, 5) * 2
    m = IAF(0.5, max_spikes=4, v_min=-0.5)
    multi = m(x)
    single = IAF(0.5, max_spikes=4, v_min=-0.5, step_mode="s")
    assert torch.equal(torch.stack([single(x[t]) for t in range(12)]), multi)
    bf = m(x.bfloat16())
    assert bf.dtype == torch.bfloat16 and torch.equal(bf.float(), m(x.bfloat16().float()))
    assert get_impl("iaf", "auto", "cpu") is iaf_seq
    assert isinstance(make_neuron("iaf", v_threshold=2.0), IAF)
    with pytest.raises(UnknownNameError, match="no 'numba' backend"):
        IAF(backend="numba")(x)


# -- surrogate gradient --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "h, cap, grad",
    [
        (2.25, None, 0.75 + 0.25),  # N = 2: tri(0.25) + tri(−0.75)
        (2.25, 2, 0.75),  # N + 1 = 3 > K: the step above is not there
        (0.5, None, 0.5),  # N = 0: only the first step, tri(−0.5)
        (1.25, 1, 0.75),  # binary: sg(H − θ)
        (-3.0, None, 0.0),
    ],
)
def test_spike_count_surrogate(h, cap, grad):
    x = torch.tensor([[[h]]], requires_grad=True)
    s, _ = iaf_seq(x, IAFParams(1.0, cap, None, surrogate=Triangle(1.0)))
    s.sum().backward()
    assert x.grad.item() == pytest.approx(grad)


def test_gradients_finite_and_nonzero_through_a_network():
    torch.manual_seed(0)
    model = nn.Sequential(TD(nn.Linear(6, 10)), IAF(1.0), TD(nn.Linear(10, 4)), IAF(1.0, max_spikes=2))
    x = torch.rand(8, 5, 6) * 2
    model(x).sum().backward()
    for p in model.parameters():
        assert torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0


def test_detach_reset_changes_only_the_gradient():
    x = torch.rand(6, 4, 3) * 3
    grads = []
    for detach in (False, True):
        xx = x.clone().requires_grad_(True)
        s, _ = iaf_seq(xx, IAFParams(1.0, None, -1.0, detach, Sigmoid()))
        s.sum().backward()
        grads.append((s.detach(), xx.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and not torch.equal(grads[0][1], grads[1][1])


# -- parameters ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"v_threshold": 0.0}, "v_threshold"),
        ({"v_threshold": math.nan}, "v_threshold"),
        ({"max_spikes": 0}, "max_spikes"),
        ({"max_spikes": 2.5}, "max_spikes"),
        ({"max_spikes": True}, "max_spikes"),
        ({"v_min": 0.5}, "v_min"),
        ({"v_min": math.inf}, "v_min"),
        ({"detach_reset": "yes"}, "detach_reset"),
        ({"tau": 2.0}, "tau"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, field):
    with pytest.raises(InvalidParameterError, match=field):
        make_neuron("iaf", **kwargs)


def test_bad_surrogate():
    with pytest.raises(UnknownNameError, match="surrogate"):
        IAF(surrogate="gauss")
    with pytest.raises(InvalidParameterError, match="surrogate"):
        IAFParams(surrogate="sigmoid")  # type: ignore[arg-type]


def test_speck_iaf_is_iaf_with_speck_defaults():
    m = SpeckIAF(0.75)
    assert isinstance(m, IAF) and m.params().max_spikes is None and m.params().v_min == -0.75
    x = torch.randn(20, 3, 4) * 2
    assert torch.equal(m(x), sinabs_reference(x, 0.75, None, -0.75)[0])
    with pytest.raises(InvalidParameterError, match="v_threshold"):
        SpeckIAF(-1.0)


# -- exporters -----------------------------------------------------------------------------------------------
def _model(**kw):
    torch.manual_seed(1)
    return nn.Sequential(TD(nn.Linear(5, 7)), IAF(0.5, **kw), TD(nn.Linear(7, 3))).eval()


def test_fold_keeps_the_neuron_exactly():
    model = _model(max_spikes=3)
    x = torch.rand(6, 4, 5) * 2
    folded, rep = fold(model, x)
    (rec,) = [r for r in rep.layers if r.source == "IAF"]
    assert rec.rule == "iaf.identity" and rec.exact and rec.spike_agreement == 1.0
    assert isinstance(folded[1], IAF) and rec.params["max_spikes"] == 3
    with torch.no_grad():
        assert torch.equal(folded(x), model(x))


def test_nir_if_node_with_its_record_runs_exactly_in_nirsim(tmp_path):
    model = _model(v_min=-0.5)
    x = torch.rand(7, 6, 5) * 3
    g = to_nir(model, (5,), dt=1e-3)
    node = g.nodes["layer_1"]
    assert isinstance(node, nir.IF) and np.allclose(node.r * 1e-3, 1.0)
    layer = contract_of(g)["layers"][0]
    assert layer["exact"] and "multi-spike" in layer["nir_semantics"] and "floor" in layer["nir_semantics"]
    write_nir(tmp_path / "m.nir", g)
    with torch.no_grad():
        assert torch.equal(simulate(read_nir(tmp_path / "m.nir"), x), model(x))
    node.v_threshold = node.v_threshold * 2  # edited after export: refused, naming the node
    with pytest.raises(ExportError, match="layer_1.*edited after export"):
        simulate(g, x)


def test_onnx_step_equals_the_model(tmp_path):
    import onnxruntime as ort

    model = _model(max_spikes=2, v_min=-1.0)
    c = export_onnx_step(model, tmp_path / "m.onnx", (5,))
    validate_onnx(tmp_path / "m.onnx")  # only the operators snndeploy's files may hold
    x = torch.randn(9, 300, 5) * 2
    out = run_onnx_step(ort.InferenceSession(str(tmp_path / "m.onnx")), x, c)
    with torch.no_grad():
        spikes = model[1](model[0](x))
    np.testing.assert_array_equal(out["layer_1.spikes"], spikes.numpy())
    assert spikes.max() == 2


def test_membrane_margin_is_h_minus_theta_once_per_step():
    x = torch.tensor([0.5, 2.75, 0.5]).reshape(3, 1, 1)
    z = membrane_margin(IAF(1.0), x)
    assert z.flatten().tolist() == [-0.5, 2.25, -0.25]  # H − θ with H = 0.5, 3.25, 0.75


def test_energy_counts_spiking_updates():
    ops = neuron_ops(IAF(max_spikes=None, v_min=-1.0))
    assert (ops.states, ops.per_step, ops.per_spike) == (1, {"add": 1, "compare": 2}, {"mult": 2, "add": 1})
    assert neuron_ops(IAF(max_spikes=1)).per_spike == {"add": 1}
    x = torch.randn(5, 3, 7) * 3
    neuron = IAF(0.5)
    s = neuron(x)
    (layer,) = count_ops(nn.Sequential(neuron), x).layers
    assert layer.spikes == int((s != 0).sum()) < int(s.sum())
    assert sum(layer.ops.values()) == 2 * x.numel() + 3 * layer.spikes


# -- Speck ---------------------------------------------------------------------------------------------------
def speck_model(seed: int = 3) -> nn.Sequential:
    """Weights q/128 (int8 q, one at 127: sinabs' scale is 128 exactly), θ and V_min multiples of 1/128."""
    g = torch.Generator().manual_seed(seed)
    conv, fc = nn.Conv2d(2, 4, 3, bias=False), nn.Linear(4 * 2 * 2, 5, bias=False)
    with torch.no_grad():
        for m in (conv, fc):
            m.weight.copy_(torch.randint(-127, 128, m.weight.shape, generator=g).float() / 128)
            m.weight.view(-1)[0] = 127 / 128
    return nn.Sequential(TD(conv), IAF(0.75, v_min=-0.75), TD(nn.AvgPool2d(2, divisor_override=1)),
                         TD(nn.Flatten()), TD(fc), IAF(0.625, v_min=-0.625)).eval()


def speck_input(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 4, (30, 6, 2, 6, 6), generator=torch.Generator().manual_seed(seed)).float()


def test_speck_float_model_equals_the_integer_chip_model():
    model, x = speck_model(), speck_input()
    res = chip_check(model, "speck", x, vendor=False)
    assert res.error is None and res.agreement.spike_agreement == 1.0
    assert [la.first_divergence for la in res.agreement.layers] == [None, None]
    assert all(la.rate_float > 0.5 for la in res.agreement.layers)  # multi-spike counts, not a silent net
    with torch.no_grad():
        assert float(model[:2](x).max()) > 1


def test_speck_vendor_agrees(vendor_python):
    vendor_python("sinabs")
    res = chip_check(speck_model(), "speck", speck_input(), vendor=True)
    assert res.agreement.spike_agreement == 1.0
    assert res.vendor.ran and res.vendor.mismatches == 0 and res.vendor.spikes > 0


def test_speck_mapping_notes_for_a_cap_and_no_floor():
    model = speck_model()
    model[1] = IAF(0.75, max_spikes=1, v_min=-0.75)
    model[5] = IAF(0.625)
    m = map_model(model, speck_input())
    assert any(n.layer == "1" and "max_spikes = 1" in n.message and n.severity == "warning" for n in m.notes)
    assert any(n.layer == "5" and "without v_min" in n.message for n in m.notes)
    assert m.network.layers[1].min_v_mem == -(2**15)
    res = chip_check(model, "speck", speck_input(), vendor=False)
    assert res.agreement.layers[0].agreement < 1.0  # the float layer caps where the chip does not


def test_hw_check_speck_accepts_iaf_and_refuses_a_leaky_lif():
    from snndeploy.neurons import LIF

    rep = check_model(speck_model(), "speck")
    assert not [v for v in rep.errors if v.rule.startswith("neuron")]
    assert neuron_view(IAF(2.0)).decay == 1.0 and neuron_view(IAF(2.0)).reset == "subtract"
    leaky = speck_model()
    leaky[1] = LIF(tau=2.0, v_reset=None)
    assert [v.rule for v in check_model(leaky, "speck").errors if v.layer == "1"] == ["neuron.model"]
