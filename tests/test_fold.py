"""Fold rules: exact LIF folds, KLIF rescaling and its floor, CLIF/ILIF calibration, BatchNorm folds, bad
input."""

import pytest
import torch
from torch import nn

from exporters.fold import fold, layer_agreement
from exporters.fold.calibration import capture
from exporters.zoo import KINDS, input_shape_of, tiny_model
from snndeploy.errors import ExportError
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.models.tree import neuron_paths
from snndeploy.neurons import CLIF, KLIF, LIF


def _x(kind: str, T: int = 8, B: int = 16, seed: int = 0, scale: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, *input_shape_of(kind), generator=g) * scale


def _spikes(model, x):
    paths = [p for p, _ in neuron_paths(model)]
    with torch.no_grad(), capture(model, paths) as st:
        out = model(x)
    return out, dict(st)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "neuron, lif_kwargs",
    [("lif", {}), ("lif", {"v_reset": 0.0}), ("lif", {"decay_input": True, "tau": 1.5, "v_reset": -0.2}),
     ("iaf", {}), ("iaf", {"max_spikes": 1, "v_min": -0.5}), ("cubalif", {}),
     ("cubalif", {"flavour": "loihi"})],
)
def test_lif_fold_is_exact_without_batchnorm(kind, neuron, lif_kwargs):
    model = tiny_model(kind, neuron, batch_norm=False, **lif_kwargs)
    x = _x(kind)
    folded, report = fold(model, x)
    assert report.exact
    out_s, sp_s = _spikes(model, x)
    out_f, sp_f = _spikes(folded, x)
    assert torch.equal(out_s, out_f)
    for p in sp_s:
        assert torch.equal(sp_s[p], sp_f[p]), p
    assert sum(float(s.sum()) for s in sp_s.values()) > 0


@pytest.mark.parametrize("kind", KINDS)
def test_batchnorm_folds_report_small_differences(kind):
    model = tiny_model(kind, "lif", batch_norm=True)
    x = _x(kind)
    folded, report = fold(model, x)
    bn = [e for e in report.layers if e.source.startswith("BatchNorm")]
    assert bn and all(e.rule == "bn.into_previous" for e in bn)
    assert all(e.extra["max_abs_diff"] < 1e-4 for e in bn)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in folded.modules())
    agree = layer_agreement(model, folded, x)
    assert min(agree.values()) > 0.999


def _bn_after_neuron(next_padding: int) -> nn.Sequential:
    torch.manual_seed(0)
    m = nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)),
        LIF(),
        TimeDistributed(nn.BatchNorm2d(4)),
        TimeDistributed(nn.Conv2d(4, 3, 3, padding=next_padding)),
        LIF(),
    )
    bn = m[2].layer
    bn.running_mean.uniform_(-0.3, 0.3)
    bn.running_var.uniform_(0.5, 2.0)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.2, 0.2)
    return m.eval()


@pytest.mark.parametrize("padding,rule", [(0, "bn.into_next"), (1, "bn.kept_affine")])
def test_batchnorm_after_a_neuron_folds_forward_or_is_kept_as_affine(padding, rule):
    model = _bn_after_neuron(padding)
    x = torch.rand(6, 8, 2, 8, 8) * 3
    folded, report = fold(model, x)
    rec = [e for e in report.layers if e.source == "BatchNorm2d"][0]
    assert rec.rule == rule and rec.extra["max_abs_diff"] < 1e-4
    with torch.no_grad():
        assert (model(x) - folded(x)).abs().max() < 1e-4 or layer_agreement(model, folded, x)["4"] > 0.99


def test_klif_fold_is_exact_when_the_floor_never_acts():
    torch.manual_seed(0)
    lin = nn.Linear(5, 12)
    lin.weight.data.abs_()
    lin.bias.data.abs_()
    model = nn.Sequential(TimeDistributed(lin), KLIF(k_init=0.8, decay_input=False, tau=2.0)).eval()
    x = torch.rand(10, 64, 5)  # non-negative inputs and weights: k·H ≥ 0 always
    folded, report = fold(model, x)
    rec = report.for_layer("1")
    assert rec.rule == "klif.rescale" and rec.extra["relu_floor_rate"] == 0.0
    assert rec.spike_agreement == 1.0
    with torch.no_grad():
        assert torch.equal(model(x), folded(x))
    assert rec.params["decay"] == pytest.approx(0.8 * 0.5, rel=1e-6)


