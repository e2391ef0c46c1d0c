"""hw-check --quantize's chip hand-off: float model → integer chip model → the vendor's own simulator."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from exporters.fold.api import fold
from snndeploy.checkpoint import save_checkpoint
from snndeploy.cli.app import main
from snndeploy.hardware.handoff import chip_check
from snndeploy.models import ModelConfig, build_model
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import LIF

VENDOR_ENV = {"loihi2": "lava", "xylo_audio2": "xylosim"}


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        TimeDistributed(nn.Linear(n_in, hidden, bias=False)), LIF(tau=2.0, v_reset=0.0, v_threshold=0.5),
        TimeDistributed(nn.Linear(hidden, n_out, bias=False)), LIF(tau=2.0, v_reset=0.0, v_threshold=0.5),
    )


@pytest.mark.parametrize("target,n_in", [("loihi2", 12), ("xylo_audio2", 6)])
def test_integer_model_equals_the_vendor_simulator_on_a_mapped_model(target, n_in, vendor_python):
    vendor_python(VENDOR_ENV[target])
    model, _ = fold(_mlp(n_in, 24, 4))
    x = torch.rand(10, 8, n_in) * 2
    labels = torch.randint(0, 4, (8,))
    res = chip_check(model, target, x, labels, vendor_samples=8)
    assert res.error is None, res.error
    assert [la.layer for la in res.agreement.layers] and all(0.0 <= la.agreement <= 1.0
                                                             for la in res.agreement.layers)
    assert res.agreement.accuracy is not None
    assert res.vendor is not None and res.vendor.ran and res.vendor.samples == 8
    assert res.vendor.spikes > 0 and res.vendor.mismatches == 0
    d = res.to_dict()
    assert d["vendor_check"]["spike_agreement"] == 1.0 and d["float_vs_integer"]["layers"]


def test_no_vendor_run_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("SNNDEPLOY_VENDOR_HOME", str(tmp_path))  # no venv there
    model, _ = fold(_mlp(12, 16, 4))
    res = chip_check(model, "loihi2", torch.rand(6, 4, 12), vendor_samples=4)
    assert res.error is None and not res.vendor.ran and "snndeploy vendor setup lava" in res.vendor.reason
    assert res.vendor.spike_agreement is None


def test_targets_without_a_chip_model_or_unmappable_models_are_reported_not_raised():
    model, _ = fold(_mlp(12, 16, 4))
    res = chip_check(model, "spinnaker2", torch.rand(4, 2, 12))
    assert res.chip is None and "nothing of its toolchain installs here" in res.error
    wide, _ = fold(_mlp(24, 16, 4))
    res = chip_check(wide, "xylo_audio2", torch.rand(4, 2, 24))
    assert res.error is not None and "xylo_audio2" in res.error and "> 16" in res.error  # 24 inputs > 16


def test_hw_check_quantize_writes_the_chip_section(tmp_path):
    config = ModelConfig("mlp", (1, 8, 8), 10, "lif", neuron_kwargs={"v_reset": 0.0}, width=0.125,
                         batch_norm=False)
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, model=build_model(config), config=config, epoch=0)
    rc = main(["hw-check", str(ckpt), "--target", "loihi2", "--quantize", "--limit", "8", "--no-vendor",
               "--out", str(tmp_path)])
    report = json.loads((tmp_path / "hw_check.json").read_text())
    assert report["chip"]["chip_model"] == "loihi2" and "float_vs_integer" in report["chip"]
    assert "vendor_check" not in report["chip"]
    assert rc == (0 if report["check"]["ok"] else 1)


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_per_neuron_fold_parameters_go_through_every_chip_mapper(reset):
    """A fold calibrated per neuron holds arrays in v_reset / reset_amount: every mapper maps or refuses with
    a typed message (never a numpy truth-value crash)."""
    import dataclasses

    import numpy as np

    from exporters.lifspec import FoldedLIF

    torch.manual_seed(0)
    lif = {"v_reset": None} if reset == "soft" else {"v_reset": 0.0}
    model = nn.Sequential(TimeDistributed(nn.Linear(8, 16, bias=False)), LIF(**lif),
                          TimeDistributed(nn.Linear(16, 4, bias=False)), LIF(**lif))
    x = torch.rand(8, 16, 8) * 2
    folded, _ = fold(model, x)
    spec = folded[1].spec
    per_neuron = np.linspace(0.9, 1.1, 16).astype(np.float32)
    spec = (dataclasses.replace(spec, reset_amount=per_neuron) if reset == "soft"
            else dataclasses.replace(spec, v_reset=per_neuron * 0))
    folded[1] = FoldedLIF(spec, folded[1].surrogate, folded[1].fold_info)
    outcomes = {}
    for target in ("loihi2", "xylo_audio2", "speck"):
        res = chip_check(folded, target, x, vendor=False)
        outcomes[target] = res.error is None
        assert res.error is not None or 0.0 <= res.agreement.spike_agreement <= 1.0
    assert outcomes["xylo_audio2"] and outcomes["loihi2"] == (reset == "hard") and not outcomes["speck"]
