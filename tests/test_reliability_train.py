"""Training survives interruption: SIGKILL mid-epoch + --resume, SIGTERM/SIGINT save and exit cleanly (DDP
faults: tests/test_reliability_ddp.py).

Every run is the real CLI (``python -m snndeploy.cli.app train``) in a subprocess on the embedded ``digits``
data (64 samples, 8 steps per epoch). Kills land at an exact step through the trainer's fault injection
(``SNNDEPLOY_FAULT=sigkill@step=13``: step 13 is the 5th batch of epoch 2); the SIGINT test sends the signal
from outside, at whatever point the run has reached.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

ARGS = ["--model", "mlp", "--neuron", "clif", "--dataset", "digits", "--T", "2", "--limit", "64",
        "--batch-size", "8", "--device", "cpu", "--backend", "auto", "--no-progress", "--seed", "1",
        "--width", "0.25", "--dropout", "0.1"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SNNDEPLOY_FAULT")}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


def _start(out: Path, epochs: int = 3, resume: bool = False, **env: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snndeploy.cli.app", "train", *ARGS, "--epochs", str(epochs), "--out",
           str(out)]
    return subprocess.Popen(cmd + (["--resume"] if resume else []), env=_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _state(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)


def _assert_same_weights(a: Path, b: Path) -> None:
    sa, sb = _state(a)["model_state"], _state(b)["model_state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 3-epoch run (the weights every resumed run must reproduce bit for bit)."""
    out = tmp_path_factory.mktemp("reference")
    rc, err = _finish(_start(out))
    assert rc == 0, err[-2000:]
    assert _state(out)["epoch"] == 2
    return out


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path: Path, reference: Path) -> None:
    rc, _ = _finish(_start(tmp_path, SNNDEPLOY_FAULT="sigkill@step=13"))
    assert rc == -signal.SIGKILL
    ck = _state(tmp_path)
    assert ck["epoch"] == 0 and "partial_epoch" not in ck  # the last good checkpoint: epoch 1 of 3 finished
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    rc, err = _finish(_start(tmp_path, resume=True))
    assert rc == 0, err[-2000:]
    _assert_same_weights(tmp_path, reference)
    # the weights really moved during the resumed epochs
    assert not torch.equal(next(iter(ck["model_state"].values())),
                           next(iter(_state(tmp_path)["model_state"].values())))


def test_sigterm_saves_a_mid_epoch_checkpoint_exits_cleanly_and_resumes_exactly(tmp_path: Path,
                                                                                  reference: Path) -> None:
    rc, err = _finish(_start(tmp_path, SNNDEPLOY_FAULT="sigterm@step=13"))
    assert rc == 130, err[-2000:]
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: training stopped by SIGTERM at epoch 2 step 5")
    ck = _state(tmp_path)
    assert ck["epoch"] == 0 and ck["partial_epoch"]["epoch"] == 1 and ck["partial_epoch"]["step"] == 5
    rc, err = _finish(_start(tmp_path, resume=True))
    assert rc == 0, err[-2000:]
    _assert_same_weights(tmp_path, reference)
    metrics = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 3
    ref_rec = [line.split('"time_s"')[0] for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [line.split('"time_s"')[0] for line in metrics] == ref_rec  # same losses and accuracies per epoch


def test_external_sigint_stops_with_a_checkpoint_and_no_traceback(tmp_path: Path) -> None:
    proc = _start(tmp_path, epochs=2000)
    deadline = time.monotonic() + 90
    while not (tmp_path / "checkpoint.pt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, (
            "the run ended before its first checkpoint")
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    rc, err = _finish(proc, timeout=60)
    assert rc == 130, err[-2000:]
    assert "Traceback" not in err and "training stopped by SIGINT" in err
    ck = _state(tmp_path)
    assert ck["partial_epoch"]["epoch"] == ck["epoch"] + 1


def test_malformed_partial_epoch_is_refused_on_resume(tmp_path: Path) -> None:
    """In process: a ``partial_epoch`` whose step lies beyond the epoch, or that is malformed, is a
    CheckpointError."""
    from snndeploy.data import load_dataset
    from snndeploy.errors import CheckpointError
    from snndeploy.models import ModelConfig
    from snndeploy.train import TrainConfig, train

    data = load_dataset("digits", time_steps=2, limit=16)
    config = ModelConfig("mlp", (1, 8, 8), 10, "clif", width=0.25)
    cfg = TrainConfig(epochs=2, batch_size=8, seed=1, device="cpu", backend="auto")
    train(config, data, TrainConfig(epochs=1, batch_size=8, seed=1, device="cpu", backend="auto"),
          out_dir=tmp_path)
    obj = _state(tmp_path)
    for partial, match in [({"epoch": 1, "step": 99, "sums": torch.zeros(3, dtype=torch.float64)},
                            "has 2 steps"),
                           ({"epoch": 5, "step": 1, "sums": torch.zeros(3, dtype=torch.float64)},
                            "malformed"),
                           ({"epoch": 1, "step": 1, "sums": torch.full((3,), float("nan"))}, "malformed")]:
        torch.save({**obj, "partial_epoch": partial}, tmp_path / "p.pt")
        with pytest.raises(CheckpointError, match=match):
            train(config, data, cfg, out_dir=tmp_path, resume=tmp_path / "p.pt")


def test_fault_injection_spec_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from snndeploy.errors import InvalidParameterError
    from snndeploy.train.faults import fault_hook

    monkeypatch.setenv("SNNDEPLOY_FAULT", "explode@step=3")
    with pytest.raises(InvalidParameterError, match="sigkill@step=13"):
        fault_hook()
    monkeypatch.delenv("SNNDEPLOY_FAULT")
    assert fault_hook() is None
