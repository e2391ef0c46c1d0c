"""CIFAR-10 / CIFAR-100 from a local directory in the original "python version" format (pickle batches).

Layout (the extracted archives; the top-level folder may be given itself or its parent):
- CIFAR-10: ``cifar-10-batches-py/{data_batch_1..5, test_batch}``, each a pickled dict with ``b"data"`` (uint8
  ``[N, 3072]``, channel-major 32×32) and ``b"labels"``.
- CIFAR-100: ``cifar-100-python/{train, test}`` with ``b"data"`` and ``b"fine_labels"``.

The pickles are read with a restricted unpickler that only rebuilds dicts, lists and numpy arrays, so a
foreign or malicious file is refused instead of executed. Images are normalised with the CLIF repo's
per-channel mean/std; training images get the usual random crop (padding 4) and horizontal flip. Direct
encoding, T defaults to 4.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import DatasetError
from ..limits import check_file_size
from .base import DataBundle, as_tensor_dataset, register_dataset, require_dir

__all__ = ["load_cifar10", "load_cifar100", "read_cifar_batch", "RandomCropFlip"]

_MEAN_STD = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One pickle batch → (uint8 images ``[N, 3, 32, 32]``, int64 labels ``[N]``); errors name the file and
    key."""
    if not path.is_file():
        raise DatasetError(f"CIFAR directory {str(path.parent)!r} lacks file {path.name!r}")
    check_file_size(path, "CIFAR file")
    try:
        with open(path, "rb") as fh:
            obj = _SafeUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    except Exception as exc:  # any unpickling failure: a corrupted or foreign file
        raise DatasetError(f"CIFAR file {str(path)!r} is not a CIFAR python batch: {exc}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"CIFAR file {str(path)!r} holds a {type(obj).__name__}, not a dict")
    for key in (b"data", label_key):
        if key not in obj:
            raise DatasetError(f"CIFAR file {str(path)!r} lacks key {key.decode()!r}")
    data = obj[b"data"]
    try:
        labels = np.asarray(obj[label_key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(f"CIFAR file {str(path)!r}: key {label_key.decode()!r} is not a list of "
                           f"integers: {exc}") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DatasetError(f"CIFAR file {str(path)!r}: 'data' must be uint8 [N, 3072], got {shape}")
    if labels.shape != (data.shape[0],):
        raise DatasetError(f"CIFAR file {str(path)!r}: {len(labels)} labels for {data.shape[0]} images")
    return data.reshape(-1, 3, 32, 32), labels


class RandomCropFlip(Dataset):
    """Training augmentation on ``[C, H, W]`` tensors: random crop with zero padding ``pad`` and a 50 % flip.

    Uses torch's global RNG (seeded by the trainer, saved in checkpoints).
    """

    def __init__(self, base: Dataset, pad: int = 4):
        self.base, self.pad = base, pad

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        x, y = self.base[i]
        _, h, w = x.shape
        xp = torch.nn.functional.pad(x, (self.pad,) * 4)
        top, left = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,)))
        x = xp[:, top : top + h, left : left + w]
        if bool(torch.rand(()) < 0.5):
            x = x.flip(-1)
        return x, y


def _find(data_dir: Path, sub: str, marker: str) -> Path:
    for cand in (data_dir, data_dir / sub):
        if (cand / marker).exists():
            return cand
    return data_dir


def _bundle(name: str, train: list[Path], test: list[Path], label_key: bytes, classes: int,
            T: int | None) -> DataBundle:
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in _MEAN_STD[name])

    def read(paths: list[Path]) -> tuple[Tensor, Tensor]:
        parts = [read_cifar_batch(p, label_key) for p in paths]
        x = torch.from_numpy(np.concatenate([p[0] for p in parts])).float().div_(255.0)
        y = torch.from_numpy(np.concatenate([p[1] for p in parts]))
        if int(y.min()) < 0 or int(y.max()) >= classes:
            raise DatasetError(f"{name}: labels in {[str(p) for p in paths]} must lie in [0, {classes})")
        return (x - mean) / std, y

    x_tr, y_tr = read(train)
    x_te, y_te = read(test)
    return DataBundle(
        name, RandomCropFlip(as_tensor_dataset(x_tr, y_tr)), as_tensor_dataset(x_te, y_te), (3, 32, 32),
        classes, T or 4, "direct",
    )


@register_dataset("cifar10")
def load_cifar10(data_dir: Path | None, time_steps: int | None = None) -> DataBundle:
    """CIFAR-10 from ``data_dir`` (or ``data_dir/cifar-10-batches-py``)."""
    root = _find(require_dir("cifar10", data_dir), "cifar-10-batches-py", "data_batch_1")
    train = [root / f"data_batch_{i}" for i in range(1, 6)]
    return _bundle("cifar10", train, [root / "test_batch"], b"labels", 10, time_steps)


@register_dataset("cifar100")
def load_cifar100(data_dir: Path | None, time_steps: int | None = None) -> DataBundle:
    """CIFAR-100 (fine labels) from ``data_dir`` (or ``data_dir/cifar-100-python``)."""
    root = _find(require_dir("cifar100", data_dir), "cifar-100-python", "train")
    return _bundle("cifar100", [root / "train"], [root / "test"], b"fine_labels", 100, time_steps)
