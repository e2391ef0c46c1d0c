"""Which data a command runs on: the embedded dataset matching a model, calibration and evaluation batches.

Shared by ``fold``, ``export``, ``verify``, ``energy``, ``hw-check`` and the pipelines, so every command picks
data the same way. Tensors are time-major ``[T, N, *input_shape]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import DatasetError, InvalidParameterError
from .base import DATASETS, DataBundle, load_dataset
from .subset import trained_view

__all__ = ["EMBEDDED_BY_SHAPE", "default_dataset", "split_tensors", "calibration_inputs", "evaluation_inputs"]

#: The embedded dataset whose samples have a given input shape.
EMBEDDED_BY_SHAPE: dict[tuple[int, ...], str] = {(1,): "mnist1d", (1, 8, 8): "digits"}


def default_dataset(input_shape: tuple[int, ...]) -> str | None:
    """The embedded dataset whose samples have ``input_shape`` (``(1,)`` → mnist1d, ``(1, 8, 8)`` →
    digits)."""
    return EMBEDDED_BY_SHAPE.get(tuple(input_shape))


def split_tensors(bundle: DataBundle, split: str = "test") -> tuple[Tensor, Tensor]:
    """``(x [T, N, *], y [N])``: a whole split of ``bundle`` (``"train"`` or ``"test"``) as two tensors."""
    if split not in ("train", "test"):
        raise InvalidParameterError(f"split must be 'train' or 'test', got {split!r}")
    ds = bundle.train if split == "train" else bundle.test
    xs, ys = zip(*[ds[i] for i in range(len(ds))], strict=True)
    return bundle.to_time_major(torch.stack(xs)), torch.as_tensor(ys)


def calibration_inputs(
    input_shape: tuple[int, ...], data: str | None, data_dir: Path | None, limit: int, split: str = "train"
) -> tuple[Tensor, Tensor] | None:
    """``(x [T, N, *], y [N])`` from the dataset named ``data`` (default: the embedded one matching
    ``input_shape``), or ``None`` when no dataset is named and none matches."""
    name = data or default_dataset(input_shape)
    if name is None:
        return None
    return split_tensors(load_dataset(name, data_dir, limit=limit), split)


def evaluation_inputs(
    data: str | None,
    samples: int,
    T: int | None,
    input_shape: tuple[int, ...],
    train_config: dict[str, Any],
    seed: int = 0,
) -> tuple[Tensor, Tensor | None, Tensor]:
    """``(x, y or None, calibration x)`` as ``[T, N, *input_shape]`` tensors for ``verify``.

    ``data``: a dataset name, a local dataset directory (its type is the checkpoint's
    ``train_config["dataset"]``), ``"random"`` (uniform in [0, 2), seeded), or ``None`` (the checkpoint's
    embedded dataset, else random).
    """
    if samples < 1:
        raise InvalidParameterError(f"samples must be >= 1, got {samples}")
    trained_on = train_config.get("dataset")
    name = data or (trained_on if trained_on in ("digits", "mnist1d") else "random")
    if name == "random":
        g = torch.Generator().manual_seed(seed)
        shape = (T or int(train_config.get("time_steps") or 8), samples, *input_shape)
        return torch.rand(shape, generator=g) * 2, None, torch.rand(shape, generator=g) * 2
    if name.lower().replace("-", "_") in DATASETS:
        bundle = load_dataset(name, None, T, limit=samples)
        bundle = trained_view(bundle, train_config)
    elif Path(name).is_dir():
        if not trained_on:
            raise DatasetError(
                f"--data {name}: a directory needs the dataset type, which the checkpoint does not record"
            )
        bundle = trained_view(load_dataset(trained_on, name, T, limit=samples), train_config)
    else:
        raise DatasetError(
            f"--data {name!r}: neither a dataset name ({', '.join(DATASETS)}), a directory, nor 'random'"
        )
    x, y = split_tensors(bundle, "test")
    calib, _ = split_tensors(bundle, "train")
    return x, y, calib
