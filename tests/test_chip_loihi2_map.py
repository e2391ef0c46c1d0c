"""Loihi 2 mapping (``loihi2_map``), input encoding and netx artifacts: hand-computed rounding, an exact
dyadic model (float vs chip spikes identical), typed errors, and the netx writer's refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snndeploy.errors import InvalidInputError
from snndeploy.hardware.chips import ChipMappingError, get_chip
from snndeploy.hardware.chips.loihi2 import Loihi2Layer, Loihi2Network
from snndeploy.hardware.chips.loihi2_agree import compare_mapping
from snndeploy.hardware.chips.loihi2_map import Loihi2Mapping, map_model
from snndeploy.hardware.chips.loihi2_netx import read_netx, write_artifacts
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.neurons import CLIF, LIF

TD = TimeDistributed


def linear(weights, bias=None) -> TD:
    w = torch.tensor(weights, dtype=torch.float32)
    lin = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
    with torch.no_grad():
        lin.weight.copy_(w)
        if bias is not None:
            lin.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return TD(lin)


def test_map_rounding_by_hand():
    """W_u = [0.5, -0.25]: r = min(254/0.5, 256/0.25) = 508, n = floor(508 - 1/64) = 507, s = 1/(507 + 1/64);
    0.5/s = 253.51 -> 2·round(126.75) = 254; -0.25/s = -126.75 -> 2·round(-63.38) = -126; tau 2 -> dv =
    2048."""
    model = nn.Sequential(linear([[0.5, -0.25]]), LIF(tau=2.0, v_reset=0.0))
    layer = map_model(model).network.layers[0]
    assert (layer.vth, layer.dv, layer.du) == (507, 2048, 4095)
    np.testing.assert_array_equal(layer.weights, [[254, -126]])
    np.testing.assert_array_equal(layer.bias_mant, [0])
    # decay_input: b = 1/tau halves W_u: r = 1016, n = 1015, 0.25·1015.016 = 253.75 -> 254, -126.88 -> -126
    layer = map_model(nn.Sequential(linear([[0.5, -0.25]]), LIF(tau=2.0, v_reset=0.0, decay_input=True)))
    assert layer.network.layers[0].vth == 1015
    np.testing.assert_array_equal(layer.network.layers[0].weights, [[254, -126]])


def test_map_bias_and_decay_notes():
    """bias 0.1, weight step s = 1/(507 + 1/64): round(50.70) = 51; tau 3 -> dv = round(1365.33) = 1365."""
    mapping = map_model(nn.Sequential(linear([[0.5, -0.25]], bias=[0.1]), LIF(tau=3.0, v_reset=0.0)))
    layer = mapping.network.layers[0]
    assert layer.dv == 1365 and int(layer.bias_mant[0]) == 51 and int(layer.bias_exp[0]) == 6
    fields = {(n.layer, n.field, n.severity) for n in mapping.notes}
    assert {("1", "dv", "warning"), ("1", "bias", "warning"), ("1", "weights", "warning")} <= fields


def test_map_dyadic_model_is_exact():
    """Weights 2m/64 (max 254/64), θ = (10 + 1/64)/64: s = 1/64 and vth = 10 exactly; with τ = 2 and T = 6
    every float value is dyadic and every halving exact, so float and chip spikes are identical."""
    w = np.array([[254, -2, 6, 40], [-100, 50, 254, 8], [30, 30, 30, 30]]) / 64
    model = nn.Sequential(
        linear(w.tolist()), LIF(tau=2.0, v_reset=0.0, v_threshold=641 / 4096), linear([[1.0, 0.5, -1.0]])
    )
    x = (torch.rand(6, 16, 4) < 0.5).float()
    mapping = map_model(model, x)
    layer = mapping.network.layers[0]
    assert layer.vth == 10 and not any(n.field == "weights" for n in mapping.notes)
    np.testing.assert_array_equal(layer.weights, w * 64)
    result = compare_mapping(mapping, model, x, labels=torch.zeros(16, dtype=torch.long))
    assert result.layers[0]["mismatches"] == 0 and result.layers[0]["rate_float"] > 0.1
    assert result.accuracy[0] == result.accuracy[1]


def test_map_conv_pool_unroll_equals_the_float_layers():
    """Conv2d -> AvgPool2d -> Flatten -> Linear unrolled into dense matrices reproduce the float layers."""
    from snndeploy.hardware.chips.loihi2_unroll import split_segments, unroll

    conv, lin = nn.Conv2d(2, 3, 3, padding=1), nn.Linear(12, 5)
    model = nn.Sequential(
        TD(conv), LIF(v_reset=0.0), TD(nn.AvgPool2d(2)), TD(nn.Flatten()), TD(lin), LIF(v_reset=0.0)
    )
    probe = torch.zeros(2, 2, 2, 4, 4)
    pairs, _, shapes = split_segments(model, probe)
    z = torch.randn(7, 2, 4, 4, dtype=torch.float64)
    w, b = unroll(pairs[0][0], shapes, 32)
    with torch.no_grad():
        ref = conv.double()(z).reshape(7, -1).numpy()
        ref2 = lin.double()(
            nn.functional.avg_pool2d(h := torch.randn(7, 3, 4, 4, dtype=torch.float64), 2).flatten(1)
        ).numpy()
    np.testing.assert_allclose(z.reshape(7, -1).numpy() @ w.T + b, ref, rtol=0, atol=1e-12)
    w2, b2 = unroll(pairs[1][0], shapes, 48)
    np.testing.assert_allclose(h.reshape(7, -1).numpy() @ w2.T + b2, ref2, rtol=0, atol=1e-12)


def test_map_folded_clif_model_through_the_registry():
    from exporters.fold import fold

    model = nn.Sequential(TD(nn.Linear(6, 8)), CLIF(), TD(nn.Linear(8, 3)))
    x = (torch.rand(10, 4, 6) < 0.5).float()
    folded, _ = fold(model, x)
    mapping = get_chip("loihi2").map_model(folded, x, "loihi2", approximate_reset=True)
    assert isinstance(mapping, Loihi2Mapping) and mapping.readout is not None
    assert mapping.network.input_message_bits == 0 and mapping.encode(x).shape == (10, 4, 6)


@pytest.mark.parametrize(
    "neuron, match",
    [
        (LIF(), r"layer '1': a soft reset.*LIF\(v_reset=0\.0\)"),
        (LIF(v_reset=0.5), r"layer '1': a hard reset to 0.5"),
        (CLIF(), r"layer '1': CLIF is not a LIF layer; fold the model first"),
    ],
)
def test_map_refuses_unsupported_neurons(neuron, match):
    with pytest.raises(ChipMappingError, match=match):
        map_model(nn.Sequential(linear([[1.0, 1.0]]), neuron))


def test_map_approximate_reset_is_a_warning():
    mapping = map_model(nn.Sequential(linear([[1.0, 1.0]]), LIF()), approximate_reset=True)
    assert [(n.layer, n.field) for n in mapping.warnings if n.field == "reset"] == [("1", "reset")]


@pytest.mark.parametrize(
    "model, match",
    [
        (
            nn.Sequential(linear([[1.0]]), TD(nn.BatchNorm1d(1)), LIF(v_reset=0.0)),
            r"'1': BatchNorm1d .*fold BatchNorm",
        ),
        (nn.Sequential(Residual(nn.Sequential(linear([[1.0]]), LIF(v_reset=0.0)))), r"'0': residual"),
        (
            nn.Sequential(linear([[1.0]]), LIF(v_reset=0.0, v_threshold=1e-5)),
            r"'1': threshold 1e-05 is 0.00255 .*limit",
        ),
        (nn.Sequential(linear([[1.0]])), "no neuron layer"),
    ],
)
def test_map_refuses_unsupported_models(model, match):
    with pytest.raises(ChipMappingError, match=match):
        map_model(model, torch.zeros(2, 1, 1))


def test_encoding_modes():
    model = nn.Sequential(linear([[1.0, -1.0]]), LIF(v_reset=0.0))
    fixed = map_model(model, torch.tensor([[[3.0, -1.25]]]))
    assert fixed.encoding.mode == "fixed" and fixed.encoding.scale == 32.0  # 2^floor(log2(127/3))
    np.testing.assert_array_equal(
        fixed.encode(torch.tensor([[[1.1, 9.0]]])), [[[35, 127]]]
    )  # 35.2; saturates
    torch.testing.assert_close(fixed.decode(np.array([[[35, -7]]])), torch.tensor([[[35 / 32, -7 / 32]]]))
    counts = map_model(model, torch.tensor([[[3.0, 0.0]]]))
    assert (counts.encoding.mode, counts.network.input_message_bits) == ("integer", 3)
    binary = map_model(model, torch.tensor([[[1.0, 0.0]]]))
    assert binary.network.input_message_bits == 0
    with pytest.raises(InvalidInputError, match=r"input\[0, 0, 0\] = 0.5.*binary"):
        binary.encode(torch.tensor([[[0.5, 0.0]]]))
    with pytest.raises(InvalidInputError, match=r"\[T, B, \*\[2\]\]"):
        binary.encode(torch.zeros(1, 1, 3))
    with pytest.raises(ChipMappingError, match="input_bits"):
        map_model(model, input_mode="fixed", input_bits=25)


def _layer(w, **kw) -> Loihi2Layer:
    kw.setdefault("vth", 5)
    return Loihi2Layer("h", np.asarray(w), **kw)


@pytest.mark.parametrize(
    "layer, match",
    [
        (_layer([[3, 5]], weight_exp=-1), "floors the summed input"),
        (_layer([[2, 4]], bias_mant=5), r"bias\[0\] = 5 .* not a multiple of 64"),
        (_layer([[0, 0]]), "all-zero weight matrix"),
        (_layer([[0, -2]]), r"netx would load weight -2 as -1"),
        (_layer([[-200, -3]], weight_exp=1), r"netx would shift the weights by -1 bits"),
    ],
)
def test_netx_writer_refuses_what_netx_changes(tmp_path, layer, match):
    with pytest.raises(ChipMappingError, match=match):
        write_artifacts(Loihi2Network((layer,)), tmp_path)


def test_netx_round_trip_without_vendor(tmp_path):
    """read_netx rebuilds what netx builds; for a writable network it runs identically (weights 2w with
    weight_exp −1 come back as netx's own exponent search)."""
    network = Loihi2Network(
        (
            _layer(
                [[3 * 2, -5 * 2], [2, 100]], weight_exp=-1, bias_mant=[1, -2], bias_exp=6, dv=100, du=3000
            ),
            Loihi2Layer("o", np.array([[7, 9]]), vth=1, dv=5),
        )
    )
    h5, js = write_artifacts(network, tmp_path)
    back = read_netx(h5)
    assert [layer.name for layer in back.layers] == ["h", "o"] and js.exists()
    x = (np.random.default_rng(0).random((30, 2, 2)) < 0.5).astype(np.int64)
    ref, got = network.run(x), back.run(x)
    for a, b in zip(
        ref.spikes + ref.states["u"] + ref.states["v"],
        got.spikes + got.states["u"] + got.states["v"],
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
