"""Op counts on tiny networks whose numbers are computed by hand in each test."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snndeploy.energy import count_ops, estimate_energy, get_profile, input_kind, neuron_ops
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.neurons import CLIF, ILIF, KLIF, LIF


def _linear(w: list[list[float]]) -> nn.Linear:
    t = torch.tensor(w)
    lin = nn.Linear(t.shape[1], t.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(t)
    return lin


@pytest.fixture
def tiny():
    """Linear(3→2) → LIF(τ=2, θ=1, soft) → Linear(2→2), T=2, B=1, real-valued input (direct encoding)."""
    model = nn.Sequential(
        TimeDistributed(_linear([[1, 0, 2], [0, 0, 3]])),
        LIF(tau=2.0, v_threshold=1.0),
        TimeDistributed(_linear([[1, 1], [0, 2]])),
    )
    x = torch.tensor([[[0.5, 0.0, -1.0]], [[2.0, 3.0, 0.0]]])  # [T=2, B=1, 3]
    return model, x


def test_hand_computed_counts(tiny):
    model, x = tiny
    c = count_ops(model, x)
    lin1, lif, lin2 = c.layers
    # Layer 1 (real input → MACs). t0: inputs 0 and 2 are non-zero; column 0 has 1 non-zero weight, column 2 has 2
    # → 3. t1: inputs 0 and 1; column 1 is all zero → 1. Total 4. Dense = 2 steps × 6 synapses = 12.
    assert input_kind(x) == "real"
    assert (lin1.macs, lin1.acs, lin1.dense_ops) == (4, 0, 12)
    assert lin1.paper_macs == 12.0  # T · FLOPs = 2 · 6
    assert lin1.fan_in == 3 and lin1.flops_per_row == 6
    # LIF: currents t0 = [−1.5, −3] (no spike, V = [−1.5, −3]); t1 = [2, 0], H = V − V/2 + X = [1.25, −1.5]:
    # one spike. Updates = 2 neurons × 2 steps = 4; ops = 3 per update + 1 add per spike.
    assert (lif.neurons, lif.updates, lif.spikes) == (2, 4, 1)
    assert lif.firing_rate == 0.25
    assert lif.ops == {"add": 5, "mult": 4, "compare": 4, "nonlinear": 0}
    # Layer 2 (binary input → ACs): only input 0 spikes at t1; column 0 of W2 has one non-zero weight → 1 AC.
    # Papers: T · rate · FLOPs = 2 · 1/4 · 4 = 2.
    assert (lin2.acs, lin2.macs, lin2.dense_ops) == (1, 0, 8)
    assert lin2.paper_acs == 2.0
    assert lin2.input_kinds == {"binary"}
    assert c.ann_macs_per_sample == 10
    assert (c.samples, c.T, c.forwards) == (1, 2, 1)


def test_hand_computed_energy(tiny):
    model, x = tiny
    c = count_ops(model, x)
    e = estimate_energy(c, get_profile("cmos45_fp32"))
    assert e.synaptic_pj == pytest.approx(4 * 4.6 + 1 * 0.9)
    assert e.neuron_pj == pytest.approx(5 * 0.9 + 4 * 3.7 + 4 * 0.9)  # add, mult, compare
    assert e.total_pj == pytest.approx(19.3 + 22.9)
    assert e.paper_pj == pytest.approx(12 * 4.6 + 2 * 0.9)
    assert e.ann_pj == pytest.approx(10 * 4.6)
    loihi = estimate_energy(c, get_profile("loihi"))
    assert loihi.synaptic_pj == pytest.approx(23.6)  # the MACs cannot be priced on Loihi ...
    assert loihi.unpriced == [{"layer": "0", "term": "mac", "ops_per_sample": 4.0}]  # ... and are listed
    assert loihi.neuron_pj == pytest.approx(81.0 * 4)  # 4 state updates × 1 state variable
    assert loihi.ann_pj is None
    tn = estimate_energy(c, get_profile("truenorth"))
    assert tn.total_pj == pytest.approx(26.0) and tn.neuron_pj == 0.0  # neuron cost is inside the 26 pJ


def test_per_sample_and_per_forward(tiny):
    model, x = tiny
    x2 = torch.cat([x, x], dim=1)  # the same sample twice: per-sample numbers unchanged, per-forward doubled
    c = count_ops(model, [x2, x2])
    assert (c.samples, c.forwards) == (4, 2)
    assert c.per_sample(c.total("macs")) == 4.0
    assert c.total("macs") / c.forwards == 8.0


def test_conv_fan_out_and_padding():
    """3×3 conv, all-ones kernel, padding 1: a spike in the centre reaches 9 outputs, one in a corner only 4."""
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.zeros(1, 1, 1, 3, 3)
    x[0, 0, 0, 1, 1] = 1.0
    x[0, 0, 0, 0, 0] = 1.0
    c = count_ops(nn.Sequential(TimeDistributed(conv)), x)
    (layer,) = c.layers
    assert layer.acs == 13
    assert layer.dense_ops == 49  # Σ over outputs of in-bounds taps: 4·4 + 4·6 + 9 (corners, edges, centre)
    assert layer.flops_per_row == 81  # the papers' FLOPs count padding taps: 9 outputs × 9
    assert layer.paper_acs == pytest.approx(2 / 9 * 81)  # T·rate·FLOPs = 18 ≠ 13


def test_residual_pool_batchnorm_counts():
    model = nn.Sequential(
        TimeDistributed(nn.Conv2d(1, 2, 3, padding=1, bias=False)),
        TimeDistributed(nn.BatchNorm2d(2)),
        LIF(),
        Residual(nn.Sequential(TimeDistributed(nn.Conv2d(2, 2, 1, bias=False)), LIF())),
        TimeDistributed(nn.AvgPool2d(2)),
        TimeDistributed(nn.Flatten()),
        TimeDistributed(nn.Linear(8, 3)),
    )
    x = torch.randn(3, 2, 1, 4, 4) * 3
    c = count_ops(model, x)
    by_name = {lc.name: lc for lc in c.layers}
    bn, res, pool, fc = by_name["1"], by_name["3"], by_name["4"], by_name["6"]
    elements = 3 * 2 * 2 * 4 * 4  # T·B·C·H·W
    assert bn.ops["mult"] == elements and bn.ops["add"] == elements
    assert res.ops["add"] == elements  # one add per element of the residual stream
    assert pool.ops == {"add": 3 * 2 * 8 * 3, "mult": 3 * 2 * 8, "compare": 0, "nonlinear": 0}
    assert fc.input_kinds == {"real"} and fc.acs == 0  # the pooled stream is real-valued: MACs
    assert by_name["3.main.0"].input_kinds == {"binary"}


def test_spike_sum_residual_is_mac():
    """spike + spike can be 2: the layer reading a residual spike sum does MACs, decided on the tensor."""
    model = nn.Sequential(Residual(nn.Sequential(LIF(v_threshold=0.5))), TimeDistributed(_linear([[1, 1]])))
    x = torch.ones(1, 1, 2)
    c = count_ops(model, x)
    fc = c.layers[-1]
    assert input_kind(torch.tensor([0.0, 2.0])) == "real"
    assert fc.input_kinds == {"real"} and fc.macs == 2


@pytest.mark.parametrize(
    ("cls", "states", "per_step", "per_spike"),
    [
        (LIF, 1, 3, 1),    # β·V, +X, Θ | −V_th
        (KLIF, 1, 6, 0),   # β·V, X/τ, +, k·H, ReLU, Θ | write V_r
        (CLIF, 2, 6, 4),   # β·u, +x, u'/τ, σ, m·σ, Θ | m+1, σ(m), V_th+σ, u'−…
        (ILIF, 4, 6, 5),   # γ·, β·v, +x, −max, max, Θ | I+x_prev, H−V_th, m+v', σ(m), v'−σ
    ],
)
def test_neuron_update_ops(cls, states, per_step, per_spike):
    neuron = cls()
    ops = neuron_ops(neuron)
    assert (ops.states, ops.ops_per_step, ops.ops_per_spike) == (states, per_step, per_spike)
    x = torch.randn(5, 3, 7) * 2
    spikes = int(neuron(x).sum())
    c = count_ops(nn.Sequential(neuron), x)
    (layer,) = c.layers
    assert layer.spikes == spikes
    assert sum(layer.ops.values()) == per_step * x.numel() + per_spike * spikes


def test_lif_variants_ops():
    assert neuron_ops(LIF(decay_input=True)).per_step == {"mult": 2, "add": 1, "compare": 1}
    hard = neuron_ops(LIF(v_reset=-0.5))
    assert hard.per_step == {"mult": 1, "add": 2, "compare": 1} and hard.per_spike == {}


def test_hooks_removed_and_mode_restored(tiny):
    model, x = tiny
    model.train()
    count_ops(model, x)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def test_bad_data_raises(tiny):
    from snndeploy.errors import InvalidInputError

    model, x = tiny
    with pytest.raises(InvalidInputError, match="no batch"):
        count_ops(model, [])
    with pytest.raises(InvalidInputError, match="share T"):
        count_ops(model, [x, torch.cat([x, x])])


def test_bare_linear_on_time_major_input(tiny):
    """A Linear used without TimeDistributed sees [T, B, in]; the counts are the same as with the wrapper."""
    model, x = tiny
    bare = nn.Sequential(model[0].layer, model[1], model[2].layer)
    a, b = count_ops(model, x), count_ops(bare, x)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert (la.acs, la.macs, la.dense_ops, la.paper_acs, la.paper_macs, la.flops_per_row) == (
            lb.acs, lb.macs, lb.dense_ops, lb.paper_acs, lb.paper_macs, lb.flops_per_row)
