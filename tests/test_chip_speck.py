"""Integer Speck model (sinabs DYNAP-CNN arithmetic): hand-computed rules, an independent loop reference,
sinabs' discretisation rule, the mapping from float models, the NIR writer, and typed errors for bad input.

The cross-check against sinabs' own ``DynapcnnNetwork`` (vendor venv) is in ``test_chip_speck_vendor.py``.
"""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snndeploy.errors import InvalidInputError, InvalidParameterError, ResourceLimitError
from snndeploy.hardware.chips import ChipMappingError, get_chip
from snndeploy.hardware.chips.speck import SpeckLayer, SpeckNetwork, iaf_multispike, sum_pool
from snndeploy.hardware.chips.speck_fuzz import random_case
from snndeploy.hardware.chips.speck_iaf import SpeckIAF
from snndeploy.hardware.chips.speck_map import compare_mapping, encode_events, map_model
from snndeploy.hardware.chips.speck_nir import network_to_nir, read_nir, to_sinabs_nir, write_artifacts
from snndeploy.hardware.chips.speck_scale import discretization_scale, discretize, tensor_scale
from snndeploy.hardware.chips.speck_vendor import on_grid_edge
from snndeploy.models.layers import Residual
from snndeploy.models.layers import TimeDistributed as TD
from snndeploy.neurons import LIF


def lin(w, th, mv=None, bias=None, name="fc"):
    return SpeckLayer(name, np.array(w, np.int64), th, -th if mv is None else mv,
                      None if bias is None else np.array(bias, np.int64))


# -- the neuron, by hand -------------------------------------------------------------------------------------
def test_multispike_subtract_and_min_v_mem_by_hand():
    # θ = 3, min_v_mem = −4: 7 → 2 spikes, v 1; 1 → 0; 1−10 = −9 → clipped −4; −4+2 = −2;
    # −2+6 = 4 → 1 spike, v 1
    s, v = iaf_multispike(np.array([7, 0, -10, 2, 6]).reshape(5, 1, 1), threshold=3, min_v_mem=-4)
    assert s.ravel().tolist() == [2, 0, 0, 0, 1]
    assert v.ravel().tolist() == [1, 1, -4, -2, 1]


def test_threshold_comparison_is_v_at_least_theta_and_only_for_positive_v():
    cur = np.array([[5, 4, -10, 15]])  # one step, four neurons, θ = 5
    s, v = iaf_multispike(cur.reshape(1, 1, 4), threshold=5, min_v_mem=-32768)
    assert s.ravel().tolist() == [1, 0, 0, 3]  # v = θ fires, θ − 1 does not, v ≤ −θ gives 0 (not −2)
    assert v.ravel().tolist() == [0, 4, -10, 0]


def test_linear_layer_with_bias_by_hand():
    # I = 2·x0 − x1 + 1 = 3, 4, −2 → v 3 → 1 spike, v 0; 4 → 1 spike, v 1; 1 − 2 = −1
    net = SpeckNetwork((2, 1, 1), (lin([[2, -1]], 3, bias=[1]),))
    run = net.run(np.array([[[1, 0]], [[2, 1]], [[0, 3]]]))
    assert run.output.ravel().tolist() == [1, 1, 0]
    assert run.states["v"][0].ravel().tolist() == [0, 1, -1]


def test_sum_pool_floors_and_sums():
    x = torch.arange(25).reshape(1, 1, 5, 5)
    want = [0 + 1 + 5 + 6, 2 + 3 + 7 + 8, 10 + 11 + 15 + 16, 12 + 13 + 17 + 18]
    assert sum_pool(x, 2).reshape(-1).tolist() == want
    assert sum_pool(x, 4).reshape(-1).tolist() == [sum(r * 5 + c for r in range(4) for c in range(4))]


