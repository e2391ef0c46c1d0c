"""The dataset as a target sees it: the recipe's class subset and input scale applied to an embedded dataset.

- ``classes`` < the dataset's: only the samples of classes 0 … classes − 1 are kept (Xylo Audio 2 has 8 output
  neurons, so 10-class mnist1d becomes its first 8 classes there);
- ``input_scale`` ≠ 1: every input value is multiplied by it (Speck takes non-negative integer events: digits
  pixels k/16 become k events per step with scale 16; the product is exact in float32).

Tensors stay time-major ``[T, N, *input_shape]`` through ``DataBundle.to_time_major``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..data import DataBundle, load_dataset, split_tensors
from ..data.base import as_tensor_dataset
from ..errors import InvalidParameterError

__all__ = ["TargetData", "target_data"]


@dataclass(frozen=True)
class TargetData:
    """A ``DataBundle`` seen through a recipe, and what was done to it (``record``)."""

    bundle: DataBundle
    dataset: str
    classes: int
    input_scale: float

    def split(self, split: str = "test", limit: int | None = None) -> tuple[Tensor, Tensor]:
        """``(x [T, N, *], y [N])`` of a split, the first ``limit`` samples."""
        x, y = split_tensors(self.bundle, split)
        return (x, y) if limit is None else (x[:, :limit], y[:limit])

    def record(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "classes": self.classes,
            "input_scale": self.input_scale,
            "time_steps": self.bundle.time_steps,
            "encoding": self.bundle.encoding,
            "train_samples": len(self.bundle.train),
            "test_samples": len(self.bundle.test),
        }


def _view(ds: Any, classes: int, scale: float) -> Any:
    xs, ys = zip(*[ds[i] for i in range(len(ds))], strict=True)
    x, y = torch.stack(xs), torch.as_tensor(ys)
    keep = y < classes
    return as_tensor_dataset(x[keep] * scale, y[keep])


def target_data(
    dataset: str,
    *,
    T: int | None = None,
    classes: int | None = None,
    input_scale: float = 1.0,
    limit: int | None = None,
    data_dir: Any = None,
) -> TargetData:
    """Load ``dataset`` (``snndeploy.data.load_dataset``) and apply the class subset and input scale."""
    bundle = load_dataset(dataset, data_dir, T, limit=limit)
    n = bundle.num_classes if classes is None else int(classes)
    if not 2 <= n <= bundle.num_classes:
        raise InvalidParameterError(
            f"classes must lie in [2, {bundle.num_classes}] for {bundle.name}, got {n}"
        )
    if not input_scale > 0:
        raise InvalidParameterError(f"input_scale must be > 0, got {input_scale}")
    if n != bundle.num_classes or input_scale != 1.0:
        bundle = dataclasses.replace(
            bundle,
            train=_view(bundle.train, n, input_scale),
            test=_view(bundle.test, n, input_scale),
            num_classes=n,
        )
    return TargetData(bundle, bundle.name, n, float(input_scale))
