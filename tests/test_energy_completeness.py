"""Completeness flags: a profile that cannot price a term never yields a total that silently leaves it out, in
the estimate, energy.json, energy.md, the plots' flags, the CLI table and the demo summary."""

from __future__ import annotations

import json

import pytest
import torch
from rich.console import Console
from torch import nn

from snndeploy.cli.render import print_energy
from snndeploy.energy import (
    build_report,
    count_ops,
    estimate_energy,
    get_profile,
    load_profile,
    missing_text,
    to_markdown,
    write_report,
)
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import LIF

NO_MAC = """
name = "no_mac_chip"
title = "A chip without a multiplier"
basis = "silicon-measured"
description = "prices accumulates and neuron primitives, not MACs"

[costs.ac]
pj = 2.0
source = "test"

[costs.add]
pj = 1.0
source = "test"

[costs.mult]
pj = 3.0
source = "test"

[costs.compare]
pj = 1.0
source = "test"

[memory]
description = "flat test price"

[memory.prices.flat]
title = "flat"
access_bits = 8
pj = [0.5]
source = "test"

[memory.scenarios.event]
title = "event"
weights = "event"
prices = { weights = "flat", state = "flat", spikes = "flat", events = "flat", values = "flat" }
"""


def _linear(w: list[list[float]]) -> nn.Linear:
    lin = nn.Linear(len(w[0]), len(w), bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w))
    return lin


@pytest.fixture
def counts():
    """Linear(2→2) on a real-valued input (MACs) → LIF → Linear(2→1) on its spikes (ACs)."""
    model = nn.Sequential(TimeDistributed(_linear([[1.0, 2.0], [0.0, 1.0]])), LIF(tau=2.0, v_threshold=1.0),
                          TimeDistributed(_linear([[1.0, 1.0]])))
    x = torch.tensor([[[1.5, 0.25]], [[0.5, 0.75]]])  # [T=2, B=1, 2], real rows
    return count_ops(model, x)


@pytest.fixture
def no_mac(tmp_path):
    path = tmp_path / "no_mac.toml"
    path.write_text(NO_MAC)
    return load_profile(path)


def test_unpriced_macs_flag_the_total_not_zero(counts, no_mac):
    lin1, lif, lin2 = counts.layers
    # column non-zeros [1, 2]: t0 and t1 have both inputs non-zero → 3 + 3 = 6 MACs. LIF: currents
    # t0 = [2.0, 0.25] → spike on neuron 0 (H = 2 ≥ 1); t1: [2.0, 0.75], V = [1.0, 0.25] → H = [2.5, 0.875]:
    # spike on 0. 2 spikes, 2 ACs.
    assert (lin1.macs, lin1.acs, lif.spikes, lin2.acs) == (6, 0, 2, 2)
    e = estimate_energy(counts, no_mac)
    assert e.compute_pj is None and e.total_range is None and not e.complete  # flagged ...
    assert e.terms["synaptic"].status == "partial"
    assert e.terms["synaptic"].pj == pytest.approx(2 * 2.0)  # ... the priced part (ACs) is a lower bound ...
    assert e.missing[0] == {"term": "synaptic", "layer": "0", "op": "mac", "ops_per_sample": 6.0}  # ... named
    d = e.to_dict()
    assert d["complete"] is False and d["per_sample_pj"]["compute"] is None
    assert d["per_sample_pj"]["total_low"] is None and d["per_sample_pj"]["total_high"] is None
    assert d["per_sample_pj"]["synaptic"] is None
    assert d["terms"]["synaptic"]["priced_pj"] == pytest.approx(4.0)
    assert d["per_sample_pj"]["compute_priced"] == pytest.approx(4.0 + e.neuron_pj)
    assert d["layers"][0]["total_pj"] is None and d["layers"][0]["missing"] == ["mac"]
    assert d["per_sample_pj"]["paper_convention"] is None  # the papers' convention needs E_MAC too
    assert "synaptic mac: 6 ops in 1 layer" in missing_text(d)


def test_complete_profile_gives_numbers(counts):
    e = estimate_energy(counts, get_profile("cmos45_fp32"))
    assert e.complete and e.compute_pj == pytest.approx(e.synaptic_pj + e.neuron_pj + e.other_pj)
    assert e.synaptic_pj == pytest.approx(6 * 4.6 + 2 * 0.9)
    low, high = e.total_range
    assert low == pytest.approx(e.compute_pj + min(s.total_pj for s in e.scenarios))
    assert high == pytest.approx(e.compute_pj + max(s.total_pj for s in e.scenarios))


def test_included_and_missing_memory_model(counts, tmp_path):
    tn = estimate_energy(counts, get_profile("truenorth")).to_dict()
    assert tn["terms"]["neuron"]["status"] == "included" and tn["terms"]["neuron"]["pj"] == 0.0
    # weights/state/spikes inside 26 pJ; real inputs: none
    assert tn["terms"]["memory"]["status"] == "partial"
    assert [m["component"] for m in tn["missing"] if "component" in m] == ["values"]
    bare = tmp_path / "bare.toml"
    bare.write_text(NO_MAC.split("[memory]")[0] + "[costs.mac]\npj = 4.0\nsource = 'test'\n")
    e = estimate_energy(counts, load_profile(bare))
    assert e.compute_pj is not None and e.compute_complete  # the arithmetic is complete ...
    assert e.total_range is None and e.memory_status == "unpriced"  # ... the total is not: no memory model
    assert {"term": "memory", "what": "the profile has no [memory] model"} in e.missing


def test_reports_mark_incomplete_totals(counts, no_mac, tmp_path):
    report = build_report(counts, [get_profile("cmos45_fp32"), no_mac],
                          data={"dataset": "hand", "split": "test"})
    entry = report["energy"][1]
    assert entry["profile"] == "no_mac_chip" and entry["complete"] is False
    md = to_markdown(report)
    row = next(line for line in md.splitlines() if line.startswith("| no_mac_chip"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2] == "≥ 4 pJ (partial)"  # synaptic: the ACs priced, the MACs not
    assert cells[5].endswith("(incomplete)") and cells[7].endswith("(incomplete)")  # compute and total
    assert "*no_mac_chip* is incomplete; no price for: synaptic mac: 6 ops in 1 layer" in md
    assert "Computed on 1 samples of hand (test split), T = 2, batch size 1" in md
    paths = write_report(report, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["energy"][1]["per_sample_pj"]["compute"] is None
    assert data["energy"][0]["complete"] is True
    for key in ("ops_png", "energy_png", "terms_png"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    console = Console(record=True, width=200)
    print_energy(console, report)
    text = console.export_text()
    assert "no_mac_chip: incomplete, no price for synaptic mac" in text
    assert "computed on 1 samples of hand (test split), T = 2, batch size 1" in text


def test_plot_flags_unpriced_layers(counts, no_mac):
    from snndeploy.energy.report import _layer_flag

    report = build_report(counts, [no_mac, get_profile("truenorth")])
    kinds = [layer["kind"] for layer in report["layers"]]
    flags = [[_layer_flag(le, k, p["included"]) for le, k in zip(e["layers"], kinds, strict=True)]
             for e, p in zip(report["energy"], report["profiles"], strict=True)]
    assert flags[0] == ["unpriced", "", ""]  # layer 0 is all MACs: nothing priced, drawn as a red ✕, not 0
    assert flags[1] == ["unpriced", "included", ""]  # TrueNorth: the neuron update is inside its 26 pJ