def test_float32_headroom_by_hand():
    net = SpeckNetwork((2, 1, 1), (lin([[3, -2]], 10, mv=-4, bias=[5]),))
    # Σ|w|·x + |b| = 3·4 + 2·7 + 5 = 31, plus max(θ − 1, −min_v_mem) = 9
    assert net.float32_headroom(np.array([[[4, 7]]])) == (40,)


def _reference(net: SpeckNetwork, x: np.ndarray) -> list[np.ndarray]:
    """An independent, loop-by-loop reading of the module docstring (Python ints)."""
    T, B = x.shape[:2]
    outs = []
    inp = x.astype(object)
    for lyr in net.layers:
        c, h, w = inp.shape[2:]
        if lyr.kind == "linear":
            flat = inp.reshape(T, B, -1)
            cur = np.einsum("tbi,oi->tbo", flat, lyr.weight.astype(object)).reshape(T, B, -1, 1, 1)
        else:
            k, s, p = lyr.weight.shape[2], lyr.stride, lyr.padding
            padded = np.zeros((T, B, c, h + 2 * p, w + 2 * p), dtype=object)
            padded[:, :, :, p:p + h, p:p + w] = inp
            ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            cur = np.zeros((T, B, lyr.weight.shape[0], ho, wo), dtype=object)
            for i in range(ho):
                for j in range(wo):
                    patch = padded[:, :, :, i * s:i * s + k, j * s:j * s + k]
                    cur[:, :, :, i, j] = np.einsum("tbckl,ockl->tbo", patch, lyr.weight.astype(object))
        if lyr.bias is not None:
            cur = cur + lyr.bias.astype(object).reshape(1, 1, -1, 1, 1)
        v = np.zeros(cur.shape[1:], dtype=object)
        spikes = np.zeros(cur.shape, dtype=object)
        for t in range(T):
            for idx in np.ndindex(v.shape):
                vv = v[idx] + cur[t][idx]
                n = vv // lyr.threshold if vv > 0 else 0
                v[idx] = max(vv - n * lyr.threshold, lyr.min_v_mem)
                spikes[t][idx] = n
        outs.append(spikes.reshape(T, B, -1) if lyr.kind == "linear" else spikes)
        pp = lyr.pool
        ho, wo = spikes.shape[3] // pp, spikes.shape[4] // pp
        inp = spikes[..., :ho * pp, :wo * pp].reshape(T, B, spikes.shape[2], ho, pp, wo, pp).sum(axis=(4, 6))
    return outs


def test_conv_stride_padding_pool_and_flatten_match_a_loop_reference():
    rng = np.random.default_rng(7)
    net = SpeckNetwork((2, 7, 7), (
        SpeckLayer("c1", rng.integers(-128, 128, (3, 2, 3, 3)), 40, -40, rng.integers(-128, 128, 3), 2, 1, 2),
        SpeckLayer("fc", rng.integers(-128, 128, (4, 3 * 2 * 2)), 25, -100),
        SpeckLayer("c2", rng.integers(-128, 128, (2, 4, 1, 1)), 7, 0),
    ))
    x = rng.integers(0, 4, (6, 2, 2, 7, 7))
    run = net.run(x)
    for ours, ref in zip(run.spikes, _reference(net, x), strict=True):
        assert ours.shape == ref.shape
        np.testing.assert_array_equal(ours, ref.astype(np.int64))
    assert run.output.sum() > 0 and run.spikes[0].max() > 1  # the case exercises multi-spikes


def test_random_networks_match_the_loop_reference():
    rng = np.random.default_rng(11)
    for _ in range(12):
        case = random_case(rng, t_max=6, b_max=2)
        for ours, ref in zip(case.network.run(case.x).spikes, _reference(case.network, case.x), strict=True):
            np.testing.assert_array_equal(ours, ref.astype(np.int64).reshape(ours.shape))


def test_sums_past_float32_range_stay_exact():
    net = SpeckNetwork((1, 1, 1), (lin([[127]], 1, mv=-1),))
    assert net.run(np.array([[[132201]]])).output.item() == 127 * 132201  # 16789527: odd, not a float32


