"""Datasets: embedded (``digits``, ``mnist1d``) and local directories (CIFAR-10/100, N-MNIST, DVS128 Gesture).

``load_dataset(name, data_dir, time_steps)`` returns a ``DataBundle``; ``bundle.to_time_major(x)`` gives the
``[T, B, *]`` model input. Nothing is ever downloaded.
"""
from . import cifar, embedded, events  # noqa: F401  (register the loaders)
from .base import DATASETS, DataBundle, load_dataset, register_dataset
from .select import calibration_inputs, default_dataset, evaluation_inputs, split_tensors
from .subset import trained_view, view_of
from .view import TargetData, checkpoint_dataset, target_data

__all__ = [
    "DATASETS", "DataBundle", "load_dataset", "register_dataset",
    "default_dataset", "split_tensors", "calibration_inputs", "evaluation_inputs",
    "TargetData", "target_data", "view_of", "trained_view", "checkpoint_dataset",
]
