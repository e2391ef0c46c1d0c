"""The per-sample energy of the same data is identical whatever the batching (1, 8 or 64 samples per call):
ACs vs MACs are decided per sample and step, event counts are ACs, sum pooling adds only, memory traffic is
per sample. NeuroBench's per-call rule, kept beside it, is not batch-invariant on the same data (that is why
it is not the
default)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snndeploy.energy import energy_report
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import CLIF, LIF


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), LIF(v_threshold=0.5),
        TimeDistributed(nn.AvgPool2d(2, divisor_override=1)),  # sum pool: integer counts
        TimeDistributed(nn.Conv2d(4, 6, 3, padding=1, bias=False)), CLIF(),
        TimeDistributed(nn.Flatten()), TimeDistributed(nn.Linear(6 * 16, 5)),
    ).eval()


def _events() -> torch.Tensor:
    """64 samples of N-MNIST-like event bins [T=4, 64, 2, 8, 8], 0/1 except two bins of samples 0 and 32."""
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(4, 64, 2, 8, 8, generator=g) < 0.2).float()
    x[1, 0, 0, 2, 3] = 2.0
    x[3, 32, 1, 5, 5] = 3.0
    return x


def _report(x: torch.Tensor, batch: int) -> dict:
    batches = [x[:, i:i + batch] for i in range(0, x.shape[1], batch)]
    return energy_report(_model(), batches, fold_batchnorm=False)


def test_per_sample_energy_is_independent_of_the_batch_size():
    x = _events()
    reports = {b: _report(x, b) for b in (1, 8, 64)}
    ref = reports[64]
    assert ref["totals"]["count_acs"] > 0 and ref["totals"]["effective_macs"] == 0  # counts are ACs, no MACs
    assert any(e["complete"] for e in ref["energy"])
    for b in (1, 8):
        r = reports[b]
        assert r["data"]["batch_size"] == b and r["data"]["samples"] == 64
        assert r["energy"] == ref["energy"], f"batch {b}"  # every profile, term, layer and memory scenario
        for key in ("effective_acs", "effective_macs", "count_acs", "spikes", "state_updates", "paper_acs",
                    "paper_macs", "memory_accesses"):
            assert r["totals"][key] == ref["totals"][key], (b, key)
    # NeuroBench's rule decides once per call: a batch holding one 2 turns the whole call into MACs
    nb = {b: (r["totals"]["neurobench_acs"], r["totals"]["neurobench_macs"]) for b, r in reports.items()}
    assert nb[1] != nb[8] != nb[64]
    assert nb[64][0] < nb[8][0] < nb[1][0]  # fewer calls stay all-binary as the batch grows
    assert sum(nb[1]) == pytest.approx(sum(nb[64]))  # the same pairs, split differently
