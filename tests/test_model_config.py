"""``ModelConfig.neuron_overrides``: per-layer neuron parameters that survive a checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from snndeploy.checkpoint import load, save_checkpoint
from snndeploy.errors import InvalidParameterError
from snndeploy.models import ModelConfig, build_model
from snndeploy.models.tree import neuron_paths


def _config(**overrides):
    return ModelConfig("mlp", (3,), 4, "lif", {"tau": 2.0}, width=0.1, batch_norm=False, **overrides)


def test_an_override_replaces_the_neuron_at_its_path_only():
    paths = [p for p, _ in neuron_paths(build_model(_config()))]
    model = build_model(_config(neuron_overrides={paths[1]: {"tau": 8.0}}))
    taus = {p: n.params().tau for p, n in neuron_paths(model)}
    assert taus == {p: (8.0 if p == paths[1] else 2.0) for p in paths}


def test_overrides_round_trip_through_a_checkpoint(tmp_path):
    paths = [p for p, _ in neuron_paths(build_model(_config()))]
    config = _config(neuron_overrides={paths[0]: {"tau": 4.0, "v_threshold": 0.5}})
    assert ModelConfig.from_dict(config.to_dict()) == config
    model = build_model(config)
    path = save_checkpoint(tmp_path / "c.pt", model=model, config=config, epoch=0)
    loaded, got = load(path)
    assert got.neuron_overrides == config.neuron_overrides
    x = torch.rand(5, 2, 3) * 3
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))


def test_without_overrides_the_stored_dict_is_unchanged():
    assert "neuron_overrides" not in _config().to_dict()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"0": {"tau": [1, 2]}}, r"neuron_overrides\['0'\]\['tau'\]"),
        ({"0": 3.0}, r"neuron_overrides\['0'\] must map"),
        ({"0": {"backend": "torch"}}, "backend"),
        ([("0", {})], "must be a dict"),
    ],
)
def test_bad_overrides_are_refused(overrides, match):
    with pytest.raises(InvalidParameterError, match=match):
        _config(neuron_overrides=overrides)


def test_an_override_at_a_path_that_is_no_neuron_names_the_neuron_layers():
    with pytest.raises(InvalidParameterError, match="not neuron layers of this mlp"):
        build_model(_config(neuron_overrides={"99": {"tau": 4.0}}))
