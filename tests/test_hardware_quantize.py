"""Post-training quantisation: weights land on each target's grid, an on-grid model is unchanged, alarms
fire."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from snndeploy.hardware import get_target, quantize_model, quantize_tau, weight_scale
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import CLIF, LIF

TARGETS = ["loihi2", "xylo_audio2", "xylo_audio3", "xylo_imu", "speck", "spinnaker2"]


def mlp(**lif) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        TimeDistributed(nn.Linear(16, 32, bias=False)), LIF(**lif),
        TimeDistributed(nn.Linear(32, 4, bias=False)), LIF(**lif),
    )


@pytest.mark.parametrize("target", TARGETS)
def test_weights_on_grid_and_source_untouched(target):
    t = get_target(target)
    model = mlp(tau=3.0)
    before = [p.clone() for p in model.parameters()]
    res = quantize_model(model, t)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert set(res.scales) == {"0", "2"}
    for name, lin in (("0", res.model[0].layer), ("2", res.model[2].layer)):
        s = res.scales[name]
        # float32 storage: on the grid up to float32 rounding (~1e-5 LSB)
        k = lin.weight.detach().double() / s
        assert torch.allclose(k, torch.round(k), atol=1e-4)  # integer multiples of the LSB ...
        # ... of the step
        assert torch.allclose(k / t.weights.step, torch.round(k / t.weights.step), atol=1e-4)
        assert float(k.min()) >= t.weights.min - 1e-4 and float(k.max()) <= t.weights.max + 1e-4
        if t.weights.scale == "power_of_two":
            assert math.log2(s) == round(math.log2(s))
    for lq in res.layers:
        theta_q = lq.threshold[1]
        if t.threshold.step:  # integer thresholds are whole LSBs
            assert abs(theta_q / lq.scale - round(theta_q / lq.scale)) < 1e-4
    tau_q = res.model[1].params().tau
    assert tau_q == quantize_tau(3.0, t)
    assert tau_q == {"loihi2": 4096 / 1365, "speck": 3.0, "spinnaker2": 3.0}.get(target, 4.0)  # Xylo: 2**2


@pytest.mark.parametrize("target", ["loihi2", "xylo_audio2", "speck", "spinnaker2"])
def test_model_already_on_grid_is_unchanged(target):
    t = get_target(target)
    model = mlp(tau=2.0, v_reset=0.0 if target == "loihi2" else None)
    s0 = 2.0**-7  # a power of two: exact in float32
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for lin in (model[0].layer, model[2].layer):
            k = torch.randint(-30, 30, lin.weight.shape, generator=gen).float() * t.weights.step
            k[0, 0] = t.weights.qmax  # max|k| = qmax pins the scale to s0
            lin.weight.copy_(k * s0)
    res = quantize_model(model, t)
    for a, b in zip(model.parameters(), res.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert res.model[1].params() == model[1].params()  # θ = 1 = 128 LSBs, τ = 2 exact on every target
    assert all(lq.clipped == 0 and lq.zeroed == 0 for lq in res.layers)


def test_activity_agreement_and_collapse_alarm():
    torch.manual_seed(0)
    x = torch.rand(8, 16, 16) * 2
    ok = quantize_model(mlp(tau=2.0), "xylo", x)
    assert [a.name for a in ok.activity] == ["1", "3"]
    assert ok.activity[0].agreement > 0.95 and not ok.alarms
    # one huge weight on a silent input: every other weight rounds to 0 at 8 bits and the layer goes silent
    model = nn.Sequential(TimeDistributed(nn.Linear(16, 8, bias=False)), LIF())
    with torch.no_grad():
        model[0].layer.weight.fill_(0.2)
        model[0].layer.weight[0, 0] = 1e4
    x[..., 0] = 0.0
    bad = quantize_model(model, "xylo", x)
    (act,) = bad.activity
    assert act.rate_float > 0.3 and act.rate_quant == 0.0 and act.alarm == "collapsed"
    assert act.first_divergence is not None and act.first_divergence["reference"] == 1.0  # a float spike lost
    assert bad.layers[0].zeroed > 0.9 and [a.name for a in bad.alarms] == ["1"]


def test_saturation_alarm_and_accuracy():
    torch.manual_seed(0)
    model = nn.Sequential(TimeDistributed(nn.Linear(4, 6, bias=False)), LIF(v_threshold=0.5))
    with torch.no_grad():
        model[0].layer.weight.fill_(0.1)
        model[0].layer.weight[:, 0] = 2.0
    x = torch.rand(5, 8, 4) * 0.5
    x[..., 0] = 0.0
    # Speck scales θ with the weights: θ = 0.5 is 31.75 LSBs → 32;
    # then fake a tiny threshold via saturation level
    res = quantize_model(model, "speck", x, labels=torch.zeros(8, dtype=torch.long), saturation=0.0)
    assert res.accuracy is not None and len(res.accuracy) == 2
    assert all(a.alarm in (None, "saturated") for a in res.activity)


def test_clif_thresholds_quantised_without_decay_change():
    model = nn.Sequential(TimeDistributed(nn.Linear(3, 5, bias=False)), CLIF(tau=3.0))
    res = quantize_model(model, "xylo")
    lq = res.layers[0]
    assert lq.neuron == "1" and lq.tau is None  # CLIF has no LIF decay to encode (the check reports it)
    assert abs(lq.threshold[1] / lq.scale - round(lq.threshold[1] / lq.scale)) < 1e-6


def test_weight_scale_power_of_two():
    t = get_target("loihi2")
    assert weight_scale(1.0, t) == 2.0**-7  # 1/254 → next power of two 1/128
    assert weight_scale(0.0, t) == 1.0


def test_quantize_the_chip_faithful_neurons():
    """IAF (Speck) and CubaLIF (Xylo, Loihi 2) get their thresholds on the grid and both CubaLIF decays
    encoded."""
    from snndeploy.neurons import IAF, CubaLIF

    torch.manual_seed(0)
    iaf = nn.Sequential(TimeDistributed(nn.Linear(6, 8, bias=False)), IAF(v_threshold=0.7, v_min=-0.7))
    q = quantize_model(iaf, "speck", torch.rand(4, 3, 6))
    neuron = q.model[1]
    theta = neuron.params().v_threshold
    assert theta != 0.7 and neuron.params().v_min == -theta  # on the 8-bit weight grid; the floor follows
    cuba = nn.Sequential(TimeDistributed(nn.Linear(6, 8, bias=False)),
                         CubaLIF(alpha=0.7, beta=0.8, flavour="xylo", max_spikes=31))
    q = quantize_model(cuba, "xylo_audio2", torch.rand(4, 3, 6))
    p = q.model[1].params()
    assert (p.alpha, p.beta) == (1 - 2.0 ** -2, 1 - 2.0 ** -2)  # 0.7 → dash 2 (0.75), 0.8 → dash 2 (0.75)
    q = quantize_model(cuba, "loihi2", torch.rand(4, 3, 6))
    p = q.model[1].params()
    assert p.alpha * 4096 == round(p.alpha * 4096) and p.beta * 4096 == round(p.beta * 4096)
