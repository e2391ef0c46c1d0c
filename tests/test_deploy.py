"""``snndeploy deploy``: the exact rewrites are exact, the self-inhibition rewrite equals the reset it
replaces,
deploy.json keeps its schema, exit codes follow the verdict, unusable requests are refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from exporters.lifspec import FoldedLIF, LIFSpec
from snndeploy.cli.app import main
from snndeploy.data import load_dataset
from snndeploy.deploy.convert import DeployConfig, deploy_checkpoint
from snndeploy.deploy.recipes import get_recipe
from snndeploy.deploy.rewrite import SelfInhibitedLIF, fold_avgpool, rewrite_for_target, sum_pool_rewrite
from snndeploy.errors import InvalidParameterError
from snndeploy.models import ModelConfig
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import LIF
from snndeploy.train import TrainConfig, train


def _pooled_net() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(1, 3, 3, padding=1)),
        LIF(2.0, backend="torch"),
        TimeDistributed(nn.AvgPool2d(2)),
        TimeDistributed(nn.Conv2d(3, 4, 3, padding=1)),
        LIF(2.0, backend="torch"),
        TimeDistributed(nn.AvgPool2d(2)),
        TimeDistributed(nn.Flatten()),
        TimeDistributed(nn.Linear(16, 5)),
    ).eval()


def _layer_inputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The input of every neuron layer and the output (what the weights compute)."""
    got: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda mod, a, o: got.append(a[0].double()))
        for m in model
        if isinstance(m, LIF)
    ]
    with torch.no_grad():
        y = model(x)
    for h in hooks:
        h.remove()
    return [*got, y.double()]


@pytest.mark.parametrize("rewrite", ["fold", "sum"])
def test_pool_rewrites_are_exact(rewrite: str) -> None:
    """AvgPool → next layer's weights (Loihi 2, SpiNNaker2) and → SumPool with rescaled weights (Speck) give
    the
    same pre-activations as the original in real arithmetic (float32 sums in another order: 1e-5)."""
    model = _pooled_net()
    x = torch.rand(3, 5, 1, 8, 8)
    new, recs = fold_avgpool(model, x) if rewrite == "fold" else sum_pool_rewrite(model)
    assert len(recs) == 2 and all(r.exact for r in recs)
    kinds = [type(m.layer if isinstance(m, TimeDistributed) else m).__name__ for m in new]
    if rewrite == "fold":
        assert (
            "AvgPool2d" not in kinds and new[3].layer.kernel_size == (6, 6) and new[3].layer.stride == (2, 2)
        )
        assert new[7].layer.in_features == 64
    else:
        assert all(
            m.layer.divisor_override == 1
            for m in new
            if isinstance(m, TimeDistributed) and isinstance(m.layer, nn.AvgPool2d)
        )
    for a, b in zip(_layer_inputs(model, x), _layer_inputs(new, x), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_self_inhibition_equals_the_reset_it_replaces() -> None:
    """Reset by c ≠ θ == reset by θ plus a recurrent self weight −a(c − θ)/b on the own spike (exact)."""
    torch.manual_seed(0)
    for c, tau, decay_input in ((1.7310585786300049, 2.0, False), (1.4, 4.0, True)):
        spec = LIFSpec(tau, decay_input, 0.0, 1.0, "soft", reset_amount=c)
        recipe = get_recipe("spinnaker2")
        from snndeploy.deploy.rewrite import target_neuron

        new, what, exact = target_neuron(recipe, spec)
        assert isinstance(new, SelfInhibitedLIF) and exact and "self-inhibitory" in what
        assert new.spec.subtracts_threshold
        x = torch.randn(40, 64, 20) * (1.5 if decay_input else 0.8) + 0.4
        with torch.no_grad():
            ref, got = FoldedLIF(spec)(x), new(x)
        assert float(ref.mean()) > 0.05
        assert torch.equal(ref, got), float((ref != got).float().mean())
    plain = get_recipe("speck")
    _, what, exact = target_neuron(plain, LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=1.7))
    assert not exact  # Speck has no recurrent weights: an approximation, said so


