"""The memory / data-movement term: traffic counted by hand on a tiny network, priced per scenario with the
sourced per-access energies (Horowitz 2014, Lemaire et al. 2022, spikingjelly's flat 3.12 pJ/bit)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snndeploy.energy import MemoryPrice, count_ops, estimate_energy, get_profile, memory_traffic
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import LIF


def _linear(w: list[list[float]]) -> nn.Linear:
    lin = nn.Linear(len(w[0]), len(w), bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w))
    return lin


@pytest.fixture
def counts():
    """Linear(2→2) on real values (6 MACs) → LIF (2 spikes) → Linear(2→1) on the spikes (2 ACs); T=2, B=1."""
    model = nn.Sequential(TimeDistributed(_linear([[1.0, 2.0], [0.0, 1.0]])), LIF(tau=2.0, v_threshold=1.0),
                          TimeDistributed(_linear([[1.0, 1.0]])))
    return count_ops(model, torch.tensor([[[1.5, 0.25]], [[0.5, 0.75]]]))


def test_traffic_by_hand(counts):
    lin1, lif, lin2 = counts.layers
    assert (lin1.macs, lif.spikes, lin2.acs) == (6, 2, 2)
    # event dataflow: one weight read per synaptic op; step: every weight once per step (2 rows)
    assert memory_traffic(lin1, "event") == {"weights": 6, "state": 0, "spikes": 0, "events": 0, "values": 4}
    assert memory_traffic(lin1, "step")["weights"] == 2 * 4
    assert memory_traffic(lin2, "event") == {"weights": 2, "state": 0, "spikes": 0, "events": 2, "values": 0}
    assert memory_traffic(lin2, "step")["weights"] == 2 * 2
    # the state (1 variable) is read and written at each of 2 neurons × 2 steps; 2 spikes written
    assert memory_traffic(lif, "event") == {"weights": 0, "state": 8, "spikes": 2, "events": 0, "values": 0}


def test_scenarios_priced_by_hand(counts):
    e = estimate_energy(counts, get_profile("cmos45_fp32"))
    sc = {s.name: s for s in e.scenarios}
    event_bytes = {"weights": 8 * 4, "state": 8 * 4, "spikes": 2 * 4, "events": 2 * 4, "values": 4 * 4}
    assert sc["event_sram"].bytes == event_bytes and sc["step_sram"].bytes["weights"] == 12 * 4
    sram = 10.0 / 8  # Horowitz: 10 pJ per 64-bit access of an SRAM up to 8 KB; every array here is smaller
    assert sc["event_sram"].total_pj == pytest.approx(96 * sram)
    assert sc["step_sram"].total_pj == pytest.approx(112 * sram)
    assert sc["step_dram"].total_pj == pytest.approx(48 * 1300.0 / 8 + 64 * sram)  # weights from DRAM
    assert sc["event_flat"].total_pj == pytest.approx(96 * 3.12 * 8)  # spikingjelly: 3.12 pJ per bit

    def lemaire(size: float) -> float:  # 10 pJ per 32-bit word at 8 KB, linear from (0, 0)
        return size / 8192 * 10.0 / 4

    fifo = 1000 * 4  # spikes and events go through a FIFO of 1,000 32-bit messages
    expected = (24 * lemaire(16) + 8 * lemaire(8)  # weights: 4 and 2 fp32 weights
                + 32 * lemaire(2 * 4)  # state: 2 neurons × 1 state × 4 B
                + 16 * lemaire(fifo)  # 2 spikes written + 2 events read
                + 16 * lemaire(2 * 4))  # values: one input row of 2 fp32 values
    assert sc["event_lemaire"].total_pj == pytest.approx(expected)
    low, high = e.memory_range
    assert (low, high) == (pytest.approx(expected), pytest.approx(sc["step_dram"].total_pj))
    assert e.total_range == (pytest.approx(e.compute_pj + low), pytest.approx(e.compute_pj + high))


def test_chip_profiles_say_what_they_include(counts):
    loihi = estimate_energy(counts, get_profile("loihi"))
    assert set(loihi.profile.memory.included) == {"weights", "state", "events"}
    within = next(s for s in loihi.scenarios if s.name == "within_tile")
    assert within.pj["spikes"] == pytest.approx(2 * 1.7)  # 1.7 pJ per spike message (Davies et al. Table 2)
    assert within.status["weights"] == "included" and within.status["values"] == "unpriced"
    assert loihi.memory_status == "partial" and loihi.memory_range is None  # the real inputs: no Loihi price


@pytest.mark.parametrize(("size", "step", "interp"), [
    (100.0, 10.0, 100 / 8192 * 10.0),
    (8192.0, 10.0, 10.0),
    (20000.0, 20.0, 10.0 + (20000 - 8192) / (32768 - 8192) * 10.0),
    (2e6, 100.0, 100.0),
])
def test_price_lookup(size, step, interp):
    caps = (8192.0, 32768.0, 1048576.0)
    horowitz = MemoryPrice("h", "h", 8, (10.0, 20.0, 100.0), "s", caps)  # 8-bit accesses: pJ per byte
    lemaire = MemoryPrice("l", "l", 8, (0.0, 10.0, 20.0, 100.0), "s", (0.0, *caps), interpolate=True)
    assert horowitz.pj_per_byte(size) == (pytest.approx(step), size > caps[-1])
    assert lemaire.pj_per_byte(size)[0] == pytest.approx(interp)