def test_silent_input_gives_no_spikes_and_bias_alone_drives():
    net = SpeckNetwork((1, 1, 1), (lin([[1]], 4, bias=[3]),))
    # v: 3, 6 → 2, 5 → 1, 4 → 0
    assert net.run(np.zeros((4, 1, 1), np.int64)).output.ravel().tolist() == [0, 1, 1, 1]


def test_to_dict_round_trip():
    net = SpeckNetwork((2, 1, 1), (lin([[3, -2]], 10, bias=[5]), lin([[1]], 2, name="out")))
    back = SpeckNetwork.from_dict(net.to_dict())
    x = np.random.default_rng(0).integers(0, 5, (5, 2, 2))
    np.testing.assert_array_equal(back.run(x).output, net.run(x).output)


# -- typed errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, words", [
    ({"weight": [[128]]}, ["'bad'", "weight[0, 0] = 128", "[-128, 127]"]),
    ({"weight": [[-129]]}, ["weight", "-129"]),
    ({"weight": np.array([[1.0]])}, ["integer array", "float64"]),
    ({"threshold": 0}, ["threshold = 0", "[1, 32767]"]),
    ({"threshold": 32768}, ["threshold = 32768"]),
    ({"threshold": 2.0}, ["threshold must be an integer"]),
    ({"min_v_mem": 1}, ["min_v_mem = 1", "[-32768, 0]"]),
    ({"min_v_mem": -32769}, ["min_v_mem = -32769"]),
    ({"bias": [200]}, ["bias[0] = 200"]),
    ({"bias": [1, 2]}, ["bias has 2 entries"]),
    ({"weight": np.ones((1, 1, 2, 3), np.int64)}, ["not square"]),
    ({"weight": np.ones((1, 1, 17, 17), np.int64)}, ["kernel size 17"]),
    ({"weight": np.ones((1, 1, 3, 3), np.int64), "stride": 3}, ["stride 3"]),
    ({"weight": np.ones((1, 1, 3, 3), np.int64), "padding": 8}, ["padding = 8"]),
    ({"weight": np.ones((1, 1, 3, 3), np.int64), "pool": 3}, ["pool 3"]),
    ({"stride": 2}, ["stride = 2", "[1, 1]"]),
])
def test_bad_layer_parameters_name_layer_field_value_and_limit(kwargs, words):
    p = {"name": "bad", "weight": [[1]], "threshold": 5, "min_v_mem": -5}
    p.update(kwargs)
    p["weight"] = np.asarray(p["weight"]) if not isinstance(p["weight"], np.ndarray) else p["weight"]
    with pytest.raises(InvalidParameterError) as err:
        SpeckLayer(**p)
    for w in words:
        assert w in str(err.value)


def test_bad_shapes_are_refused():
    with pytest.raises(InvalidParameterError, match="linear weight takes 3 inputs"):
        SpeckNetwork((2, 1, 1), (lin([[1, 1, 1]], 3),))
    with pytest.raises(InvalidParameterError, match="square input map, got 2x3"):
        SpeckNetwork((1, 2, 3), (lin([[1] * 6], 3),))
    with pytest.raises(InvalidParameterError, match="does not fit"):
        SpeckNetwork((1, 2, 2), (SpeckLayer("c", np.ones((1, 1, 3, 3), np.int64), 3, -3),))
    with pytest.raises(InvalidParameterError, match="pool 4 is larger"):
        SpeckNetwork((1, 3, 3), (SpeckLayer("c", np.ones((1, 1, 1, 1), np.int64), 3, -3, pool=4),))
    with pytest.raises(InvalidParameterError, match="unique"):
        SpeckNetwork((1, 1, 1), (lin([[1]], 3), lin([[1]], 3)))


