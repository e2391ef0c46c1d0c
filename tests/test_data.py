"""Dataset loaders: embedded data, and local-directory loaders on tiny files written here in the real
formats."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from snndeploy.data import DATASETS, load_dataset
from snndeploy.data.events import events_to_frames, read_nmnist_events
from snndeploy.errors import DatasetError, InvalidParameterError, UnknownNameError


def test_digits_direct_encoding_repeats_the_image() -> None:
    b = load_dataset("digits", time_steps=3)
    assert (len(b.train), len(b.test)) == (1438, 359)
    assert b.input_shape == (1, 8, 8) and b.num_classes == 10 and b.encoding == "direct"
    x, y = next(iter(torch.utils.data.DataLoader(b.train, batch_size=5)))
    xs = b.to_time_major(x)
    assert xs.shape == (3, 5, 1, 8, 8)
    for t in range(3):
        assert torch.equal(xs[t], x)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert y.dtype == torch.long


def test_mnist1d_is_generated_offline_and_fed_one_value_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    import mnist1d.data
    from mnist1d.data import get_dataset_args, make_dataset

    from snndeploy.data import embedded

    def no_download(*args, **kwargs):
        raise AssertionError("the download path must never be called")

    monkeypatch.setattr(mnist1d.data, "get_dataset", no_download)
    embedded._mnist1d_arrays.cache_clear()
    b = load_dataset("mnist1d")
    assert (len(b.train), len(b.test), b.time_steps, b.input_shape,
            b.encoding) == (4000, 1000, 40, (1,), "sequence")
    ref = make_dataset(get_dataset_args())
    x, y = b.train[7]
    np.testing.assert_allclose(x[:, 0].numpy(), ref["x"][7].astype(np.float32))
    assert int(y) == int(ref["y"][7])
    xb = torch.stack([b.train[i][0] for i in range(4)])
    xs = b.to_time_major(xb)
    assert xs.shape == (40, 4, 1)
    assert torch.equal(xs[:, 2, 0], xb[2, :, 0])
    with pytest.raises(InvalidParameterError, match="T must be 40"):
        load_dataset("mnist1d", time_steps=8)


def test_unknown_dataset_and_limit() -> None:
    with pytest.raises(UnknownNameError, match="unknown dataset 'imagenet'.*digits"):
        load_dataset("imagenet")
    b = load_dataset("digits", limit=10)
    assert len(b.train) == 10 and len(b.test) == 10


# ----------------------------------------------------------------------------------------------- CIFAR


def _write_batch(path: Path, n: int, label_key: str, seed: int,
                 classes: int = 10) -> tuple[np.ndarray, list[int]]:
    rng = np.random.RandomState(seed)
    data = rng.randint(0, 256, size=(n, 3072)).astype(np.uint8)
    labels = [int(v) for v in rng.randint(0, classes, size=n)]
    with open(path, "wb") as fh:
        pickle.dump({b"batch_label": b"x", b"data": data, label_key.encode(): labels,
                     b"filenames": [b"a"] * n}, fh)
    return data, labels


def _cifar10_dir(root: Path) -> Path:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for i in range(1, 6):
        _write_batch(d / f"data_batch_{i}", 3, "labels", i)
    _write_batch(d / "test_batch", 4, "labels", 9)
    return d


def test_cifar10_reads_pickle_batches(tmp_path: Path) -> None:
    d = _cifar10_dir(tmp_path)
    data, labels = _write_batch(d / "test_batch", 4, "labels", 9)
    b = load_dataset("cifar10", tmp_path)
    assert (len(b.train), len(b.test), b.input_shape, b.num_classes) == (15, 4, (3, 32, 32), 10)
    assert b.data_dir == str(tmp_path)
    x, y = b.test[2]
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
    std = torch.tensor([0.2023, 0.1994, 0.2010]).view(3, 1, 1)
    expect = (torch.from_numpy(data[2].reshape(3, 32, 32)).float() / 255 - mean) / std
    torch.testing.assert_close(x, expect)
    assert int(y) == labels[2]
    xa, _ = b.train[0]  # augmented: still an image of the same shape
    assert xa.shape == (3, 32, 32)
    assert load_dataset("cifar10", d).train is not None  # the batches folder itself also works


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    _write_batch(d / "train", 5, "fine_labels", 1, classes=100)
    _, labels = _write_batch(d / "test", 2, "fine_labels", 2, classes=100)
    b = load_dataset("cifar100", tmp_path, time_steps=2)
    assert (len(b.train), len(b.test), b.num_classes, b.time_steps) == (5, 2, 100, 2)
    assert int(b.test[1][1]) == labels[1]


def test_cifar_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="pass data_dir"):
        load_dataset("cifar10")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("cifar10", tmp_path / "nowhere")
    d = _cifar10_dir(tmp_path)
    (d / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="lacks file 'data_batch_3'"):
        load_dataset("cifar10", tmp_path)
    with open(d / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(DatasetError, match=r"data_batch_3.*uint8 \[N, 3072\]"):
        load_dataset("cifar10", tmp_path)
    with open(d / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, fh)
    with pytest.raises(DatasetError, match="data_batch_3.*lacks key 'labels'"):
        load_dataset("cifar10", tmp_path)
    (d / "data_batch_3").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DatasetError, match="data_batch_3.*not a CIFAR python batch"):
        load_dataset("cifar10", tmp_path)


class _Evil:
    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_cifar_foreign_pickle_is_refused_not_executed(tmp_path: Path) -> None:
    d = _cifar10_dir(tmp_path)
    evil = _Evil()
    evil.target = str(tmp_path / "pwned")
    with open(d / "test_batch", "wb") as fh:
        pickle.dump({b"data": evil, b"labels": []}, fh)
    with pytest.raises(DatasetError, match="test_batch.*refusing to load"):
        load_dataset("cifar10", tmp_path)
    assert not (tmp_path / "pwned").exists()


# ----------------------------------------------------------------------------------------------- events


def _encode_events(x: list[int], y: list[int], p: list[int], t: list[int]) -> bytes:
    """N-MNIST 40-bit events: x, y, (p << 7 | t[22:16]), t[15:8], t[7:0]."""
    out = bytearray()
    for xi, yi, pi, ti in zip(x, y, p, t, strict=True):
        out += bytes([xi, yi, (pi << 7) | ((ti >> 16) & 0x7F), (ti >> 8) & 0xFF, ti & 0xFF])
    return bytes(out)


def test_nmnist_event_decoding_round_trip(tmp_path: Path) -> None:
    x, y, p, t = [0, 33, 5, 7], [1, 2, 33, 0], [1, 0, 1, 1], [0, 300, 70_000, 8_388_607]
    f = tmp_path / "a.bin"
    f.write_bytes(_encode_events(x, y, p, t))
    ev = read_nmnist_events(f)
    assert ev["x"].tolist() == x and ev["y"].tolist() == y and ev["p"].tolist() == p and ev["t"].tolist() == t


def test_events_to_frames_bins_by_time() -> None:
    ev = np.zeros(4, dtype=[("x", np.int64), ("y", np.int64), ("p", np.int64), ("t", np.int64)])
    ev["x"], ev["y"], ev["p"], ev["t"] = [1, 1, 2, 3], [0, 0, 1, 2], [1, 1, 0, 1], [100, 110, 150, 199]
    fr = events_to_frames(ev, 2, 4, 4)  # span 100 µs: bins [100,150) and [150,199]
    assert fr.shape == (2, 2, 4, 4) and float(fr.sum()) == 4
    assert fr[0, 1, 0, 1] == 2 and fr[1, 0, 1, 2] == 1 and fr[1, 1, 2, 3] == 1


def _nmnist_dir(root: Path) -> None:
    rng = np.random.RandomState(0)
    for split, n in (("Train", 2), ("Test", 1)):
        for digit in (0, 3):
            d = root / split / str(digit)
            d.mkdir(parents=True)
            for k in range(n):
                m = 20
                ts = sorted(int(v) for v in rng.randint(0, 300_000, m))
                (d / f"{k:05d}.bin").write_bytes(
                    _encode_events(list(rng.randint(0, 34, m)), list(rng.randint(0, 34, m)),
                                   list(rng.randint(0, 2, m)), ts)
                )


def test_nmnist_loader_on_tiny_tree(tmp_path: Path) -> None:
    _nmnist_dir(tmp_path)
    b = load_dataset("nmnist", tmp_path, time_steps=5)
    assert (len(b.train), len(b.test), b.input_shape, b.encoding) == (4, 2, (2, 34, 34), "sequence")
    x, y = b.train[3]
    assert x.shape == (5, 2, 34, 34) and float(x.sum()) == 20 and int(y) == 3
    xs = b.to_time_major(torch.stack([b.train[i][0] for i in range(2)]))
    assert xs.shape == (5, 2, 2, 34, 34)


def test_nmnist_missing_and_malformed(tmp_path: Path) -> None:
    (tmp_path / "Train" / "1").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no <digit>/"):
        load_dataset("nmnist", tmp_path)
    bad = tmp_path / "Train" / "1" / "x.bin"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(DatasetError, match="lacks the 'Test' folder"):
        load_dataset("nmnist", tmp_path)
    (tmp_path / "Test" / "1").mkdir(parents=True)
    (tmp_path / "Test" / "1" / "y.bin").write_bytes(_encode_events([1], [1], [0], [5]))
    b = load_dataset("nmnist", tmp_path)
    with pytest.raises(DatasetError, match=r"x\.bin.*7 bytes"):
        b.train[0]
    bad.write_bytes(_encode_events([40], [1], [0], [5]))
    with pytest.raises(DatasetError, match=r"x\.bin.*exceed"):
        b.train[0]
    (tmp_path / "Train" / "cats").mkdir()
    with pytest.raises(DatasetError, match="'cats' is not a digit"):
        load_dataset("nmnist", tmp_path)


def test_dvs_gesture_needs_tonic(tmp_path: Path) -> None:
    if _has_tonic():
        pytest.skip("tonic is installed here: the missing-tonic error cannot be shown")
    with pytest.raises(DatasetError, match="tonic"):
        load_dataset("dvs128_gesture", tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("dvs128_gesture", tmp_path / "missing")


def _has_tonic() -> bool:
    try:
        import tonic  # noqa: F401
    except ImportError:
        return False
    return True


def test_registry_lists_every_loader() -> None:
    assert set(DATASETS) == {"digits", "mnist1d", "cifar10", "cifar100", "nmnist", "dvs128_gesture"}
