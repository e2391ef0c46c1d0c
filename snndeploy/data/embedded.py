"""Embedded datasets: nothing is downloaded.

- ``digits``: scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes), pixel values / 16, a
  fixed 80/20 split (permutation seed 0, independent of the training seed). Direct encoding: the image is fed
  every step.
- ``mnist1d``: Greydanus' MNIST-1D generated offline with ``mnist1d.data.make_dataset(get_dataset_args())``
  (4,000 train / 1,000 test sequences of 40 values, 10 classes; the default args fix the generator seed, so
  the data are identical everywhere). The package's download path is never called. Each sequence is fed one
  value per step, T = 40: a temporal task where all memory lives in the neurons.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ..errors import DatasetError, InvalidParameterError
from .base import DataBundle, as_tensor_dataset, register_dataset

__all__ = ["load_digits_bundle", "load_mnist1d_bundle", "MNIST1D_T"]

MNIST1D_T = 40


@register_dataset("digits")
def load_digits_bundle(data_dir: Path | None = None, time_steps: int | None = None) -> DataBundle:
    """sklearn digits as ``[1, 8, 8]`` images in [0, 1]; T defaults to 4."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is in the data extra
        raise DatasetError("dataset 'digits' needs scikit-learn (pip install scikit-learn)") from exc
    d = load_digits()
    x = torch.from_numpy(np.asarray(d.images, dtype=np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(np.asarray(d.target, dtype=np.int64))
    perm = torch.from_numpy(np.random.RandomState(0).permutation(len(y)))
    n_test = len(y) // 5
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    return DataBundle(
        "digits", as_tensor_dataset(x[train_idx], y[train_idx]), as_tensor_dataset(x[test_idx], y[test_idx]),
        (1, 8, 8), 10, time_steps or 4, "direct",
    )


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - mnist1d is in the data extra
        raise DatasetError("dataset 'mnist1d' needs the mnist1d package (pip install mnist1d)") from exc
    data = make_dataset(get_dataset_args())  # offline generation; never mnist1d.data.get_dataset (downloads)
    return data["x"], data["y"], data["x_test"], data["y_test"]


@register_dataset("mnist1d")
def load_mnist1d_bundle(data_dir: Path | None = None, time_steps: int | None = None) -> DataBundle:
    """MNIST-1D, one value per step: samples ``[40, 1]``, T = 40 (any other T is an error)."""
    if time_steps not in (None, MNIST1D_T):
        raise InvalidParameterError(
            f"mnist1d is a sequence of {MNIST1D_T} values fed one per step: T must be {MNIST1D_T}, got "
            f"{time_steps}"
        )
    x, y, xt, yt = _mnist1d_arrays()

    def seq(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.float32)).unsqueeze(-1)  # [N, 40, 1]

    return DataBundle(
        "mnist1d", as_tensor_dataset(seq(x), torch.from_numpy(np.asarray(y))),
        as_tensor_dataset(seq(xt), torch.from_numpy(np.asarray(yt))), (1,), 10, MNIST1D_T, "sequence",
    )
