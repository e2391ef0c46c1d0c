"""A dataset seen through a class subset and an input scale (``view_of``), and again as a checkpoint trained
on such a view saw it (``trained_view``: ``train --target`` records ``classes`` and ``input_scale``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..errors import InvalidParameterError
from .base import DataBundle, as_tensor_dataset

__all__ = ["view_of", "trained_view"]


def _view(ds: Any, classes: int, scale: float) -> Any:
    xs, ys = zip(*[ds[i] for i in range(len(ds))], strict=True)
    x, y = torch.stack(xs), torch.as_tensor(ys)
    keep = y < classes
    return as_tensor_dataset(x[keep] * scale, y[keep])


def view_of(bundle: DataBundle, classes: int | None = None, input_scale: float = 1.0) -> DataBundle:
    """``bundle`` with only the samples of classes ``0 … classes − 1`` and every input multiplied by
    ``input_scale`` (``bundle`` itself when neither changes anything)."""
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
    return bundle


def trained_view(bundle: DataBundle, train_config: dict[str, Any]) -> DataBundle:
    """``bundle`` as the checkpoint whose ``train_config`` this is saw it: its class subset and input scale
    (recorded by ``train --target``) when ``bundle`` is the dataset it was trained on; ``bundle``
    otherwise."""
    if train_config.get("dataset") != bundle.name:
        return bundle
    classes, scale = train_config.get("classes"), train_config.get("input_scale")
    return view_of(bundle, classes, 1.0 if scale is None else float(scale))
