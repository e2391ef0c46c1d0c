"""Op counts of NIR graphs (run by nirsim) equal the torch counts of the model they were exported from."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

import exporters.nir as exporters_nir
from exporters.fold import api as fold_api
from snndeploy.energy import count_nir_ops, count_ops
from snndeploy.models.layers import Residual, TimeDistributed
from snndeploy.neurons import CLIF, LIF

FIELDS = ("kind", "acs", "macs", "count_acs", "nb_acs", "nb_macs", "sj_synops", "sj_macs", "dense_ops",
          "paper_acs", "paper_macs", "spikes", "updates")


def _summary(counts):
    return [tuple(getattr(lc, f) for f in FIELDS) + (tuple(lc.ops.values()),) for lc in counts.layers]


@pytest.mark.parametrize("flat", [False, True])
def test_nir_counts_equal_torch_counts(flat):
    torch.manual_seed(0)
    model = nn.Sequential(
        # soft reset: LI→Threshold→Scale
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), LIF(v_threshold=0.5),
        # hard: LIF
        Residual(nn.Sequential(TimeDistributed(nn.Conv2d(4, 4, 3, padding=1)), LIF(v_reset=0.0))),
        TimeDistributed(nn.AvgPool2d(2)), TimeDistributed(nn.Flatten()),
        TimeDistributed(nn.Linear(64, 20)), CLIF(), TimeDistributed(nn.Linear(20, 5)),
    )
    x = torch.randn(4, 6, 2, 8, 8) * 2
    folded, _ = fold_api.fold(model, x)
    graph = exporters_nir.to_nir(folded, (2, 8, 8), flat=flat)
    ours, theirs = count_ops(folded, x), count_nir_ops(graph, x)
    assert _summary(ours) == _summary(theirs)
    assert ours.total("acs") > 0 and ours.total("macs") > 0


def test_foreign_graph_generic_counts():
    """A hand-written graph (no snndeploy metadata): LIF with b = dt·r/τ = 1 and v_leak = 0 → 1 mult, 1 add,
    1 compare per update; the Affine's ops counted from the recorded input."""
    w = np.array([[1.0, 0.0], [2.0, 3.0]], dtype=np.float32)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2])),
            "fc": nir.Affine(weight=w, bias=np.zeros(2, dtype=np.float32)),
            "lif": nir.LIF(tau=np.full(2, 2e-3), r=np.full(2, 2.0), v_leak=np.zeros(2),
                           v_threshold=np.ones(2), v_reset=np.zeros(2)),
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    x = torch.tensor([[[1.0, 0.0]], [[0.5, 2.0]], [[0.0, 0.0]]])  # [T=3, B=1, 2], real-valued
    c = count_nir_ops(graph, x, dt=1e-3)
    fc, lif = c.layers
    # t0: input 0 → column 0 has 2 non-zero weights (a spike row: 2 ACs); t1 (real): inputs 0 and 1 →
    # 2 + 1 = 3 MACs; t2: nothing. NeuroBench decides once for the whole call: 5 MACs.
    assert (fc.macs, fc.acs, fc.dense_ops) == (3, 2, 12)
    assert (fc.nb_macs, fc.nb_acs) == (5, 0)
    assert lif.updates == 6 and lif.ops == {"add": 6, "mult": 6, "compare": 6, "nonlinear": 0}
    assert lif.op_count.states == 1
