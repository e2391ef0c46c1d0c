"""What every dataset returns (``DataBundle``), the dataset registry and ``load_dataset``.

Samples are stored batch-first as torch ``Dataset`` items ``(x, y)``; ``DataBundle.to_time_major`` turns a
batch into the time-major ``[T, B, *]`` tensor every model takes:

- ``direct`` encoding: ``x`` is one static sample ``[B, *input_shape]``, fed unchanged at each of the T steps
  (the CLIF/ILIF repos' "direct encoding" of images);
- ``sequence`` encoding: ``x`` already has a time axis ``[B, T, *input_shape]`` (mnist1d's 40 values, event
  frames).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor
from torch.utils.data import Dataset, Subset

from ..errors import DatasetError, InvalidInputError, InvalidParameterError
from ..registry import Registry

__all__ = [
    "DataBundle", "DATASETS", "register_dataset", "load_dataset", "ENCODINGS", "subset", "require_dir",
    "as_tensor_dataset",
]

ENCODINGS = ("direct", "sequence")
_EMBEDDED = ("digits", "mnist1d")


@dataclass(frozen=True)
class DataBundle:
    """A train/test pair with what a model needs to know about it.

    Attributes:
        name: registry name.
        train, test: ``Dataset`` of ``(x float32, y int64)``.
        input_shape: shape of one time step of one sample (``ModelConfig.input_shape``).
        num_classes: number of classes.
        time_steps: T the model is run for.
        encoding: ``"direct"`` or ``"sequence"`` (module docstring).
        data_dir: the local directory it was read from (``None`` for embedded data).
    """

    name: str
    train: Dataset
    test: Dataset
    input_shape: tuple[int, ...]
    num_classes: int
    time_steps: int
    encoding: str
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise InvalidParameterError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        if self.time_steps < 1:
            raise InvalidParameterError(f"time_steps must be >= 1, got {self.time_steps}")

    def to_time_major(self, x: Tensor) -> Tensor:
        """Batch ``x`` → ``[T, B, *input_shape]`` float32 (see the module docstring)."""
        if self.encoding == "direct":
            if tuple(x.shape[1:]) != self.input_shape:
                raise InvalidInputError(
                    f"{self.name}: batch must be [B, {', '.join(map(str, self.input_shape))}], got "
                    f"{tuple(x.shape)}"
                )
            return x.float().unsqueeze(0).expand(self.time_steps, *x.shape).contiguous()
        if tuple(x.shape[2:]) != self.input_shape or x.shape[1] != self.time_steps:
            raise InvalidInputError(
                f"{self.name}: batch must be [B, T={self.time_steps}, "
                f"{', '.join(map(str, self.input_shape))}], got {tuple(x.shape)}"
            )
        return x.float().transpose(0, 1).contiguous()


Loader = Callable[..., DataBundle]
DATASETS: Registry[str, Loader] = Registry("dataset")


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Decorator: register ``loader(data_dir: Path | None, time_steps: int | None) -> DataBundle``."""
    return DATASETS.register(name)


def subset(ds: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` samples of ``ds`` (all when ``None``)."""
    if limit is None or limit >= len(ds):  # type: ignore[arg-type]
        return ds
    if limit < 1:
        raise InvalidParameterError(f"limit must be >= 1, got {limit}")
    return Subset(ds, range(limit))


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    time_steps: int | None = None,
    limit: int | None = None,
) -> DataBundle:
    """Load a registered dataset.

    Args:
        name: ``digits``, ``mnist1d`` (embedded, no download), ``cifar10``, ``cifar100``, ``nmnist``,
            ``dvs128_gesture`` (read from ``data_dir``; nothing is ever downloaded).
        data_dir: directory of a local dataset (ignored by embedded ones).
        time_steps: T; ``None`` takes the dataset's default (mnist1d is fixed at 40).
        limit: keep only the first ``limit`` samples of each split (quick runs).

    Raises:
        UnknownNameError: unknown ``name``. DatasetError: missing/malformed directory (names dir and file).
    """
    key = str(name).lower().replace("-", "_")
    loader = DATASETS.get(key)
    if time_steps is not None and (isinstance(time_steps, bool) or not isinstance(time_steps, int)
                                   or time_steps < 1):
        raise InvalidParameterError(f"time_steps must be an int >= 1, got {time_steps!r}")
    bundle = loader(Path(data_dir) if data_dir is not None else None, time_steps)
    return dataclasses.replace(
        bundle,
        train=subset(bundle.train, limit),
        test=subset(bundle.test, limit),
        data_dir=str(data_dir) if data_dir is not None and key not in _EMBEDDED else None,
    )


def require_dir(name: str, data_dir: Path | None) -> Path:
    """``data_dir`` if it is an existing directory, else a ``DatasetError`` naming it."""
    if data_dir is None:
        raise DatasetError(f"dataset {name!r} is read from a local directory: pass data_dir (--data-dir)")
    if not data_dir.is_dir():
        raise DatasetError(f"dataset {name!r}: directory {str(data_dir)!r} does not exist")
    return data_dir


def as_tensor_dataset(x: Tensor, y: Tensor) -> Dataset:
    """``TensorDataset`` of float32 inputs and int64 labels."""
    from torch.utils.data import TensorDataset

    return TensorDataset(x.float().contiguous(), y.long().contiguous())

