"""Model builders: every builder × neuron runs forward + backward; structure, config round trip, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snndeploy.errors import InvalidParameterError, UnknownNameError
from snndeploy.models import MODELS, ModelConfig, Residual, TimeDistributed, build_model
from snndeploy.neurons import NEURONS, NeuronModule

T, B = 3, 2
ALLOWED_LAYERS = (
    nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity,
)


def _config(model: str, neuron: str, **kw) -> ModelConfig:
    shape = (1, 8, 8) if model == "mlp" else (3, 16, 16)
    return ModelConfig(model, shape, 5, neuron, width=kw.pop("width", 1 / 16), **kw)


@pytest.mark.parametrize("neuron", sorted(NEURONS))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_builder_forward_backward(model: str, neuron: str) -> None:
    torch.manual_seed(0)
    config = _config(model, neuron)
    net = build_model(config)
    x = torch.randn(T, B, *config.input_shape) * 3
    out = net(x)
    assert out.shape == (T, B, 5)
    out.float().square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


def _walk(module: nn.Module) -> None:
    if isinstance(module, nn.Sequential):
        for child in module:
            _walk(child)
    elif isinstance(module, Residual):
        _walk(module.main)
        _walk(module.shortcut)
    elif isinstance(module, TimeDistributed):
        assert isinstance(module.layer, ALLOWED_LAYERS), type(module.layer)
    elif isinstance(module, nn.Identity):
        pass
    else:
        assert isinstance(module, NeuronModule), f"unexpected module {type(module).__name__}"


@pytest.mark.parametrize("model", sorted(MODELS))
def test_models_are_trees_of_allowed_pieces(model: str) -> None:
    net = build_model(_config(model, "clif", dropout=0.1))
    assert isinstance(net, nn.Sequential)
    _walk(net)
    assert isinstance(net.snndeploy_config, ModelConfig)


@pytest.mark.parametrize(("model", "n_neurons", "n_convs"),
                         [("resnet18", 17, 20), ("resnet19", 17, 19), ("vgg11", 8, 8)])
def test_published_shapes(model: str, n_neurons: int, n_convs: int) -> None:
    net = build_model(ModelConfig(model, (3, 32, 32), 10, "lif", width=1 / 16))
    assert sum(isinstance(m, NeuronModule) for m in net.modules()) == n_neurons
    assert sum(isinstance(m, nn.Conv2d) for m in net.modules()) == n_convs


def _preact_resnet_count(c_in: int, classes: int, stages: list[tuple[int, int, int]], stem: int) -> int:
    """Weights of the CLIF repo's PreActResNet written out by hand: stem conv without bias, blocks with conv
    biases (bn1, conv1, bn2, conv2, 1x1 shortcut when the shape changes), final BN and Linear."""
    total, c = c_in * stem * 9, stem
    for out, n_blocks, stride in stages:
        for k in range(n_blocks):
            s = stride if k == 0 else 1
            total += 2 * c + 9 * c * out + out + 2 * out + 9 * out * out + out
            total += c * out + out if (s != 1 or c != out) else 0
            c = out
    return total + 2 * c + c * classes + classes


def test_full_width_parameter_counts() -> None:
    r18 = build_model(ModelConfig("resnet18", (3, 32, 32), 10, "lif"))
    expect18 = _preact_resnet_count(3, 10, [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)], 64)
    assert sum(p.numel() for p in r18.parameters()) == expect18
    r19 = build_model(ModelConfig("resnet19", (3, 32, 32), 10, "lif"))
    expect19 = _preact_resnet_count(3, 10, [(128, 3, 1), (256, 3, 2), (512, 2, 2)], 128)
    assert sum(p.numel() for p in r19.parameters()) == expect19


def test_preact_block_matches_reference_formula() -> None:
    torch.manual_seed(1)
    net = build_model(ModelConfig("resnet18", (3, 8, 8), 4, "lif", width=1 / 16)).eval()
    block = net[5]  # first block of stage 2: stride 2, 1x1 conv shortcut
    bn1, neuron1, res = block[0], block[1], block[2]
    conv1, bn2, neuron2, conv2 = res.main[0], res.main[1], res.main[2], res.main[3]
    assert isinstance(res.shortcut, TimeDistributed) and isinstance(res.shortcut.layer, nn.Conv2d)
    x = torch.randn(T, B, conv1.layer.in_channels, 4, 4) * 2
    s = neuron1(bn1(x))
    ref = conv2(neuron2(bn2(conv1(s)))) + res.shortcut(s)
    torch.testing.assert_close(block(x), ref, rtol=0, atol=0)


def test_mnist1d_mlp_takes_one_value_per_step() -> None:
    net = build_model(ModelConfig("mlp", (1,), 10, "clif"))
    assert net(torch.randn(40, 4, 1)).shape == (40, 4, 10)


def test_config_round_trip_and_validation() -> None:
    c = ModelConfig("VGG", [3, 16, 16], 10, "KLIF", {"tau": 3.0, "surrogate": "sigmoid:2"}, width=0.5,
                    depth=2)
    assert c.model == "vgg" and c.neuron == "klif" and c.input_shape == (3, 16, 16)
    d = c.to_dict()
    assert d["input_shape"] == [3, 16, 16] and d["schema"] == 1
    assert ModelConfig.from_dict(d) == c
    assert hash(ModelConfig.from_dict(d)) == hash(c)
    with pytest.raises(UnknownNameError, match="unknown model 'nope'.*mlp"):
        ModelConfig("nope", (1,), 10)
    with pytest.raises(UnknownNameError, match="unknown neuron 'izh'"):
        ModelConfig("mlp", (1,), 10, "izh")
    with pytest.raises(InvalidParameterError, match="num_classes"):
        ModelConfig("mlp", (1,), 1)
    with pytest.raises(InvalidParameterError, match="input_shape"):
        ModelConfig("mlp", (0, 3), 10)
    with pytest.raises(InvalidParameterError, match=r"neuron_kwargs\['tau'\]"):
        ModelConfig("mlp", (1,), 10, neuron_kwargs={"tau": [2.0]})
    with pytest.raises(InvalidParameterError, match="unknown field"):
        ModelConfig.from_dict({**d, "colour": "red"})
    with pytest.raises(InvalidParameterError, match="needs an image input_shape"):
        build_model(ModelConfig("resnet19", (1,), 10))
    with pytest.raises(InvalidParameterError, match="neuron 'clif'"):
        build_model(ModelConfig("mlp", (1,), 10, "clif", {"bogus": 1.0}))


def test_neuron_kwargs_reach_every_neuron() -> None:
    net = build_model(ModelConfig("vgg", (1, 8, 8), 10, "lif", {"tau": 4.0, "v_reset": 0.0}, width=0.25))
    params = [m.params() for m in net.modules() if isinstance(m, NeuronModule)]
    assert len(params) == 3 and all(p.tau == 4.0 and p.v_reset == 0.0 for p in params)
