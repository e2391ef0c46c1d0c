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
    return {"Effective_ACs": c.per_sample(c.total("acs")), "Effective_MACs": c.per_sample(c.total("macs")),
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
    model = build_model(ModelConfig(model=name, input_shape=shape, num_classes=10, neuron=neuron, width=0.0625),
                        backend="auto")
    x = torch.randn(3, 4, *shape) * 2
    ours, theirs = _ours(model, x, batch_size=2), _neurobench(model, x, batch_size=2)
    assert ours["Effective_MACs"] > 0 and ours == pytest.approx(theirs, rel=1e-12)
