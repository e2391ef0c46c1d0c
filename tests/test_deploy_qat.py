"""QAT rounds exactly as each chip's ``map_model`` does, and snapping makes the float weights a fixed point of
it.

The reference is the chip mapper itself (``hardware/chips/*_map.py``, written and tested against the vendors'
code): the integers the last QAT forward used must be the integers ``map_model`` writes for the same float
weights, for random networks on each chip; after ``snap`` the float model runs the chip's weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snndeploy.deploy import ChipQuantizer, get_recipe
from snndeploy.deploy.qat import loihi2_cuba_grid, loihi2_grid
from snndeploy.hardware.chips import get_chip
from snndeploy.hardware.chips.base import ChipMappingError
from snndeploy.hardware.chips.loihi2_map import neuron_coefficients
from snndeploy.models import ModelConfig, build_model
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import LIF, CubaLIF


def _randomize(model: nn.Module, gen: torch.Generator, scale: float = 0.6) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * scale)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.3)


def _grids(recipe, model, x):
    q = ChipQuantizer(recipe, model, x)
    try:
        return q.compute()
    finally:
        q.remove()


@pytest.mark.parametrize("seed", range(6))
def test_loihi2_qat_integers_equal_map_model(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    recipe = get_recipe("loihi2")
    model = nn.Sequential(
        TimeDistributed(nn.Flatten()),
        TimeDistributed(nn.Linear(16, 12, bias=seed % 2 == 0)),
        LIF(2.0, 1.0, v_reset=0.0, backend="torch"),
        TimeDistributed(nn.Linear(12, 5, bias=False)),
        LIF(4.0, 0.7, v_reset=0.0, backend="torch"),
    )
    _randomize(model, gen, scale=[0.05, 0.6, 3.0][seed % 3])
    x = torch.rand(4, 8, 1, 4, 4, generator=gen) * (1 + seed)  # fixed-point input: k_in = 2^q from the peak
    grids = _grids(recipe, model, x)
    mapping = get_chip("loihi2").map_model(model, x, "loihi2")
    assert len(grids) == len(mapping.network.layers) == 2
    for g, layer, sc in zip(grids, mapping.network.layers, mapping.layers, strict=True):
        np.testing.assert_array_equal(g.ints, layer.weights)
        assert g.info["vth"] == layer.vth and g.info["scale"] == sc.scale
        if g.bias_ints is not None:
            np.testing.assert_array_equal(g.bias_ints, np.broadcast_to(layer.bias_mant, g.bias_ints.shape))


@pytest.mark.parametrize("seed", range(6))
def test_loihi2_cubalif_qat_integers_equal_map_model(seed: int) -> None:
    """Lava's own neuron (``--neuron cubalif``): chip-integer mode (s = 64·lsb) and float mode (s from the
    weights), excitatory / mixed / saturating weights."""
    gen = torch.Generator().manual_seed(seed)
    lsb = None if seed % 3 == 2 else 2.0**-15
    model = nn.Sequential(
        TimeDistributed(nn.Flatten()),
        TimeDistributed(nn.Linear(16, 12, bias=False)),
        CubaLIF(1.0, 2.0, flavour="loihi", lsb=lsb, backend="torch"),
        TimeDistributed(nn.Linear(12, 5, bias=False)),
        CubaLIF(1.0, 4.0, flavour="loihi", lsb=lsb, backend="torch"),
    )
    _randomize(model, gen, scale=[0.05, 0.3, 3.0][seed % 3])  # 3.0: beyond 0.5 θ, saturates in lsb mode
    if seed == 1:
        with torch.no_grad():
            model[3].layer.weight.abs_()  # one sign: the excitatory grid
    x = torch.rand(4, 8, 1, 4, 4, generator=gen)
    grids = _grids(get_recipe("loihi2"), model, x)
    mapping = get_chip("loihi2").map_model(model, x, "loihi2")
    for g, layer, sc in zip(grids, mapping.network.layers, mapping.layers, strict=True):
        np.testing.assert_array_equal(g.ints, layer.weights)
        assert g.info["vth"] == layer.vth and g.info["scale"] == sc.scale


def test_loihi2_cubalif_grid_refuses_a_bias() -> None:
    with pytest.raises(ChipMappingError, match="bias"):
        loihi2_cuba_grid("l", np.ones((2, 3)), np.ones(2), CubaLIF(1.0, 2.0, flavour="loihi"), 1.0)


def test_loihi2_conv_grid_uses_the_offsets_the_unrolled_matrix_holds() -> None:
    """A 6×6 kernel with stride 2 and padding 2 on a 2×2 map: offsets 0, 1, 4, 5 of each axis only meet
    padding;
    the scale must come from the entries the dense matrix holds, as the mapper's unrolling does."""
    gen = torch.Generator().manual_seed(3)
    conv = nn.Conv2d(2, 3, 6, stride=2, padding=2, bias=False)
    model = nn.Sequential(TimeDistributed(conv), LIF(2.0, 1.0, v_reset=0.0, backend="torch"))
    _randomize(model, gen)
    with torch.no_grad():
        conv.weight[:, :, 0, 0] = 50.0  # an offset that never meets the 2x2 input: must not set the scale
    x = torch.randint(0, 2, (3, 4, 2, 2, 2), generator=gen).float()
    grid = _grids(get_recipe("loihi2"), model, x)[0]
    mapping = get_chip("loihi2").map_model(model, x, "loihi2")
    assert grid.info["scale"] == mapping.layers[0].scale and grid.info["vth"] == mapping.network.layers[0].vth
    unused = loihi2_grid(
        "c", conv.weight.detach().double().numpy(), None, neuron_coefficients("n", model[1]), 1.0
    )
    assert unused.info["scale"] != grid.info["scale"]  # the mask matters here


