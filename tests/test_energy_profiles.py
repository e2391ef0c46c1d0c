"""Energy profiles (every built-in, bad TOML → error naming file and key) and the report outputs."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from snndeploy.energy import (
    builtin_profiles,
    energy_report,
    get_profile,
    load_profile,
    to_markdown,
    write_report,
)
from snndeploy.errors import InvalidParameterError, UnknownNameError
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import CLIF, LIF

GOOD = """
name = "mychip"
title = "My chip"
basis = "silicon-measured"
description = "test"

[costs.ac]
pj = 2.0
source = "my measurement"

[costs.mac]
pj = 5.0
source = "my measurement"
"""


def test_builtin_profiles_have_sources_and_documented_numbers():
    profiles = builtin_profiles()
    assert set(profiles) == {"cmos45_fp32", "cmos45_int32", "cmos45_int8", "loihi", "truenorth"}
    for p in profiles.values():
        assert p.costs and all(c.source.strip() for c in p.costs.values())
    fp32 = profiles["cmos45_fp32"]
    assert (fp32.get("ac"), fp32.get("mac"), fp32.get("mult"), fp32.get("add")) == (0.9, 4.6, 3.7, 0.9)
    assert profiles["cmos45_int8"].get("mac") == pytest.approx(0.23)
    assert profiles["cmos45_int32"].get("mac") == pytest.approx(3.2)
    assert profiles["loihi"].get("ac") == 23.6 and profiles["loihi"].basis == "pre-silicon"
    assert profiles["loihi"].get("neuron_state_update") == 81.0
    assert profiles["truenorth"].get("ac") == 26.0 and profiles["truenorth"].get("mac") is None
    # the memory term: sourced prices, 5 scenarios
    for name in ("cmos45_fp32", "cmos45_int32", "cmos45_int8"):
        mem = profiles[name].memory
        assert mem is not None and len(mem.scenarios) == 5 and all(p.source for p in mem.prices.values())
        assert mem.prices["horowitz_sram"].pj == (10.0, 20.0, 100.0)
        assert mem.prices["horowitz_dram"].pj == (1300.0,)
        assert mem.prices["spikingjelly_flat"].pj_per_byte(1.0)[0] == pytest.approx(24.96)
    assert profiles["cmos45_int8"].memory.weight_bits == 8
    assert set(profiles["truenorth"].memory.included) == {"weights", "state", "spikes", "events"}
    assert profiles["loihi"].memory.prices["loihi_spike_tile"].pj == (1.7,)


def test_user_profile(tmp_path):
    path = tmp_path / "mychip.toml"
    path.write_text(GOOD)
    p = get_profile(str(path))
    assert p.name == "mychip" and p.get("ac") == 2.0 and p.get("neuron_state_update") is None


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda s: s.replace('pj = 2.0', 'pj = -1.0'), "costs.ac.pj"),
        (lambda s: s.replace('pj = 2.0', 'pj = "two"'), "costs.ac.pj"),
        (lambda s: s.replace('source = "my measurement"\n\n[costs.mac]', '\n[costs.mac]'), "costs.ac.source"),
        (lambda s: s.replace('[costs.mac]', '[costs.mca]'), "costs.mca"),
        (lambda s: s.replace('basis = "silicon-measured"', 'basis = "guess"'), "basis"),
        (lambda s: s.replace('name = "mychip"', ''), "name"),
        (lambda s: "whatever = 1\n" + s, "whatever"),
        (lambda s: s.replace("[costs.ac]\npj = 2.0\nsource = \"my measurement\"\n", ""), "costs.ac"),
        (lambda s: s + "\n[costs.add]\npj = 1\nsource = 'x'\nextra = 2\n", "costs.add.extra"),
    ],
)
def test_bad_profile_names_file_and_key(tmp_path, edit, key):
    path = tmp_path / "bad.toml"
    path.write_text(edit(GOOD))
    with pytest.raises(InvalidParameterError) as exc:
        load_profile(path)
    assert str(path) in str(exc.value) and repr(key) in str(exc.value)


MEMORY = """
[memory]
description = "test"