@pytest.fixture(scope="module")
def clif_vgg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CLIF VGG with BatchNorm and average pooling, briefly trained on digits (the demo's shape)."""
    out = tmp_path_factory.mktemp("clif")
    data = load_dataset("digits", time_steps=4, limit=384)
    config = ModelConfig("vgg", data.input_shape, data.num_classes, "clif", width=0.25)
    train(config, data, TrainConfig(epochs=2, batch_size=32, lr=3e-3, seed=0), out)
    return out / "checkpoint.pt"


def test_deploy_json_schema_and_exit_code(clif_vgg: Path, tmp_path: Path, vendor_python) -> None:
    vendor_python("sinabs")
    out = tmp_path / "speck"
    rc = main(
        [
            "deploy",
            str(clif_vgg),
            "--target",
            "speck",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--samples",
            "160",
            "--limit",
            "200",
        ]
    )
    d = json.loads((out / "deploy.json").read_text())
    assert d["schema"] == "snndeploy.deploy/1" and d["target"] == "speck"
    assert [s["name"] for s in d["stages"]] == [
        "source",
        "fold",
        "rewrite",
        "fine-tune",
        "quantised",
        "integer",
    ]
    for s in d["stages"]:
        assert set(s) >= {"name", "accuracy", "spike_agreement_vs_source"}
        assert 0.0 <= s["accuracy"] <= 1.0
    assert set(d["vendor_check"]) >= {"simulator", "version", "samples", "spike_agreement"}
    assert set(d["hw_check"]) >= {"errors", "warnings"} and isinstance(d["hw_check"]["errors"], int)
    assert d["passed"] == (d["hw_check"]["errors"] == 0 and d["vendor_check"]["spike_agreement"] == 1.0)
    assert rc == (0 if d["passed"] else 1)
    assert {r["name"] for r in d["rewrites"]} >= {
        "avgpool→sumpool",
        "input scale",
        "neuron",
        "output neurons",
    }
    assert all(isinstance(r["exact"], bool) for r in d["rewrites"])
    assert d["stages"][-1]["accuracy"] == d["chip"]["chip_accuracy"]
    for name in ("deploy.md", "accuracy_per_stage.png", "energy/energy.json"):
        assert (out / name).stat().st_size > 0
    assert d["artifacts"] and all(Path(p).is_file() for p in d["artifacts"])


def test_deploy_loihi2_stages_and_baseline(clif_vgg: Path, tmp_path: Path, vendor_python) -> None:
    vendor_python("lava")
    res = deploy_checkpoint(
        clif_vgg,
        "loihi2",
        None,
        limit=160,
        cfg=DeployConfig(finetune_epochs=1, finetune_samples=128, energy=False, vendor_samples=4),
    )
    assert res.check is not None and res.check.hw_check.ok, [v.message for v in res.check.hw_check.errors]
    assert res.vendor_agreement == 1.0 and res.passed
    quantised, integer = res.stages[-2], res.stages[-1]
    assert quantised.name == "quantised" and integer.name == "integer"
    # the snapped float model and the integer chip model run the same weights: nearly the same spikes
    assert res.check.spike_agreement >= 0.97
    assert res.baseline is not None and res.baseline["chip_accuracy"] is not None
    assert res.baseline["hw_check_errors"] == 0
    names = [r.name for r in res.rewrites]
    assert names.count("avgpool→next weights") == 3 and "readout" in names


def test_deploy_refuses_a_conv_net_on_xylo(
    clif_vgg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", str(clif_vgg), "--target", "xylo", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "convolutions are not supported" in err and "dense hidden neurons" in err and "fix:" in err
    assert not (tmp_path / "x" / "deploy.json").exists()


def test_rewrite_keeps_no_average_pool_where_the_chip_has_none(clif_vgg: Path) -> None:
    from exporters.fold import fold
    from snndeploy import load

    model, _ = load(clif_vgg)
    x = torch.rand(4, 8, 1, 8, 8)
    folded, _ = fold(model, x)
    for target in ("loihi2", "spinnaker2"):
        legal, recs = rewrite_for_target(folded, get_recipe(target), x)
        assert not any(isinstance(getattr(m, "layer", m), nn.AvgPool2d) for m in legal)
        assert all(r.exact for r in recs if r.name == "avgpool→next weights")
    legal, _ = rewrite_for_target(folded, get_recipe("speck"), x * 16, input_scale=16.0)
    assert np.all(
        [m.layer.divisor_override == 1 for m in legal if isinstance(getattr(m, "layer", None), nn.AvgPool2d)]
    )


def test_demo_target_speck_runs_end_to_end(tmp_path: Path, vendor_python,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    vendor_python("sinabs")
    out = tmp_path / "demo"
    assert main(["demo", "--target", "speck", "--epochs", "2", "--out", str(out)]) == 0
    text = " ".join(capsys.readouterr().out.split())  # rich wraps at the console width
    assert "hw-check speck: 0 error(s)" in text and "0 differing spike counts" in text
    section = json.loads((out / "summary.json").read_text())["target"]
    assert section["passed"] and section["hw_check"]["errors"] == 0
    assert section["vendor_check"]["spike_agreement"] == 1.0
    assert abs(section["float_accuracy"] - section["chip_accuracy"]) <= 0.02
    assert all(Path(p).is_file() for p in section["artifacts"]) and (out / "checkpoint.pt").is_file()


@pytest.mark.parametrize("target", ["loihi2", "speck", "xylo_audio2", "spinnaker2"])
def test_finetune_defaults_come_from_the_recipe_unless_given(target: str) -> None:
    recipe = get_recipe(target)
    cfg = DeployConfig().for_recipe(recipe)
    assert cfg.finetune_epochs == recipe.finetune.get("epochs", 16)
    assert cfg.lr == recipe.finetune.get("lr", 3e-3)
    given = DeployConfig(finetune_epochs=0, lr=5e-4).for_recipe(recipe)
    assert (given.finetune_epochs, given.lr) == (0, 5e-4)


@pytest.mark.parametrize("bad", [{"finetune_epochs": -1}, {"finetune_epochs": True}, {"lr": 0.0},
                                 {"lr": float("nan")}, {"lr": "fast"}])
def test_bad_finetune_settings_are_refused(bad: dict) -> None:
    with pytest.raises(InvalidParameterError, match=next(iter(bad))):
        DeployConfig(**bad)
