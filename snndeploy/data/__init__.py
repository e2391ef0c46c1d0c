"""Datasets: embedded (``digits``, ``mnist1d``) and local directories (CIFAR-10/100, N-MNIST, DVS128 Gesture).

``load_dataset(name, data_dir, time_steps)`` returns a ``DataBundle``; ``bundle.to_time_major(x)`` gives the
``[T, B, *]`` model input. Nothing is ever downloaded.
"""
from . import cifar, embedded, events  # noqa: F401  (register the loaders)
from .base import DATASETS, DataBundle, load_dataset, register_dataset

__all__ = ["DATASETS", "DataBundle", "load_dataset", "register_dataset"]