@pytest.mark.parametrize("x, err, words", [
    (np.ones((2, 1, 2), np.float32), InvalidInputError, "integer event counts"),
    (-np.ones((2, 1, 2), np.int64), InvalidInputError, ">= 0"),
    (np.ones((2, 1, 3), np.int64), InvalidInputError, "[T, B, 2, 1, 1]"),
    (np.full((1, 1, 2), 2**50, np.int64), ResourceLimitError, "2**53"),
])
def test_bad_inputs_are_refused(x, err, words):
    net = SpeckNetwork((2, 1, 1), (lin([[127, 1]], 3),))
    with pytest.raises(err, match=None) as e:
        net.run(x)
    assert words in str(e.value)


# -- sinabs' discretisation rule -----------------------------------------------------------------------------
def test_scale_by_hand_and_round_half_to_even():
    # weights bind: s = 127/0.5 = 254; −0.25·254 = −63.5 → −64 (half to even); θ 1 → 254
    s = discretization_scale([0.5, -0.25], None, 1.0, -1.0)
    assert s == 254.0
    assert discretize([0.5, -0.25], s).tolist() == [127, -64]
    # negative end binds: |−1| > 0.5·128/127 → s = 128; 2.5 → 2 and 3.5 → 4 (half to even)
    w = [-1.0, 2.5 / 128, 3.5 / 128]
    s = discretization_scale(w, None, 1.0, -1.0)
    assert s == 128.0 and discretize(w, s).tolist() == [-128, 2, 4]


def test_threshold_binds_at_16_bit():
    s = discretization_scale([1.0], None, 1000.0, -1000.0)
    assert s == pytest.approx(32.767, rel=1e-6)
    assert discretize([1000.0, -1000.0, 1.0], s).tolist() == [32767, -32767, 33]


def test_scale_quirks_of_sinabs_rule():
    assert tensor_scale([0.0, 0.0], 8).item() == math.inf  # an all-zero bias never binds
    assert tensor_scale([-128.0], 8).item() == pytest.approx(127 / 128)  # a lone −128 is scaled down
    assert tensor_scale([-128.0, 1.0], 8).item() == 1.0


# -- mapping float models ------------------------------------------------------------------------------------
def dyadic_model():
    """Weights on multiples of 1/128 with max 127/128 and θ = 3/4: float32 is exact, so float == chip."""
    g = torch.Generator().manual_seed(3)
    conv = nn.Conv2d(2, 3, 3, bias=False)
    fc = nn.Linear(3 * 2 * 2, 4, bias=False)
    with torch.no_grad():
        for m in (conv, fc):
            m.weight.copy_(torch.randint(-127, 128, m.weight.shape, generator=g).float() / 128)
            m.weight.view(-1)[0] = 127 / 128
    return nn.Sequential(TD(conv), SpeckIAF(0.75), TD(nn.AvgPool2d(2, divisor_override=1)), TD(nn.Flatten()),
                         TD(fc), SpeckIAF(0.75))


def test_map_model_exact_case_agrees_spike_for_spike():
    model = dyadic_model()
    x = torch.randint(0, 3, (8, 3, 2, 6, 6)).float()
    m = map_model(model, x)
    assert m.scales == {"0": 128.0, "4": 128.0}
    assert [lyr.threshold for lyr in m.network.layers] == [96, 96]
    assert on_grid_edge(m.network)
    rep = compare_mapping(model, m, x, labels=torch.zeros(3, dtype=torch.long))
    assert rep.agreement == 1.0 and all(a.first_divergence is None for a in rep.layers)
    assert rep.layers[0].rate_float > 0
    assert rep.accuracy[0] == rep.accuracy[1]
    assert any(n.field == "scale" and n.severity == "info" for n in m.notes)


def test_average_pool_goes_into_the_next_weights():
    model = dyadic_model()
    model[2] = TD(nn.AvgPool2d(2))
    m = map_model(model, torch.zeros(1, 1, 2, 6, 6))
    fc = model[4].layer.weight.detach().numpy()
    np.testing.assert_array_equal(m.layers[1].weight, fc * np.float32(0.25))
    assert m.layers[1].rescale == 0.25 and m.network.layers[0].pool == 2
    assert any(n.field == "pool" for n in m.notes)


