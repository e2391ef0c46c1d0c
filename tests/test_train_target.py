"""``train --target``: a model trained for a target passes hw-check with 0 errors, its integer chip model
equals the vendor's simulator on every spike, the float model equals the integer model on (almost) every
spike, the
checkpoint loads; requests the target cannot hold exit with code 2 and name the limit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import snndeploy
from snndeploy.cli.app import main
from snndeploy.deploy import TargetTrainConfig, train_for_target
from snndeploy.deploy.recipes import DeployRequestError, get_recipe
from snndeploy.deploy.target_check import check_on_target
from snndeploy.hardware.api import check_file

CASES = [("loihi2", "digits", "lava"), ("speck", "digits", "sinabs"), ("xylo_audio2", "mnist1d", "xylosim")]


@pytest.mark.parametrize(("target", "dataset", "env"), CASES)
def test_trained_for_target_is_legal_and_equals_the_vendor(
    target: str, dataset: str, env: str, vendor_python, tmp_path: Path
) -> None:
    vendor_python(env)
    res = train_for_target(
        target,
        dataset,
        limit=192,
        width=0.125,
        out_dir=tmp_path,
        cfg=TargetTrainConfig(epochs=2, calibration_samples=192),
    )
    x, y = res.data.split("test", 48)
    check = check_on_target(res.model, res.recipe, res.calibration_x, x, y, vendor_samples=6)
    assert check.hw_check.ok, [v.message for v in check.hw_check.errors]
    assert check.vendor is not None and check.vendor.ran, check.vendor_dict()
    assert check.vendor.mismatches == 0 and check.vendor.spikes > 0
    # QAT snapped onto the chip grid + the chip's own neuron: the float model is the integer model, up to the
    # chips' integer decays and int16 saturation (a plain LIF stand-in reaches ~0.8 on Xylo, ~0.95 on Speck)
    assert check.spike_agreement is not None and check.spike_agreement >= 0.98, check.agreement
    model, config = snndeploy.load(res.checkpoint)
    assert config.model == res.config.model and config.neuron == res.recipe.neuron().name
    with torch.no_grad():
        assert torch.equal(model.eval()(x[:, :8]), res.model(x[:, :8]))
    # `hw-check --quantize` on the checkpoint reads its data as it was trained (class subset, input scale):
    # the quantised copy and the integer chip model run on it
    hw = check_file(res.checkpoint, target, quantize=True, vendor=False, limit=48)
    assert hw.report.ok and hw.quantization is not None
    assert hw.chip is not None and hw.chip.error is None and hw.chip.agreement is not None
    assert hw.chip.agreement.spike_agreement >= 0.95, hw.chip.to_dict()


def test_spinnaker2_has_no_simulator_and_says_so() -> None:
    res = train_for_target("spinnaker2", "digits", limit=128, width=0.125, cfg=TargetTrainConfig(epochs=1))
    x, y = res.data.split("test", 32)
    check = check_on_target(res.model, res.recipe, res.calibration_x, x, y)
    assert check.hw_check.ok, [v.message for v in check.hw_check.errors]
    assert check.vendor is None and "no integer chip model" in check.vendor_dict()["reason"]
    assert check.chip_accuracy is not None  # the int8 float quantiser stands in
    assert not check.passed


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["--target", "xylo_audio2", "--dataset", "mnist1d", "--classes", "10"],
            ["output neurons", "> 8", "fix:"],
        ),
        (["--target", "xylo", "--dataset", "digits", "--classes", "8"], ["input channels = 64 > 16", "fix:"]),
        (
            ["--target", "loihi2", "--dataset", "digits", "--neuron-arg", "tau_mem=3"],
            ["beta = 0.666", "is not a Loihi decay", "nearest: 0.666748046875"],
        ),
        (
            ["--target", "loihi2", "--dataset", "digits", "--neuron-arg", "tau_syn=3"],
            ["alpha = 0.666", "nearest"],
        ),
        (
            ["--target", "loihi2", "--dataset", "digits", "--neuron", "lif", "--neuron-arg", "tau=3"],
            ["lif tau tau = 3 gives dv = 4096/tau", "fix: tau in 2, 4"],
        ),
        (["--target", "speck", "--dataset", "mnist1d"], ["not a non-negative integer event count", "fix:"]),
        (["--target", "xylo_audio2", "--dataset", "mnist1d", "--width", "1.0"], ["fan-out", "> 64", "fix:"]),
    ],
)
def test_unusable_requests_exit_2_naming_the_limit(
    args: list[str], needles: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *args, "--epochs", "1", "--limit", "32", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    assert not (tmp_path / "x" / "checkpoint.pt").exists()  # refused before anything ran


def test_cli_train_target_then_hw_check_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--target",
                "loihi2",
                "--dataset",
                "digits",
                "--epochs",
                "1",
                "--limit",
                "96",
                "--width",
                "0.125",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "hw-check loihi2: 0 error(s)" in text and "epoch 1/1" in text
    assert main(["hw-check", str(out / "checkpoint.pt"), "--target", "loihi2", "--limit", "16"]) == 0
    assert "loihi2: 0 error(s)" in capsys.readouterr().out


def test_recipe_neurons_are_the_chips_own() -> None:
    assert get_recipe("speck").neuron().name == "iaf"
    assert get_recipe("xylo").neuron().name == "cubalif"
    assert get_recipe("loihi2").neuron().kwargs["flavour"] == "loihi"  # lava CUBA LIF: reset to 0
    assert get_recipe("loihi2").choice("lif").kwargs["v_reset"] == 0.0
    with pytest.raises(DeployRequestError, match="max_fan_out"):
        train_for_target("xylo_audio2", "mnist1d", width=1.0, limit=16, cfg=TargetTrainConfig(epochs=1))


def test_loihi2_trains_lavas_own_neuron_exactly(vendor_python, tmp_path: Path) -> None:
    """Loihi 2's default: CubaLIF in chip-integer mode, each layer's lsb chosen by QAT and stored in the
    checkpoint (``neuron_overrides``): the float model is the integer chip model spike for spike, lava agrees,
    and the reloaded checkpoint is the same model."""
    vendor_python("lava")
    recipe = get_recipe("loihi2")
    assert recipe.neuron().name == "cubalif" and recipe.choice("lif") is not None
    res = train_for_target(
        "loihi2", "digits", limit=192, width=0.125, out_dir=tmp_path, cfg=TargetTrainConfig(epochs=2)
    )
    assert res.config.neuron == "cubalif" and res.config.neuron_overrides  # per-layer lsb
    x, y = res.data.split("test", 48)
    check = check_on_target(res.model, res.recipe, res.calibration_x, x, y, vendor_samples=6)
    assert check.hw_check.ok, [v.message for v in check.hw_check.errors]
    assert check.spike_agreement == 1.0 and check.float_accuracy == check.chip_accuracy
    assert check.vendor is not None and check.vendor.ran and check.vendor.mismatches == 0
    model, config = snndeploy.load(res.checkpoint)
    assert config.neuron_overrides == res.config.neuron_overrides
    with torch.no_grad():
        assert torch.equal(model.eval()(x), res.model(x))


def test_loihi2_lif_fallback_still_trains() -> None:
    res = train_for_target(
        "loihi2", "digits", neuron="lif", limit=128, width=0.125, cfg=TargetTrainConfig(epochs=1)
    )
    assert res.config.neuron == "lif" and res.config.neuron_kwargs == {"tau": 2.0, "v_reset": 0.0}
