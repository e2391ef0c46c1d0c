"""The dataset as a target sees it: the recipe's class subset and input scale applied to an embedded dataset.

- ``classes`` < the dataset's: only the samples of classes 0 … classes − 1 are kept (Xylo Audio 2 has 8 output
  neurons, so 10-class mnist1d becomes its first 8 classes there);
- ``input_scale`` ≠ 1: every input value is multiplied by it (Speck takes non-negative integer events: digits
  pixels k/16 become k events per step with scale 16; the product is exact in float32).

Tensors stay time-major ``[T, N, *input_shape]`` through ``DataBundle.to_time_major``. A checkpoint trained
on such a view (``train --target``) records ``classes`` and ``input_scale`` in its ``train_config``;
``trained_view`` applies them again, so ``hw-check``, ``verify`` and ``energy`` see the data it was trained
on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from .base import DataBundle, load_dataset
from .select import split_tensors
from .subset import trained_view, view_of

__all__ = ["TargetData", "target_data", "checkpoint_dataset"]


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
    bundle = view_of(load_dataset(dataset, data_dir, T, limit=limit), classes, input_scale)
    return TargetData(bundle, bundle.name, bundle.num_classes, float(input_scale))


def checkpoint_dataset(
    name: str, data_dir: Any, train_config: dict[str, Any], limit: int | None = None
) -> DataBundle:
    """Dataset ``name`` as a checkpoint saw it: when it is the dataset the checkpoint was trained on, at the
    recorded ``time_steps`` and through ``trained_view`` (class subset, input scale); otherwise as loaded."""
    same = train_config.get("dataset") == name
    T = train_config.get("time_steps") if same else None
    return trained_view(load_dataset(name, data_dir, T, limit=limit), train_config)