@pytest.mark.parametrize("seed", range(4))
def test_speck_qat_integers_equal_map_model(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    cfg = ModelConfig(
        "chip_cnn",
        (1, 8, 8),
        5,
        "iaf",
        {"v_min": -1.0, "v_threshold": [1.0, 0.5, 2.0, 1.5][seed]},
        width=0.125,
        batch_norm=False,
    )
    model = build_model(cfg)
    _randomize(model, gen, scale=[0.05, 0.6, 3.0, 0.2][seed])
    x = torch.randint(0, 5, (3, 4, 1, 8, 8), generator=gen).float()
    grids = _grids(get_recipe("speck"), model, x)
    mapping = get_chip("speck").map_model(model, x, "speck")
    for g, layer in zip(grids, mapping.network.layers, strict=True):
        np.testing.assert_array_equal(g.ints, layer.weight)
        assert g.info["threshold"] == layer.threshold


@pytest.mark.parametrize(
    ("neuron", "kwargs"),
    [
        ("cubalif", {"tau_syn": 2.0, "tau_mem": 2.0, "flavour": "xylo", "lsb": 2.0**-12}),
        ("cubalif", {"tau_syn": 2.0, "tau_mem": 4.0, "flavour": "xylo"}),
        ("lif", {"tau": 8.0}),
    ],
)
@pytest.mark.parametrize("seed", range(2))
def test_xylo_qat_integers_equal_map_model(neuron: str, kwargs: dict, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    recipe = get_recipe("xylo_audio3")
    model = build_model(
        ModelConfig("chip_mlp", (3,), 6, neuron, kwargs, width=0.125, depth=2, batch_norm=False)
    )
    _randomize(model, gen, scale=[0.4, 5.0][seed])
    x = torch.randn(5, 8, 3, generator=gen)  # signed inputs: two channels per feature
    grids = _grids(recipe, model, x)
    mapping = get_chip("xylo_audio3").map_model(model, x, "xylo_audio3", **recipe.map_kwargs)
    net = mapping.network
    assert mapping.coding.mode == "signed"
    np.testing.assert_array_equal(grids[0].ints, net.weights_in[0::2, :16, 0].T)
    np.testing.assert_array_equal(grids[0].ints, -net.weights_in[1::2, :16, 0].T)
    np.testing.assert_array_equal(grids[1].ints, net.weights_rec[:16, 16:, 0].T)
    np.testing.assert_array_equal(grids[2].ints, net.weights_out[16:].T)
    np.testing.assert_array_equal(grids[0].info["threshold"], net.threshold[:16])


def test_spinnaker2_grid_is_int8_per_population() -> None:
    gen = torch.Generator().manual_seed(0)
    model = build_model(ModelConfig("chip_mlp", (4,), 3, "lif", {"tau": 2.0}, width=0.0625, batch_norm=False))
    _randomize(model, gen)
    grids = _grids(get_recipe("spinnaker2"), model, torch.rand(2, 3, 4, generator=gen))
    for g, m in zip(grids, [m for m in model.modules() if isinstance(m, nn.Linear)], strict=True):
        w = m.weight.detach().double().numpy()
        np.testing.assert_array_equal(g.ints, np.rint(w * 127 / np.abs(w).max()))
        assert np.abs(g.ints).max() == 127


@pytest.mark.parametrize("target", ["loihi2", "loihi2:lif", "speck", "xylo_audio3"])
def test_snap_is_a_fixed_point_of_the_mapper(target: str) -> None:
    """After ``snap`` the float weights are the chip's values: ``map_model`` finds the same integers and
    reports
    no rounding of the weights beyond float32 storage, and a second QAT pass changes nothing."""
    gen = torch.Generator().manual_seed(7)
    target, _, neuron = target.partition(":")  # "loihi2:lif": the recipe's LIF choice instead of its first
    recipe = get_recipe(target)
    choice = recipe.choice(neuron) if neuron else recipe.neuron()
    if target == "speck":
        model = build_model(
            ModelConfig("chip_cnn", (1, 8, 8), 4, "iaf", {"v_min": -1.0}, width=0.125, batch_norm=False)
        )
        x = torch.randint(0, 4, (3, 6, 1, 8, 8), generator=gen).float()
    else:
        model = build_model(
            ModelConfig("chip_mlp", (2,), 4, choice.name, dict(choice.kwargs), width=0.125, batch_norm=False)
        )
        x = torch.randn(4, 6, 2, generator=gen)
    _randomize(model, gen)
    q = ChipQuantizer(recipe, model, x)
    try:
        snapped = q.snap()
        again = q.compute()
    finally:
        q.remove()
    for a, b in zip(snapped, again, strict=True):
        np.testing.assert_array_equal(a.ints, b.ints)
    support = get_chip(recipe.hardware.name)
    mapping = support.map_model(model, x, recipe.hardware.name, **recipe.map_kwargs)
    if target == "speck":
        for g, layer in zip(snapped, mapping.network.layers, strict=True):
            np.testing.assert_array_equal(g.ints, layer.weight)
    elif target == "loihi2":
        for g, layer in zip(snapped, mapping.network.layers, strict=True):
            np.testing.assert_array_equal(g.ints, layer.weights)
    else:
        np.testing.assert_array_equal(snapped[-1].ints, mapping.network.weights_out[-16:].T)


def test_straight_through_gradient_reaches_the_master_weights() -> None:
    torch.manual_seed(0)
    recipe = get_recipe("loihi2")
    model = build_model(
        ModelConfig("chip_mlp", (3,), 4, "lif", {"tau": 2.0, "v_reset": 0.0}, width=0.125, batch_norm=False)
    )
    x = torch.rand(6, 8, 3) * 2
    with ChipQuantizer(recipe, model, x) as q:
        out = model(x)
        out.sum().backward()
        raw = [
            m.parametrizations.weight.original
            for m in model.modules()
            if isinstance(m, nn.Linear)
        ]
        assert all(r.grad is not None and torch.isfinite(r.grad).all() for r in raw)
        assert any(float(r.grad.abs().sum()) > 0 for r in raw)
        assert q.grids and all(g.ints.dtype == np.int64 for g in q.grids)
    assert not any(hasattr(m, "parametrizations") for m in model.modules())  # removed: plain weights again
