"""Trainer, losses, firing-rate monitor, checkpoints and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import snndeploy
from snndeploy.checkpoint import read_checkpoint, save_checkpoint
from snndeploy.data import load_dataset
from snndeploy.errors import CheckpointError, InvalidParameterError, UnknownNameError
from snndeploy.models import ModelConfig, build_model
from snndeploy.neurons import NeuronModule
from snndeploy.train import FiringRateMonitor, TrainConfig, get_loss, tet_loss, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", time_steps=2, limit=192)


def _cfg(**kw) -> TrainConfig:
    base = dict(epochs=2, batch_size=32, lr=5e-3, seed=3, device="cpu", backend="auto")
    base.update(kw)
    return TrainConfig(**base)


def _mc(neuron: str = "clif", **kw) -> ModelConfig:
    return ModelConfig("mlp", (1, 8, 8), 10, neuron, width=kw.pop("width", 0.25),
                       dropout=kw.pop("dropout", 0.1), **kw)


# ------------------------------------------------------------------------------------------------ losses


def test_tet_loss_matches_per_step_formula() -> None:
    torch.manual_seed(0)
    o, y = torch.randn(4, 5, 3), torch.tensor([0, 2, 1, 1, 0])
    ce = sum(F.cross_entropy(o[t], y) for t in range(4)) / 4
    mse_means = sum(((o[t] - 1.0) ** 2).mean() for t in range(4)) / 4
    onehot = F.one_hot(y, 3).float()
    mse_onehot = sum(((o[t] - onehot) ** 2).mean() for t in range(4)) / 4
    torch.testing.assert_close(tet_loss(o, y, 0.05), 0.95 * ce + 0.05 * mse_means)
    torch.testing.assert_close(get_loss("tet_onehot")(o, y, 0.05), 0.95 * ce + 0.05 * mse_onehot)
    torch.testing.assert_close(get_loss("ce")(o, y, 0.05), F.cross_entropy(o.mean(0), y))
    with pytest.raises(UnknownNameError, match="unknown loss 'focal'"):
        get_loss("focal")


def test_firing_rate_monitor_equals_mean_of_neuron_outputs() -> None:
    torch.manual_seed(0)
    net = build_model(_mc(dropout=0.0))
    outs: dict[str, torch.Tensor] = {}
    for name, m in net.named_modules():
        if isinstance(m, NeuronModule):
            m.register_forward_hook(lambda mod, i, o, n=name: outs.__setitem__(n, o))
    x = torch.rand(3, 7, 1, 8, 8) * 4
    with FiringRateMonitor(net) as mon:
        net(x)
    assert set(mon.rates()) == set(outs) and len(outs) == 2
    for name, out in outs.items():
        assert mon.rates()[name] == pytest.approx(float(out.detach().mean()))
    assert mon.mean_rate() == pytest.approx(
        float(torch.cat([o.detach().flatten() for o in outs.values()]).mean()))


# ------------------------------------------------------------------------------------------------ training


def test_short_training_lowers_the_loss_and_writes_metrics(tmp_path: Path) -> None:
    full = load_dataset("digits", time_steps=2, limit=720)
    res = train(_mc(width=0.5), full, _cfg(epochs=2), tmp_path)
    losses = [r["train_loss"] for r in res.history]
    assert losses[-1] < losses[0] - 0.2
    assert res.history[-1]["test_acc"] > 0.7
    assert res.history[-1]["train_samples"] == len(full.train)
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1]
    assert set(lines[-1]["firing_rate"]) == {"3", "6"}  # the two neuron layers, by module path
    assert all(0.0 < v < 1.0 for v in lines[-1]["firing_rate"].values())
    assert lines[-1]["test_acc"] == res.history[-1]["test_acc"]


def test_same_seed_same_weights(digits) -> None:
    a = train(_mc("klif"), digits, _cfg(epochs=1)).model.state_dict()
    b = train(_mc("klif"), digits, _cfg(epochs=1)).model.state_dict()
    c = train(_mc("klif"), digits, _cfg(epochs=1, seed=4)).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


class _Crash(Exception):
    """Raised from the epoch callback: the run dies after epoch 0 was checkpointed (as a killed job would)."""


def _crash_after_first_epoch(record: dict) -> None:
    raise _Crash


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_resume_equals_uninterrupted_run(digits, tmp_path: Path, optimizer: str) -> None:
    full = train(_mc(), digits, _cfg(optimizer=optimizer), tmp_path / "full")
    part = tmp_path / "part"
    with pytest.raises(_Crash):
        train(_mc(), digits, _cfg(optimizer=optimizer), part, on_epoch=_crash_after_first_epoch)
    assert read_checkpoint(part / "checkpoint.pt")["epoch"] == 0
    resumed = train(_mc(), digits, _cfg(optimizer=optimizer), part, resume=True)
    assert [r["epoch"] for r in resumed.history] == [0, 1]  # history continues from metrics.jsonl
    sa, sb = full.model.state_dict(), resumed.model.state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert resumed.history[-1]["test_acc"] == full.history[-1]["test_acc"]
    assert resumed.history[-1]["train_loss"] == full.history[-1]["train_loss"]
    lines = (part / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [0, 1]


def test_resume_with_other_model_or_nothing_to_resume(digits, tmp_path: Path) -> None:
    train(_mc(), digits, _cfg(epochs=1), tmp_path)
    with pytest.raises(CheckpointError, match=r"'model_config' differs.*neuron"):
        train(_mc("lif"), digits, _cfg(epochs=2), tmp_path, resume=True)
    with pytest.raises(CheckpointError, match="does not exist"):
        train(_mc(), digits, _cfg(epochs=2), tmp_path / "empty", resume=True)
    res = train(_mc(), digits, _cfg(epochs=1), tmp_path, resume=True)  # already done: nothing to train
    assert [r["epoch"] for r in res.history] == [0]


def test_bad_train_config_and_mismatched_data(digits) -> None:
    with pytest.raises(UnknownNameError, match="optimizer 'adam'"):
        _cfg(optimizer="adam")
    with pytest.raises(InvalidParameterError, match="epochs"):
        _cfg(epochs=0)
    with pytest.raises(InvalidParameterError, match="does not match dataset 'digits'"):
        train(ModelConfig("mlp", (1,), 10), digits, _cfg())


# ------------------------------------------------------------------------------------------------ checkpoints


def test_load_rebuilds_the_trained_model(digits, tmp_path: Path) -> None:
    res = train(_mc("ilif"), digits, _cfg(epochs=1), tmp_path)
    raw = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert raw["format"] == "snndeploy-checkpoint" and raw["model_config"]["neuron"] == "ilif"
    model, config = snndeploy.load(tmp_path / "checkpoint.pt")
    assert config == _mc("ilif")
    x = torch.rand(2, 5, 1, 8, 8)
    res.model.eval()
    torch.testing.assert_close(model(x), res.model(x), rtol=0, atol=0)


def test_bad_checkpoints_raise_checkpoint_error(digits, tmp_path: Path) -> None:
    train(_mc(), digits, _cfg(epochs=1), tmp_path)
    good = (tmp_path / "checkpoint.pt").read_bytes()
    cases = {
        "missing.pt": None,
        "truncated.pt": good[: len(good) // 2],
        "garbage.pt": b"not a checkpoint at all",
    }
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match=name):
            snndeploy.load(tmp_path / name)
    torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match=r"foreign\.pt.*field 'format'"):
        snndeploy.load(tmp_path / "foreign.pt")
    torch.save({"format": "snndeploy-checkpoint", "obj": _Unsafe()}, tmp_path / "unsafe.pt")
    with pytest.raises(CheckpointError, match=r"unsafe\.pt.*weights_only"):
        snndeploy.load(tmp_path / "unsafe.pt")
    obj = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    obj["model_config"]["model"] = "transformer"
    torch.save(obj, tmp_path / "badcfg.pt")
    with pytest.raises(CheckpointError, match=r"badcfg\.pt.*'model_config'.*transformer"):
        snndeploy.load(tmp_path / "badcfg.pt")
    obj = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    obj["model_config"]["width"] = 0.5
    torch.save(obj, tmp_path / "badstate.pt")
    with pytest.raises(CheckpointError, match=r"badstate\.pt.*'model_state'"):
        snndeploy.load(tmp_path / "badstate.pt")
    obj = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    obj["version"] = 99
    torch.save(obj, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match=r"future\.pt.*'version'"):
        snndeploy.load(tmp_path / "future.pt")


class _Unsafe:
    pass


def test_save_checkpoint_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _mc()
    model = build_model(config)
    path = save_checkpoint(tmp_path / "c.pt", model=model, config=config, epoch=0)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model=model, config=config, epoch=1)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_cifar_directory_trains_a_tiny_resnet(tmp_path: Path) -> None:
    import pickle

    import numpy as np

    rng = np.random.RandomState(0)
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(d / name, "wb") as fh:
            pickle.dump({b"data": rng.randint(0, 256, (2, 3072)).astype(np.uint8), b"labels": [0, 1]}, fh)
    data = load_dataset("cifar10", tmp_path, time_steps=1)
    config = ModelConfig("resnet18", (3, 32, 32), 10, "lif", width=1 / 16)
    res = train(config, data, _cfg(epochs=1, batch_size=5), tmp_path / "out")
    assert res.history[0]["train_samples"] == 10
    assert len(res.history[0]["firing_rate"]) == 17
    model, cfg = snndeploy.load(tmp_path / "out" / "checkpoint.pt")
    assert cfg == config and model(torch.randn(1, 2, 3, 32, 32)).shape == (1, 2, 10)