def test_map_model_lossy_rounding_is_a_warning_and_the_registry_serves_it():
    model = nn.Sequential(TD(nn.Linear(3, 2, bias=True)), SpeckIAF(2.0))
    with torch.no_grad():
        model[0].layer.weight.copy_(torch.tensor([[1.0, 1e-4, -0.3], [0.2, 0.1, 0.05]]))
        model[0].layer.bias.copy_(torch.tensor([1e-5, 0.0]))
    m = get_chip("speck").map_model(model, torch.zeros(2, 1, 3))
    warn = {n.field for n in m.warnings}
    assert {"weight", "bias"} <= warn
    assert m.network.layers[0].weight.tolist()[0][1] == 0


def test_large_tau_lif_maps_with_a_warning():
    model = nn.Sequential(TD(nn.Linear(2, 2, bias=False)), LIF(tau=1e7, v_threshold=1.0, v_reset=None))
    m = map_model(model, torch.zeros(1, 1, 2))
    assert any(n.field == "neuron" and "τ = 1e+07" in n.message for n in m.warnings)
    assert m.network.layers[0].min_v_mem == -m.network.layers[0].threshold


@pytest.mark.parametrize("build, words", [
    (lambda: nn.Sequential(TD(nn.Linear(2, 2)), LIF(tau=2.0, v_reset=None)), ["'1'", "τ = 2", "1e+06"]),
    (lambda: nn.Sequential(TD(nn.Linear(2, 2)), LIF(tau=1e7, v_reset=0.0)), ["'1'", "reset 'zero'"]),
    (lambda: nn.Sequential(TD(nn.Linear(2, 2)), SpeckIAF(), TD(nn.Linear(2, 2))), ["'2'", "ends with a "
                                                                                          "weight"]),
    (lambda: nn.Sequential(TD(nn.Linear(2, 2)), TD(nn.Linear(2, 2)), SpeckIAF()), ["'1'", "two weight "
                                                                                          "layers"]),
    (lambda: nn.Sequential(TD(nn.Linear(2, 2)), TD(nn.BatchNorm1d(2)), SpeckIAF()), ["'1'", "fold "
                                                                                            "BatchNorm"]),
    (lambda: nn.Sequential(SpeckIAF()), ["'0'", "without a weight layer"]),
    (lambda: nn.Sequential(Residual(nn.Sequential(TD(nn.Linear(2, 2)), SpeckIAF()))), ["Residual"]),
])
def test_map_model_refusals_name_layer_value_and_limit(build, words):
    with pytest.raises(ChipMappingError) as err:
        map_model(build(), torch.zeros(1, 1, 2))
    for w in words:
        assert w in str(err.value)


def test_map_model_refuses_bad_pooling_and_a_zero_threshold():
    conv = TD(nn.Conv2d(1, 1, 1, bias=False))
    bad_stride = nn.Sequential(conv, SpeckIAF(), TD(nn.AvgPool2d(2, stride=1)))
    with pytest.raises(ChipMappingError, match="stride = kernel"):
        map_model(bad_stride, torch.zeros(1, 1, 1, 8, 8))
    too_much = nn.Sequential(conv, SpeckIAF(), TD(nn.AvgPool2d(2)), TD(nn.AvgPool2d(4)))
    with pytest.raises(ChipMappingError, match="total pooling 8"):
        map_model(too_much, torch.zeros(1, 1, 1, 8, 8))
    tiny = nn.Sequential(TD(nn.Linear(1, 1, bias=False)), SpeckIAF(1e-3))
    with torch.no_grad():
        tiny[0].layer.weight.fill_(1000.0)
    with pytest.raises(ChipMappingError, match="threshold 0.001 .* rounds to 0"):
        map_model(tiny, torch.zeros(1, 1, 1))