[memory.prices.flat]
title = "flat"
access_bits = 64
pj = [10.0]
source = "test"

[memory.scenarios.one]
title = "one"
weights = "event"
prices = { weights = "flat" }
"""


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('weights = "event"', 'weights = "sometimes"', "memory.scenarios.one.weights"),
        ('{ weights = "flat" }', '{ weights = "nope" }', "memory.scenarios.one.prices.weights"),
        ('{ weights = "flat" }', '{ synapses = "flat" }', "memory.scenarios.one.prices.synapses"),
        ("pj = [10.0]", "pj = [-1.0]", "memory.prices.flat.pj"),
        ("pj = [10.0]", "pj = [10.0, 20.0]", "memory.prices.flat.pj"),
        ("pj = [10.0]", "pj = [10.0, 20.0]\ncapacity_bytes = [9, 3]", "memory.prices.flat.capacity_bytes"),
        ('source = "test"\n\n[memory.scenarios', "\n[memory.scenarios", "memory.prices.flat.source"),
        ("access_bits = 64", "access_bits = 0", "memory.prices.flat.access_bits"),
        ('description = "test"', 'description = "test"\nincluded = ["cache"]', "memory.included"),
        ('description = "test"', 'description = "test"\nweight_bits = "8"', "memory.weight_bits"),
        ('description = "test"', 'description = "test"\nspeed = 1', "memory.speed"),
        ("[memory.prices.flat]", "[memory.pricez.flat]", "memory.pricez"),
    ],
)
def test_bad_memory_section_names_file_and_key(tmp_path, old, new, key):
    path = tmp_path / "bad.toml"
    assert old in MEMORY
    path.write_text(GOOD + MEMORY.replace(old, new))
    with pytest.raises(InvalidParameterError) as exc:
        load_profile(path)
    assert str(path) in str(exc.value) and repr(key) in str(exc.value)


def test_good_memory_section(tmp_path):
    path = tmp_path / "mem.toml"
    path.write_text(GOOD + MEMORY)
    mem = load_profile(path).memory
    assert mem.scenarios["one"].prices == {"weights": "flat"}
    assert mem.prices["flat"].pj_per_byte(5.0) == (1.25, False)


def test_invalid_toml_and_missing_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = [unclosed")
    with pytest.raises(InvalidParameterError, match="not valid TOML"):
        load_profile(path)
    with pytest.raises(InvalidParameterError, match="not found"):
        load_profile(tmp_path / "missing.toml")
    with pytest.raises(UnknownNameError, match="cmos45_fp32"):
        get_profile("no_such_profile")


def test_report_json_markdown_png(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(TimeDistributed(nn.Linear(6, 8)), CLIF(), TimeDistributed(nn.Linear(8, 3)), LIF())
    x = torch.randn(4, 5, 6) * 3
    report = energy_report(model, x, meta={"what": "test"})
    assert list(report) == ["schema_version", "meta", "data", "totals", "conventions", "layers", "energy",
                            "profiles", "caveats"]
    assert report["meta"]["batchnorm"] == {"folded": True, "layers": []}  # no BatchNorm in this model
    assert (report["data"]["samples"], report["data"]["T"], report["data"]["batch_size"]) == (5, 4, 5)
    assert [e["profile"] for e in report["energy"]] == list(builtin_profiles())
    md = to_markdown(report)
    assert "Memory traffic is a range across stated dataflow scenarios" in md and "pre-silicon" in md
    assert "## Memory traffic per sample, by dataflow scenario" in md and "Horowitz" in md
    paths = write_report(report, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["totals"]["effective_acs"] == report["totals"]["effective_acs"]
    for key in ("ops_png", "energy_png", "terms_png"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*.tmp"))
