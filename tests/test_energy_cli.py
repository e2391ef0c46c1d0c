"""`snndeploy energy` and `snndeploy hw-check` on a tiny checkpoint (digits, embedded data)."""

from __future__ import annotations

import json

import pytest
import torch

import exporters.nir as exporters_nir
from exporters.fold import api as fold_api
from snndeploy.checkpoint import save_checkpoint
from snndeploy.cli.app import main
from snndeploy.models import ModelConfig, build_model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    config = ModelConfig(
        model="mlp", input_shape=(1, 8, 8), num_classes=10, neuron="lif", width=0.125, batch_norm=False
    )
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    save_checkpoint(path, model=build_model(config), config=config, epoch=0)
    return path


def test_energy_command(ckpt, tmp_path, capsys):
    out = tmp_path / "energy"
    assert (
        main(
            [
                "energy",
                str(ckpt),
                "--limit",
                "16",
                "--batch-size",
                "8",
                "--out",
                str(out),
                "--profile",
                "cmos45_fp32",
                "--profile",
                "loihi",
            ]
        )
        == 0
    )
    report = json.loads((out / "energy.json").read_text())
    assert report["data"]["samples"] == 16 and report["meta"]["dataset"] == "digits"
    assert (
        report["data"]["dataset"],
        report["data"]["split"],
        report["data"]["batch_size"],
        report["data"]["T"],
    ) == ("digits", "test", 8, 4)
    assert [e["profile"] for e in report["energy"]] == ["cmos45_fp32", "loihi"]
    assert report["totals"]["effective_macs"] > 0  # direct encoding: the first layer does MACs
    loihi = report["energy"][1]
    # ... which Loihi cannot price
    assert loihi["complete"] is False and loihi["per_sample_pj"]["compute"] is None
    printed = capsys.readouterr().out
    assert "computed on 16 samples of digits (test split), T = 4, batch size 8" in printed
    assert "loihi: incomplete, no price for synaptic mac" in printed
    for name in ("energy.md", "ops_per_layer.png", "energy_per_layer.png", "energy_terms.png"):
        assert (out / name).exists()


def test_energy_command_on_nir(ckpt, tmp_path):
    from snndeploy import load

    model, config = load(ckpt)
    folded, _ = fold_api.fold(model)
    path = tmp_path / "model.nir"
    exporters_nir.write_nir(path, exporters_nir.to_nir(folded, config.input_shape))
    assert (
        main(["energy", str(path), "--limit", "16", "--out", str(tmp_path / "e"), "--profile", "loihi"]) == 0
    )
    nir_report = json.loads((tmp_path / "e" / "energy.json").read_text())
    assert (
        main(["energy", str(ckpt), "--limit", "16", "--out", str(tmp_path / "t"), "--profile", "loihi"]) == 0
    )
    torch_report = json.loads((tmp_path / "t" / "energy.json").read_text())
    for key in ("effective_acs", "effective_macs", "spikes", "state_updates"):
        assert nir_report["totals"][key] == torch_report["totals"][key]


def test_energy_errors(ckpt, tmp_path):
    assert main(["energy", str(tmp_path / "missing.nir")]) == 2
    assert main(["energy", str(ckpt), "--limit", "4", "--profile", "nope", "--out", str(tmp_path)]) == 2


