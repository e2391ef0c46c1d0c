"""Cross-check: spikingjelly 2.0's own counters, run on the same model and data, equal snndeploy's counts
under spikingjelly's convention (``conventions.spikingjelly``): ``SynOpCounter`` (spikes × dense fan-out, zero
weights included), ``MACCounter`` (non-spike calls as T·FLOPs, BatchNorm affine),
``NeuromorphicMemoryAccessCounter`` (weight, bias and neuron-state bytes). Also the reproduction of a
spikingjelly counter bug (``NeuronStateCounter`` counts only the first neuron layer), documented in
docs/energy.md.

spikingjelly is installed in the project venv (``pip install --no-deps spikingjelly``); skipped without it.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from snndeploy.energy import build_report, count_ops
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.neurons import CLIF, ILIF, LIF

sj_counter = pytest.importorskip("spikingjelly.activation_based.op_counter")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_layer = pytest.importorskip("spikingjelly.activation_based.layer")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")


def _spikingjelly(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """spikingjelly's counters on ``model(x)``, per sample (x is [T, B, *])."""
    syn, mac = sj_counter.SynOpCounter(), sj_counter.MACCounter()
    mem = sj_counter.NeuromorphicMemoryAccessCounter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad(), sj_counter.ModuleCounterMode([mem], model=model), \
                sj_counter.DispatchCounterMode([syn, mac]):
            model(x)
    b = x.shape[1]
    return {"synops": syn.get_total() / b, "macs": mac.get_total() / b,
            **{k: v / b for k, v in mem.get_counts()["Global"].items()}}


def _ours(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    return build_report(count_ops(model, x), [])["conventions"]["spikingjelly"]


def _mlp() -> nn.Module:
    return nn.Sequential(TimeDistributed(nn.Linear(10, 32)), LIF(v_threshold=0.3),
                         TimeDistributed(nn.Linear(32, 16, bias=False)), LIF(v_threshold=0.3),
                         TimeDistributed(nn.Linear(16, 4)))


def _conv() -> nn.Module:
    m = nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), TimeDistributed(nn.BatchNorm2d(4)),
        LIF(v_threshold=0.5),
        Residual(nn.Sequential(TimeDistributed(nn.Conv2d(4, 4, 3, padding=1)), LIF(v_threshold=0.5))),
        TimeDistributed(nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)), LIF(v_threshold=0.3),
        TimeDistributed(nn.AvgPool2d(2)), TimeDistributed(nn.Flatten()), TimeDistributed(nn.Linear(24, 5)),
    )
    with torch.no_grad():
        m[3].main[0].layer.weight[:, :2] = 0  # zero weights: spikingjelly's SynOps count them, ours do not
    return m


def _clif() -> nn.Module:
    return nn.Sequential(TimeDistributed(nn.Conv2d(1, 4, 3, padding=1)), CLIF(),
                         TimeDistributed(nn.Flatten()), TimeDistributed(nn.Linear(4 * 36, 12)), ILIF(),
                         TimeDistributed(nn.Linear(12, 3)))


@pytest.mark.parametrize(("build", "shape"), [(_mlp, (6, 10, 10)), (_conv, (4, 6, 2, 8, 8)),
                                              (_clif, (5, 4, 1, 6, 6))])
def test_counts_equal_spikingjelly(build, shape):
    torch.manual_seed(0)
    model = build().eval()
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_var.uniform_(0.5, 2.0)  # a non-trivial eval affine
    x = torch.randn(*shape) * 2
    theirs, ours = _spikingjelly(model, x), _ours(model, x)
    assert ours["synops"] > 0 and ours["macs"] > 0  # both kinds exercised
    for key in ("synops", "macs", "weight_read_bytes", "bias_read_bytes"):
        assert ours[key] == theirs[key], key
    # their state counter sees only spikingjelly neurons: it reads 0 on ours (see the twin test below)
    assert theirs["neuron_state_read_bytes"] == 0 and ours["neuron_state_read_bytes"] > 0
    spike_layers = [lc for lc in count_ops(model, x).synaptic() if lc.sj_synops]
    assert all(lc.sj_synops >= lc.acs for lc in spike_layers)  # theirs include the zero weights, ours do not
    if build is _conv:
        assert any(lc.sj_synops > lc.acs for lc in spike_layers)


def _twins():
    """The same 3-layer LIF MLP in snndeploy and in spikingjelly (LIFNode, soft reset, decay_input=False)."""
    torch.manual_seed(1)
    ours = nn.Sequential(TimeDistributed(nn.Linear(10, 32)), LIF(tau=2.0, v_threshold=0.5),
                         TimeDistributed(nn.Linear(32, 16)), LIF(tau=2.0, v_threshold=0.5),
                         TimeDistributed(nn.Linear(16, 4)), LIF(tau=2.0, v_threshold=0.5)).eval()
    twin = nn.Sequential(*[
        sj_layer.Linear(m.layer.in_features, m.layer.out_features) if i % 2 == 0 else
        sj_neuron.LIFNode(tau=2.0, decay_input=False, v_reset=None, v_threshold=0.5)
        for i, m in enumerate(ours)
    ])
    sj_functional.set_step_mode(twin, "m")
    for i in (0, 2, 4):
        twin[i].load_state_dict(ours[i].layer.state_dict())
    return ours, twin


def test_state_bytes_equal_spikingjelly_twin():
    ours, twin = _twins()
    x = torch.randn(6, 10, 10) * 2
    with torch.no_grad():
        assert torch.equal(ours(x), twin(x))  # the same spikes
    sj_functional.reset_net(twin)
    theirs = _spikingjelly(twin, x)
    mine = _ours(ours, x)
    for key in ("synops", "macs", "weight_read_bytes", "bias_read_bytes", "neuron_state_read_bytes",
                "neuron_state_write_bytes"):
        assert mine[key] == theirs[key], key


def test_spikingjelly_neuron_state_counter_counts_first_layer_only():
    """Reproduction of a spikingjelly 2.0.0 bug: ``NeuronStateCounter`` attributes state ops to the first
    neuron layer only (its functional-state tracking keeps the first layer's tensors), so a 3-layer network
    reports the
    comparisons of layer 1 and nothing for layers 2 and 3. snndeploy counts one update per neuron and step."""
    ours, twin = _twins()
    x = torch.randn(6, 10, 10) * 2
    counter = sj_counter.NeuronStateCounter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad(), sj_counter.DispatchCounterMode([counter]):
            twin(x)
    metrics = counter.get_metric_counts()
    updates = [lc.updates for lc in count_ops(ours, x).neuron_layers()]
    assert updates == [6 * 10 * 32, 6 * 10 * 16, 6 * 10 * 4]
    assert metrics["Sequential.1"]["state_comps"] == updates[0]  # one threshold test per update: right
    assert "Sequential.3" not in metrics and "Sequential.5" not in metrics  # layers 2 and 3: missing
    assert metrics["Global"]["state_comps"] == updates[0] < sum(updates)
