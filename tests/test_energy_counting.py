"""Op counts on tiny networks whose numbers are computed by hand in each test."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from snndeploy.energy import count_ops, estimate_energy, get_profile, input_kind, neuron_ops
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.neurons import CLIF, IAF, ILIF, KLIF, LIF, CubaLIF


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
    x = torch.tensor([[[0.5, 0.0, -1.0]], [[2.5, 3.0, 0.0]]])  # [T=2, B=1, 3], real-valued rows
    return model, x


def test_hand_computed_counts(tiny):
    model, x = tiny
    c = count_ops(model, x)
    lin1, lif, lin2 = c.layers
    # Layer 1 (real input → MACs). t0: inputs 0 and 2 are non-zero; column 0 has 1 non-zero weight, column 2
    # has 2 → 3. t1: inputs 0 and 1; column 1 is all zero → 1. Total 4. Dense = 2 steps × 6 synapses = 12.
    assert input_kind(x) == "real"
    assert (lin1.macs, lin1.acs, lin1.dense_ops) == (4, 0, 12)
    assert (lin1.nb_macs, lin1.nb_acs) == (4, 0)  # NeuroBench's per-call rule agrees here (both rows real)
    assert (lin1.sj_macs, lin1.sj_synops) == (12, 0)  # spikingjelly: T·FLOPs, zero weights included
    assert lin1.paper_macs == 12.0  # T · FLOPs = 2 · 6
    assert lin1.fan_in == 3 and lin1.flops_per_row == 6
    # LIF: currents t0 = [−1.5, −3] (no spike, V = [−1.5, −3]); t1 = [2.5, 0], H = V − V/2 + X = [1.75, −1.5]:
    # one spike. Updates = 2 neurons × 2 steps = 4; ops = 3 per update + 1 add per spike.
    assert (lif.neurons, lif.updates, lif.spikes) == (2, 4, 1)
    assert lif.firing_rate == 0.25
    assert lif.ops == {"add": 5, "mult": 4, "compare": 4, "nonlinear": 0}
    # Layer 2 (binary input → ACs): only input 0 spikes at t1; column 0 of W2 has one non-zero weight → 1 AC.
    # Papers: T · rate · FLOPs = 2 · 1/4 · 4 = 2.
    assert (lin2.acs, lin2.macs, lin2.dense_ops) == (1, 0, 8)
    assert lin2.paper_acs == 2.0
    assert lin2.input_kinds == {"binary"}
    assert lin2.sj_synops == 2  # spikingjelly: one spike × 2 outputs, the zero weight included
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
    assert loihi.compute_pj is None and loihi.terms["synaptic"].status == "partial"  # flagged, not a number
    tn = estimate_energy(c, get_profile("truenorth"))
    assert tn.neuron_pj == 0.0 and tn.terms["neuron"].status == "included"  # inside the all-in 26 pJ
    # the MACs: no TrueNorth price
    assert tn.compute_pj is None and tn.compute_priced_pj == pytest.approx(26.0)


def test_per_sample_and_per_forward(tiny):
    model, x = tiny
    x2 = torch.cat([x, x], dim=1)  # the same sample twice: per-sample numbers unchanged, per-forward doubled
    c = count_ops(model, [x2, x2])
    assert (c.samples, c.forwards) == (4, 2)
    assert c.per_sample(c.total("macs")) == 4.0
    assert c.total("macs") / c.forwards == 8.0


def test_conv_fan_out_and_padding():
    """3×3 conv, all-ones kernel, padding 1: a spike in the centre reaches 9 outputs, one in a corner
    only 4."""
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


def test_spike_sum_residual_is_event_counts():
    """spike + spike = 2 on a residual stream: two events, so 2 ACs per non-zero weight (snndeploy's rule);
    NeuroBench's per-call rule sees a non-binary tensor and counts the pairs as MACs."""
    model = nn.Sequential(Residual(nn.Sequential(LIF(v_threshold=0.5))), TimeDistributed(_linear([[1, 1]])))
    x = torch.ones(1, 1, 2)
    c = count_ops(model, x)
    fc = c.layers[-1]
    assert input_kind(torch.tensor([0.0, 2.0])) == "real"
    assert fc.input_kinds == {"count"}
    assert (fc.acs, fc.macs, fc.count_acs) == (4, 0, 4)  # input [2, 2]: 2 events × 1 weight, twice
    assert (fc.nb_acs, fc.nb_macs) == (0, 2)
    assert fc.paper_acs == 4.0 and fc.paper_macs == 0.0  # r = Σ|x| / 2 = 2 events per element, FLOPs 2


def test_ac_mac_decided_per_row():
    """Rows of one call are decided one by one: a real row (MACs), a spike row, a row of event counts
    (ACs)."""
    lin = _linear([[1, 0, 2], [0, 3, 0]])
    x = torch.tensor([[[0.5, 0.0, 1.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]]])  # [T=1, B=3, 3]
    c = count_ops(nn.Sequential(TimeDistributed(lin)), x)
    (layer,) = c.layers
    # column non-zeros g = [1, 1, 1]. Row 0 real: inputs 0, 2 → 2 MACs. Row 1 spikes: 2 ACs. Row 2 counts:
    # |2|·1 + |1|·1 = 3 ACs, of which 3 come from a count row.
    assert layer.row_kinds == {"binary": 1, "ternary": 0, "count": 1, "real": 1}
    assert (layer.macs, layer.acs, layer.count_acs) == (2, 5, 3)
    assert (layer.nb_macs, layer.nb_acs) == (6, 0)  # NeuroBench: the whole call is real, pairs = 2 + 2 + 2
    one = [count_ops(nn.Sequential(TimeDistributed(lin)), x[:, i:i + 1]).layers[0] for i in range(3)]
    assert sum(lc.acs for lc in one) == layer.acs and sum(lc.macs for lc in one) == layer.macs
    # per call: batch-dependent
    assert sum(lc.nb_macs for lc in one) == 4 and sum(lc.nb_acs for lc in one) == 2


def test_sum_pool_adds_only_and_keeps_acs():
    """AvgPool2d(divisor_override=1) sums spikes: k − 1 adds per output, no multiply, and its integer output
    makes the next layer do ACs (one per event), not MACs."""
    torch.manual_seed(0)
    model = nn.Sequential(LIF(v_threshold=0.5), TimeDistributed(nn.AvgPool2d(2, divisor_override=1)),
                          TimeDistributed(nn.Flatten()), TimeDistributed(nn.Linear(4, 3, bias=False)))
    x = torch.rand(3, 2, 1, 4, 4) * 2
    c = count_ops(model, x)
    pool, fc = c.layers[1], c.layers[2]
    assert pool.ops == {"add": 3 * 2 * 4 * 3, "mult": 0, "compare": 0, "nonlinear": 0}
    spikes = model[0](x)
    pooled = torch.nn.functional.avg_pool2d(spikes.flatten(0, 1), 2, divisor_override=1)
    assert fc.macs == 0 and fc.acs == int(pooled.sum()) * 3  # every event reaches 3 non-zero weights
    assert fc.input_kinds <= {"binary", "count"}


@pytest.mark.parametrize(
    ("cls", "states", "per_step", "per_spike"),
    [
        (LIF, 1, 3, 1),    # β·V, +X, Θ | −V_th
        (KLIF, 1, 6, 0),   # β·V, X/τ, +, k·H, ReLU, Θ | write V_r
        (CLIF, 2, 6, 4),   # β·u, +x, u'/τ, σ, m·σ, Θ | m+1, σ(m), V_th+σ, u'−…
        (ILIF, 4, 6, 5),   # γ·, β·v, +x, −max, max, Θ | I+x_prev, H−V_th, m+v', σ(m), v'−σ
        (partial(IAF, max_spikes=1), 1, 2, 1),  # V+X, Θ | H−V_th
        (partial(CubaLIF, max_spikes=1), 2, 5, 1),  # α·(I+X) (2), β·V, +I, Θ | H−V_th
        (partial(CubaLIF, flavour="loihi"), 2, 5, 0),  # α·I, +X, β·V, +I, Θ | write 0
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
