"""`snndeploy energy` and `snndeploy hw-check` on a tiny checkpoint (digits, embedded data)."""

from __future__ import annotations

import json

import pytest

from snndeploy.checkpoint import save_checkpoint
from snndeploy.cli.app import main
from snndeploy.models import ModelConfig, build_model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    config = ModelConfig(model="mlp", input_shape=(1, 8, 8), num_classes=10, neuron="lif", width=0.125,
                         batch_norm=False)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    save_checkpoint(path, model=build_model(config), config=config, epoch=0)
    return path


def test_energy_command(ckpt, tmp_path):
    out = tmp_path / "energy"
    assert main(["energy", str(ckpt), "--limit", "16", "--out", str(out), "--profile", "cmos45_fp32",
                 "--profile", "loihi"]) == 0
    report = json.loads((out / "energy.json").read_text())
    assert report["data"]["samples"] == 16 and report["meta"]["dataset"] == "digits"
    assert [e["profile"] for e in report["energy"]] == ["cmos45_fp32", "loihi"]
    assert report["totals"]["effective_macs"] > 0  # direct encoding: the first layer does MACs
    assert (out / "energy.md").exists() and (out / "ops_per_layer.png").exists()


def test_energy_command_on_nir(ckpt, tmp_path):
    fold_api = pytest.importorskip("exporters.fold.api")
    exporters_nir = pytest.importorskip("exporters.nir")
    from snndeploy import load

    model, config = load(ckpt)
    folded, _ = fold_api.fold(model)
    path = tmp_path / "model.nir"
    exporters_nir.write_nir(path, exporters_nir.to_nir(folded, config.input_shape))
    assert main(["energy", str(path), "--limit", "16", "--out", str(tmp_path / "e"), "--profile", "loihi"]) == 0
    nir_report = json.loads((tmp_path / "e" / "energy.json").read_text())
    assert main(["energy", str(ckpt), "--limit", "16", "--out", str(tmp_path / "t"), "--profile", "loihi"]) == 0
    torch_report = json.loads((tmp_path / "t" / "energy.json").read_text())
    for key in ("effective_acs", "effective_macs", "spikes", "state_updates"):
        assert nir_report["totals"][key] == torch_report["totals"][key]


def test_energy_errors(ckpt, tmp_path):
    assert main(["energy", str(tmp_path / "missing.nir")]) == 2
    assert main(["energy", str(ckpt), "--limit", "4", "--profile", "nope", "--out", str(tmp_path)]) == 2


def test_hw_check_command(ckpt, tmp_path):
    # soft-reset LIF MLP: fits SpiNNaker2 (exit 0) but the last Linear has no neurons (warning) ...
    assert main(["hw-check", str(ckpt), "--target", "spinnaker2", "--limit", "8", "--quantize",
                 "--out", str(tmp_path)]) == 0
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
    assert (tmp_path / "energy" / "energy.json").is_file()
