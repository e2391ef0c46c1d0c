"""``snndeploy fold`` / ``snndeploy export`` on a real checkpoint: files, exit codes, no partial output."""

import json

import onnx
import pytest
import torch

from snndeploy.checkpoint import save_checkpoint
from snndeploy.cli.app import main
from snndeploy.models import ModelConfig, build_model
from snndeploy.nirsim import simulate


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = ModelConfig("mlp", (1, 8, 8), 10, neuron="clif", width=1 / 16)  # digits: fast to load
    torch.manual_seed(0)
    model = build_model(config)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    save_checkpoint(path, model=model, config=config, epoch=0)
    return path


def test_fold_writes_a_report(checkpoint, tmp_path):
    assert main(["fold", str(checkpoint), "--limit", "16", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "fold_report.json").read_text())
    rules = [e["rule"] for e in report["layers"]]
    assert any(r.startswith("clif.") for r in rules) and "bn.into_previous" in rules
    assert "prediction_agreement" in report["metrics"]


def test_export_nir_and_onnx(checkpoint, tmp_path):
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "m.nir"), "--limit", "8"]) == 0
    y = simulate(tmp_path / "m.nir", torch.rand(4, 2, 1, 8, 8))
    assert y.shape == (4, 2, 10)
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "m.onnx"), "--format", "onnx"]) == 0
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")))
    assert (
        main(["export", str(checkpoint), "-o", str(tmp_path / "u.onnx"), "-f", "onnx-unrolled", "-T", "5"])
        == 0
    )


def test_bad_input_exits_2_and_writes_nothing(checkpoint, tmp_path, capsys):
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "m.x"), "--format", "tflite"]) == 2
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "m.nir")]) == 2
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "m.nir"), "--dt", "-1", "--limit", "4"]) == 2
    assert "dt" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_fold_checkpoint_granularity_and_finetune(checkpoint):
    from exporters.fold import fold_checkpoint
    from exporters.fold.calibration import total_agreement
    from snndeploy.checkpoint import load
    from snndeploy.data import calibration_inputs

    folded, report = fold_checkpoint(checkpoint, limit=16, finetune_epochs=1, granularity="auto")
    assert report.metrics["granularity"]["mode"] == "auto"
    ft = report.metrics["finetune"]
    assert ft["selection"] == "spikes" and ft["best_epoch"] in (0, 1)
    source, config = load(checkpoint)
    x = calibration_inputs(config.input_shape, None, None, 16)[0]
    assert total_agreement(source, folded, x) == pytest.approx(ft["total_spike_agreement"])
