"""``snndeploy train`` and ``snndeploy demo``: runs, resume, and bad input → exit code 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snndeploy.cli.app import main
from snndeploy.cli.train import parse_neuron_args
from snndeploy.errors import InvalidParameterError

BASE = ["train", "--model", "mlp", "--dataset", "digits", "--limit", "64", "--batch-size", "32", "--T", "2",
        "--width", "0.25", "--no-progress", "--device", "cpu"]


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    for n in needles:
        assert n in err, err


def test_train_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = [*BASE, "--neuron", "klif", "--neuron-arg", "tau=3.0", "--epochs", "1", "--out", str(out),
            "--seed", "2"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "epoch 1/1" in text and "test accuracy" in text
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["model_config"]["neuron"] == "klif" and ckpt["model_config"]["neuron_kwargs"] == {"tau": 3.0}
    assert ckpt["train_config"]["seed"] == 2
    assert ckpt["train_config"]["dataset"] == "digits" and ckpt["train_config"]["time_steps"] == 2
    assert ckpt["train_config"]["data_dir"] is None
    args[args.index("--epochs") + 1] = "2"
    assert main([*args, "--resume"]) == 0
    assert "epoch 2/2" in capsys.readouterr().out
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [0, 1]


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--neuron", "izhikevich"], ["unknown neuron 'izhikevich'", "clif"]),
        (["--model", "transformer"], ["unknown model 'transformer'", "resnet19"]),
        (["--dataset", "imagenet"], ["unknown dataset 'imagenet'", "mnist1d"]),
        (["--optimizer", "lion"], ["unknown optimizer 'lion'"]),
        (["--loss", "focal"], ["unknown loss 'focal'"]),
        (["--neuron-arg", "tau=0.5"], ["tau must be > 1"]),
        (["--neuron-arg", "nonsense"], ["key=value"]),
        (["--dist-timeout", "0"], ["distributed timeout must be > 0"]),
    ],
)
def test_bad_names_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                          needles: list[str]) -> None:
    assert main([*BASE, "--epochs", "1", "--out", str(tmp_path / "x"), *extra]) == 2
    _one_line_error(capsys, *needles)
    assert not (tmp_path / "x" / "checkpoint.pt").exists()


def test_bad_data_dir_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--dataset", "cifar10", "--model", "vgg", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main([*args, "--data-dir", str(tmp_path / "nope")]) == 2
    _one_line_error(capsys, "cifar10", "nope", "does not exist")
    (tmp_path / "empty").mkdir()
    assert main([*args, "--data-dir", str(tmp_path / "empty")]) == 2
    _one_line_error(capsys, "empty", "data_batch_1")


def test_bad_checkpoint_on_resume_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"\x00garbage")
    assert main([*BASE, "--neuron", "clif", "--epochs", "1", "--out", str(out), "--resume"]) == 2
    _one_line_error(capsys, "checkpoint.pt", "truncated or corrupted")


def test_parse_neuron_args_types() -> None:
    assert parse_neuron_args(["tau=2", "v_threshold=0.5", "detach_reset=true", "v_reset=none",
                              "surrogate=sigmoid:4"]) == {
        "tau": 2, "v_threshold": 0.5, "detach_reset": True, "v_reset": None, "surrogate": "sigmoid:4",
    }
    with pytest.raises(InvalidParameterError):
        parse_neuron_args(["=3"])


def test_demo_trains_and_writes_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "1", "--T", "2"]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "firing rates" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train"]["model_config"]["neuron"] == "clif"
    assert 0.0 <= summary["train"]["test_acc"] <= 1.0
    assert set(summary["train"]["firing_rate"]) == {"2", "6", "10"}
    assert (out / "checkpoint.pt").is_file() and (out / "metrics.jsonl").is_file()
    import snndeploy

    model, config = snndeploy.load(out / "checkpoint.pt")
    assert config.model == "vgg" and model(torch.rand(2, 3, 1, 8, 8)).shape == (2, 3, 10)
    # The rest of the pipeline: fold + export + verify + energy, all in the same report directory.
    for name in ("model.nir", "model_flat.nir", "model_step.onnx", "verify.json", "verify.md",
                 "agreement.png"):
        assert (out / name).stat().st_size > 0, name
    exact = [r for r in summary["verify"]["runtimes"] if r["expectation"] == "exact"]
    # fused backend, ONNX Runtime and NIR-vs-folded are identical
    assert exact and all(r["passed"] for r in exact)
    assert "exact paths" in text and "identical" in text
    assert summary["energy"]["totals"]["state_updates"] > 0 and (out / "energy").is_dir()


def _write_nmnist(root: Path) -> None:
    """A tiny N-MNIST tree in the real format: 5-byte events x, y, p<<7 | t[22:16], t[15:8], t[7:0]."""
    import numpy as np

    rng = np.random.RandomState(0)
    for split in ("Train", "Test"):
        for digit in range(3):
            d = root / split / str(digit)
            d.mkdir(parents=True)
            n = 30
            t = np.sort(rng.randint(0, 2**23, n))
            x, y, p = rng.randint(0, 34, n), rng.randint(0, 34, n), rng.randint(0, 2, n)
            ev = np.stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], 1).astype(np.uint8)
            (d / "00001.bin").write_bytes(ev.tobytes())


def test_train_on_local_event_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_nmnist(tmp_path / "nmnist")
    out = tmp_path / "run"
    args = ["train", "--model", "vgg", "--width", "0.125", "--depth", "2", "--dataset", "nmnist",
            "--data-dir", str(tmp_path / "nmnist"), "--T", "3", "--epochs", "1", "--batch-size", "2", "--out",
            str(out), "--no-progress"]
    assert main(args) == 0
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["model_config"]["input_shape"] == [2, 34, 34]
    assert ckpt["train_config"]["data_dir"] == str(tmp_path / "nmnist")
    assert ckpt["train_config"]["encoding"] == "sequence" and ckpt["train_config"]["time_steps"] == 3
    assert "test accuracy" in capsys.readouterr().out