def test_encode_takes_only_event_counts():
    assert encode_events(torch.tensor([[[2.0, 0.0]]]), (2, 1, 1)).dtype == np.int64
    for bad, word in ((torch.tensor([[[0.5, 0.0]]]), "x[0, 0, 0] = "
                                                     "0.5"), (torch.tensor([[[-1.0, 0.0]]]), "-1.0"),
                      (torch.tensor([[[float("nan"), 0.0]]]), "nan")):
        with pytest.raises(InvalidInputError, match="non-negative integer event count") as err:
            encode_events(bad, (2, 1, 1))
        assert word in str(err.value)


# -- NIR writer and the sinabs dialect (reading with sinabs: test_chip_speck_vendor.py) ----------------------
def test_network_to_nir_refuses_what_sinabs_cannot_carry(tmp_path):
    with pytest.raises(ChipMappingError, match="min_v_mem -3 != -threshold"):
        network_to_nir(SpeckNetwork((1, 1, 1), (lin([[127]], 5, mv=-3),)))
    with pytest.raises(ChipMappingError, match="grid edge"):
        network_to_nir(SpeckNetwork((1, 1, 1), (lin([[5]], 5),)))
    net = SpeckNetwork((1, 1, 1), (lin([[127]], 5),))
    paths = write_artifacts(net, tmp_path)
    graph = read_nir(paths[0])
    assert {type(n).__name__ for n in graph.nodes.values()} == {"Input", "Flatten", "Affine", "IF", "Output"}
    assert graph.nodes["l0_if"].v_threshold.tolist() == [5.0]
    assert not list(tmp_path.glob(".*.tmp"))


def _foreign_graph(thr=None, node=None):
    w1 = np.full((2, 1, 2, 2), 0.5, np.float32)
    nodes = {
        "in": nir.Input(input_type={"input": np.array([1, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=w1, stride=1, padding=0, dilation=1, groups=1,
                           bias=np.zeros(2, np.float32)),
        "if1": nir.IF(r=np.full((2, 3, 3), 2.0, np.float32), v_threshold=thr if thr is not None else
                      np.full((2, 3, 3), 1.5, np.float32), v_reset=np.full((2, 3, 3), 0.1, np.float32)),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 1, 1])}, start_dim=0, end_dim=-1),
        "fc": node if node is not None else nir.Linear(weight=np.ones((3, 2), np.float32)),
        "if2": nir.IF(r=np.ones(3, np.float32), v_threshold=np.full(3, 1.0, np.float32)),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("in", "conv"), ("conv", "if1"), ("if1", "pool"), ("pool", "flat"), ("flat", "fc"),
             ("fc", "if2"), ("if2", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_to_sinabs_nir_rewrites_linear_avgpool_r_and_thresholds():
    g, notes = to_sinabs_nir(_foreign_graph())
    assert isinstance(g.nodes["fc"], nir.Affine) and g.nodes["fc"].bias.tolist() == [0, 0, 0]
    assert isinstance(g.nodes["pool"], nir.SumPool2d)
    np.testing.assert_array_equal(g.nodes["fc"].weight, np.full((3, 2), 0.25, np.float32))  # × 1/k²
    np.testing.assert_array_equal(g.nodes["conv"].weight, np.full((2, 1, 2, 2), 1.0, np.float32))  # × r = 2
    assert g.nodes["if1"].v_threshold.tolist() == [1.5] and g.nodes["if1"].r.tolist() == [1.0]
    assert {"v_reset", "r", "reset", "node"} <= {n.field for n in notes}


def test_to_sinabs_nir_refusals_name_the_node():
    thr = np.full((2, 3, 3), 1.5, np.float32)
    thr[0, 0, 0] = 2.0
    with pytest.raises(ChipMappingError, match="'if1': v_threshold differs"):
        to_sinabs_nir(_foreign_graph(thr=thr))
    lif = nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))
    with pytest.raises(ChipMappingError, match="'fc': LIF cannot reach Speck"):
        to_sinabs_nir(_foreign_graph(node=lif))
