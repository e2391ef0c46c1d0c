"""Cross-check: our synaptic-op counts equal NeuroBench's SynapticOperations on the same model and data.

NeuroBench (``pip install --no-deps neurobench``) runs its own hooks through its ``Benchmark`` loop with a
``TorchModel`` wrapper; NeuroBench wants batch-first data, so the wrapper transposes to our time-major layout.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snndeploy.energy import count_ops
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.neurons import CLIF, ILIF, LIF

nb_models = pytest.importorskip("neurobench.models")
nb_bench = pytest.importorskip("neurobench.benchmarks")
nb_metrics = pytest.importorskip("neurobench.metrics.workload")


class BatchFirst(nn.Module):
    """[B, T, *] → our [T, B, *] model → spike counts [B, classes]."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.transpose(0, 1)).sum(0)


def _neurobench(model: nn.Module, x_seq: torch.Tensor, batch_size: int) -> dict:
    ds = torch.utils.data.TensorDataset(x_seq.transpose(0, 1), torch.zeros(x_seq.shape[1], dtype=torch.long))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size)
    bench = nb_bench.Benchmark(nb_models.TorchModel(BatchFirst(model)), loader, [], [],
                               [[], [nb_metrics.SynapticOperations]])
    return bench.run(quiet=True)["SynapticOperations"]


def _ours(model: nn.Module, x_seq: torch.Tensor, batch_size: int) -> dict:
    c = count_ops(model, [x_seq[:, i:i + batch_size] for i in range(0, x_seq.shape[1], batch_size)])
    return {"Effective_ACs": c.per_sample(c.total("nb_acs")),
            "Effective_MACs": c.per_sample(c.total("nb_macs")),
            "Dense": c.per_sample(c.total("dense_ops"))}


def _cnn() -> nn.Module:
    m = nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), LIF(v_threshold=0.5),
        Residual(nn.Sequential(TimeDistributed(nn.Conv2d(4, 4, 3, padding=1)), CLIF())),
        TimeDistributed(nn.AvgPool2d(2)), TimeDistributed(nn.Flatten()),
        TimeDistributed(nn.Linear(64, 20)), ILIF(), TimeDistributed(nn.Linear(20, 5)),
    )
    with torch.no_grad():
        m[5].layer.weight[:, :10] = 0  # zero weights are not synaptic ops in either counter
    return m


def _mlp() -> nn.Module:
    return nn.Sequential(TimeDistributed(nn.Linear(10, 32)), LIF(v_threshold=0.3),
                         TimeDistributed(nn.Linear(32, 16)), CLIF(), TimeDistributed(nn.Linear(16, 4)))


@pytest.mark.parametrize(("build", "shape"), [(_mlp, (6, 10, 10)), (_cnn, (4, 10, 2, 8, 8))])
def test_counts_equal_neurobench(build, shape):
    torch.manual_seed(0)
    model = build()
    x = torch.randn(*shape) * 2
    ours = _ours(model, x, batch_size=4)
    theirs = _neurobench(model, x, batch_size=4)
    assert ours["Effective_ACs"] > 0 and ours["Effective_MACs"] > 0  # both kinds are exercised
    assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize(("name", "shape", "neuron"), [
    ("mlp", (1,), "ilif"), ("vgg", (1, 8, 8), "clif"), ("resnet19", (3, 32, 32), "lif"),
])
def test_builder_models_equal_neurobench(name, shape, neuron):
    """Every model the builders make (here tiny widths) counts the same as NeuroBench."""
    from snndeploy.models import ModelConfig, build_model

    torch.manual_seed(0)
    config = ModelConfig(model=name, input_shape=shape, num_classes=10, neuron=neuron, width=0.0625)
    model = build_model(config, backend="auto")
    x = torch.randn(3, 4, *shape) * 2
    ours, theirs = _ours(model, x, batch_size=2), _neurobench(model, x, batch_size=2)
    assert ours["Effective_MACs"] > 0 and ours == pytest.approx(theirs, rel=1e-12)


def test_event_counts_neurobench_per_call_vs_per_row():
    """Event-count input (N-MNIST-like bins, one holding 2 events): NeuroBench decides once per call, so the
    whole first layer is MACs; our NeuroBench-compatible count reproduces that, while snndeploy's own count
    prices every
    event as one AC (per row), whatever the batching."""
    torch.manual_seed(0)
    model = _mlp()
    x = (torch.rand(6, 8, 10) < 0.3).float()
    x[2, 5, 3] = 2.0  # one bin of one sample holds two events
    theirs = _neurobench(model, x, batch_size=4)
    c = count_ops(model, [x[:, :4], x[:, 4:]])
    assert c.per_sample(c.total("nb_macs")) == theirs["Effective_MACs"] > 0
    assert c.per_sample(c.total("nb_acs")) == theirs["Effective_ACs"]
    first, fan_out = c.layers[0], int((model[0].layer.weight[:, 3] != 0).sum())
    assert first.nb_macs > 0 and first.nb_acs > 0  # the batch holding the 2 is MACs, the other batch ACs
    # the second event: one AC more
    assert first.macs == 0 and first.acs == first.nb_acs + first.nb_macs + fan_out


def test_neurobench_membrane_updates_are_zero_for_non_snntorch_neurons():
    """Reproduction of a NeuroBench 2.3.0 limitation: ``MembraneUpdates`` (and ``NeuronOperations``) read
    ``layer.mem`` through hooks that attach only to snnTorch ``SpikingNeuron`` layers wrapped by
    ``SNNTorchModel``; on any other neuron they return 0, even when the layer is registered as an activation
    module. An snnTorch twin
    of the same sizes reports one update per neuron and step, which is snndeploy's count."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    ours = nn.Sequential(TimeDistributed(nn.Linear(10, 16)), LIF(v_threshold=0.5),
                         TimeDistributed(nn.Linear(16, 4)), LIF(v_threshold=0.5))
    x = torch.randn(6, 8, 10) * 2
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x.transpose(0, 1), torch.zeros(8, dtype=torch.long)), batch_size=4)
    metrics = [[], [nb_metrics.MembraneUpdates, nb_metrics.NeuronOperations]]
    wrapped = nb_models.TorchModel(BatchFirst(ours))
    wrapped.add_activation_module(LIF)
    on_ours = nb_bench.Benchmark(wrapped, loader, [], [], metrics).run(quiet=True)
    c = count_ops(ours, x)
    assert c.per_sample(c.total("updates")) == 6 * (16 + 4)
    assert on_ours["MembraneUpdates"] == 0 and on_ours["NeuronOperations"] == 0  # the limitation

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.l1 = nn.Linear(10, 16), snn.Leaky(beta=0.5, threshold=0.5, init_hidden=True)
            self.fc2 = nn.Linear(16, 4)
            self.l2 = snn.Leaky(beta=0.5, threshold=0.5, init_hidden=True, output=True)

        def forward(self, step):
            return self.l2(self.fc2(self.l1(self.fc1(step))))

    on_twin = nb_bench.Benchmark(nb_models.SNNTorchModel(Twin()), loader, [], [], metrics).run(quiet=True)
    assert on_twin["MembraneUpdates"] == c.per_sample(c.total("updates"))  # it works on snnTorch neurons