def test_klif_floor_rate_is_measured_and_reported():
    model = nn.Sequential(TimeDistributed(nn.Linear(5, 12)), KLIF(decay_input=False)).eval()
    x = torch.randn(10, 64, 5) * 2
    _, report = fold(model, x)
    rec = report.for_layer("1")
    assert 0.0 < rec.extra["relu_floor_rate"] < 1.0 and not rec.exact
    assert "floor" in rec.conditions


@pytest.mark.parametrize(
    "k,match", [(-0.5, "must be > 0"), (0.0, "must be > 0"), (2.0, "IF neuron"), (3.0, "unstable")]
)
def test_klif_non_foldable_k_is_refused_naming_the_layer(k, match):
    model = nn.Sequential(TimeDistributed(nn.Linear(3, 4)), KLIF(k_init=k, tau=2.0))
    with pytest.raises(ExportError, match=rf"layer 1: .*{match}"):
        fold(model)


def test_clif_soft_fold_is_exact_up_to_the_second_spike():
    clif = CLIF(tau=2.0)
    model = nn.Sequential(clif)
    x = torch.rand(40, 128, 10) * 1.5
    folded, report = fold(model)  # no calibration: c = θ + σ(1)
    assert report.for_layer("0").rule == "clif.soft(c=θ+σ(1))"
    with torch.no_grad():
        s_src, s_fold = model(x), folded(x)
    # spike times up to (and including) each neuron's second spike are identical
    n_src = s_src.cumsum(0)
    before = torch.cat([torch.zeros_like(n_src[:1]), n_src[:-1]], 0)  # spikes strictly before t
    prefix = before < 2
    assert torch.equal(s_src[prefix], s_fold[prefix])
    assert bool((n_src >= 2).any()) and (s_src != s_fold).any()  # second spikes happen; later ones may differ


@pytest.mark.parametrize("neuron", ["clif", "ilif"])
def test_calibration_picks_the_best_candidate_and_reports_agreement(neuron):
    model = tiny_model("mlp", neuron)
    x = _x("mlp", T=12, B=64)
    _, plain = fold(model)
    folded, calibrated = fold(model, x, granularity="layer")
    for rec in calibrated.layers:
        if rec.source.startswith("BatchNorm"):
            continue
        cands = rec.extra["candidates"]
        assert (
            min(c["mismatches"] for c in cands)
            == [c for c in cands if c["rule"] == rec.rule][0]["mismatches"]
        )
        assert 0.9 < rec.spike_agreement <= 1.0 and not rec.exact
    assert calibrated.metrics["prediction_agreement"] > 0.8
    assert calibrated.to_json()


def test_fold_leaves_the_source_untouched_and_returns_eval_copy():
    model = tiny_model("conv", "clif").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded, _ = fold(model, _x("conv"))
    assert model.training and not folded.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert isinstance(model[2], CLIF)


@pytest.mark.parametrize(
    "bad,where",
    [
        (nn.Sequential(TimeDistributed(nn.Linear(3, 4)), nn.ReLU()), "layer 1: unsupported module ReLU"),
        (nn.Sequential(TimeDistributed(nn.MaxPool2d(2))), "layer 0: unsupported layer MaxPool2d"),
        (
            nn.Sequential(Residual(nn.Sequential(TimeDistributed(nn.Linear(3, 3)), nn.GELU()))),
            "layer 0.main.1",
        ),
    ],
)
def test_unsupported_layers_are_named(bad, where):
    with pytest.raises(ExportError, match=where):
        fold(bad)


def test_bad_calibration_data_is_refused():
    with pytest.raises(ExportError, match="calibration_data"):
        fold(tiny_model("mlp", "lif"), torch.zeros(3, 6))


def test_a_neuron_without_a_fold_rule_is_named():
    from snndeploy.neurons.base import NeuronModule

    class Odd(NeuronModule):
        neuron_name = "odd"

    with pytest.raises(ExportError, match="layer 1: no fold rule for Odd; supported: LIF, KLIF, CLIF, ILIF"):
        fold(nn.Sequential(TimeDistributed(nn.Linear(3, 4)), Odd()))