def test_hw_check_command(ckpt, tmp_path):
    # soft-reset LIF MLP: fits SpiNNaker2 (exit 0) but the last Linear has no neurons (warning) ...
    assert (
        main(
            [
                "hw-check",
                str(ckpt),
                "--target",
                "spinnaker2",
                "--limit",
                "8",
                "--quantize",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "hw_check.json").read_text())
    assert result["check"]["ok"] and result["check"]["warnings"] >= 1
    assert result["quantization"]["activity"]
    # ... and fails Loihi 2 (reset to 0 only): exit code 1
    assert main(["hw-check", str(ckpt), "--target", "loihi2", "--limit", "8"]) == 1
    assert main(["hw-check", str(ckpt), "--target", "nonsense"]) == 2


def test_energy_step_for_demo(ckpt, tmp_path):
    import shutil

    from snndeploy.pipeline import demo_energy

    shutil.copy(ckpt, tmp_path / "checkpoint.pt")
    section = demo_energy(tmp_path, limit=8)
    assert section["samples"] == 8 and set(section["energy_per_sample_pj"]) >= {"cmos45_fp32", "loihi"}
    described = (section["dataset"], section["split"], section["T"], section["batch_size"])
    assert described == ("digits", "test", 4, 8)
    assert (tmp_path / "energy" / "energy.json").is_file()
    fp32, loihi = section["profiles"]["cmos45_fp32"], section["profiles"]["loihi"]
    assert fp32["complete"] and fp32["compute_pj"] > 0 and fp32["total_pj"][0] <= fp32["total_pj"][1]
    assert section["energy_per_sample_pj"]["cmos45_fp32"] == fp32["compute_pj"]
    assert not loihi["complete"] and loihi["compute_pj"] is None and "synaptic mac" in loihi["missing"]
    assert section["energy_per_sample_pj"]["loihi"] is None  # not a number that leaves the MACs out


def test_checkpoint_and_nir_routes_agree(tmp_path):
    """A LIF network with BatchNorm: the checkpoint route folds BatchNorm first (as hw-check does), so its
    report
    equals the report of the NIR graph exported from the folded model, profile by profile."""
    import torch

    from snndeploy import load
    from snndeploy.pipeline import energy_of_file

    torch.manual_seed(0)
    config = ModelConfig(model="vgg", input_shape=(1, 8, 8), num_classes=10, neuron="lif", width=0.125)
    model = build_model(config)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 2.0)
    save_checkpoint(tmp_path / "checkpoint.pt", model=model, config=config, epoch=0)
    model, config = load(tmp_path / "checkpoint.pt")
    folded, _ = fold_api.fold(model)
    exporters_nir.write_nir(tmp_path / "model.nir", exporters_nir.to_nir(folded, config.input_shape))
    ckpt_report, _ = energy_of_file(tmp_path / "checkpoint.pt", tmp_path / "c", limit=16, batch_size=8)
    nir_report, _ = energy_of_file(tmp_path / "model.nir", tmp_path / "n", limit=16, batch_size=8)
    folds = ckpt_report["meta"]["batchnorm"]
    assert folds["folded"] and len(folds["layers"]) == 3
    assert "BatchNorm folded first (3 layers" in (tmp_path / "c" / "energy.md").read_text()
    assert not any(layer["kind"] == "batchnorm" for layer in ckpt_report["layers"])
    for key in ("effective_acs", "effective_macs", "spikes", "state_updates", "other_ops", "memory_accesses"):
        assert nir_report["totals"][key] == ckpt_report["totals"][key], key
    for a, b in zip(ckpt_report["energy"], nir_report["energy"], strict=True):
        assert a["complete"] == b["complete"]
        for key, value in a["per_sample_pj"].items():
            other = b["per_sample_pj"][key]
            same = other is None if value is None else other == pytest.approx(value, rel=1e-12)
            assert same, (a["profile"], key)


def test_energy_of_a_nir_file_no_dataset_fits_runs_on_random_input(tmp_path):
    """A foreign NIR graph whose input shape matches no embedded dataset: counted on seeded random input (said
    in the report), instead of refusing."""
    from exporters.fold.api import fold
    from exporters.nir import to_nir, write_nir
    from snndeploy.models.layers import TimeDistributed
    from snndeploy.neurons import LIF

    torch.manual_seed(0)
    model = torch.nn.Sequential(TimeDistributed(torch.nn.Linear(5, 7, bias=False)), LIF(v_reset=0.0))
    folded, _ = fold(model)
    write_nir(tmp_path / "m.nir", to_nir(folded, (5,), dt=1e-3))
    out = tmp_path / "energy"
    assert main(["energy", str(tmp_path / "m.nir"), "--limit", "4", "--out", str(out)]) == 0
    report = json.loads((out / "energy.json").read_text())
    assert report["meta"]["dataset"] == "random (no dataset fits)"
    assert report["data"]["samples"] == 4 and report["totals"]["neurons"] == 7
