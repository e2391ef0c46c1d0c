"""Energy of a checkpoint or a NIR file on a dataset: count, price under the profiles, write the report.

A checkpoint's BatchNorm layers are folded into the neighbouring weights before counting (as ``hw-check``
folds before checking; the neurons stay as trained), so the checkpoint and its NIR export count the same
network. The report states the data: dataset, split, sample count, T and batch size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from exporters.nir import read_nir

from ..checkpoint import model_from_checkpoint, read_checkpoint
from ..data import checkpoint_dataset, default_dataset
from ..energy import (
    build_report,
    builtin_profiles,
    count_nir_ops,
    count_ops,
    fold_for_counting,
    get_profile,
    write_report,
)
from ..errors import InvalidParameterError
from ..nirsim import NIRSimulator, random_input

__all__ = ["energy_of_file", "test_batches"]


def test_batches(name: str, data_dir: Path | None, limit: int, batch_size: int,
                 train_config: dict[str, Any] | None = None) -> tuple[Iterable[Tensor], Any]:
    """Time-major test batches of dataset ``name`` (first ``limit`` samples) and the bundle, as the checkpoint
    whose ``train_config`` is given saw it (``snndeploy.data.checkpoint_dataset``)."""
    bundle = checkpoint_dataset(name, data_dir, train_config or {}, limit=limit)
    loader = torch.utils.data.DataLoader(bundle.test, batch_size=batch_size)
    return (bundle.to_time_major(x) for x, _ in loader), bundle


def energy_of_file(
    source: Path,
    out: Path,
    *,
    data: str | None = None,
    data_dir: Path | None = None,
    limit: int = 256,
    batch_size: int = 128,
    profiles: Sequence[str] = (),
    dt: float | None = None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Count a checkpoint (BatchNorm folded first) or a ``.nir`` graph (run by nirsim) on the first ``limit``
    samples of a dataset's test split and price it.

    ``profiles``: names or TOML paths (default: every built-in profile). Returns ``(report, written paths)``;
    the report is what ``energy.json`` holds.
    """
    if str(source).endswith(".nir"):
        graph, train_config = read_nir(source), {}
        model, input_shape, meta = None, NIRSimulator(graph, dt=dt).input_shape, {"nir": str(source)}
    else:
        obj = read_checkpoint(source)
        model, config = model_from_checkpoint(obj, source)
        train_config = obj.get("train_config") or {}
        model, folds = fold_for_counting(model)
        graph, input_shape = None, config.input_shape
        meta = {"checkpoint": str(source), "model": config.model, "neuron": config.neuron,
                "batchnorm": {"folded": True, "layers": folds}}
    name = data or default_dataset(input_shape)
    if name is None and graph is None:
        raise InvalidParameterError(
            f"{source}: cannot infer the dataset from input_shape {input_shape}; pass --data")
    if name is None:  # a foreign NIR graph no dataset fits: count it on seeded random input, and say so
        name = "random (no dataset fits)"
        batches: Any = [random_input(graph, T=16, batch=limit)]
    else:
        batches, _ = test_batches(name, data_dir, limit, batch_size, train_config)
    meta["dataset"] = name
    profs = list(builtin_profiles().values()) if not profiles else [get_profile(p) for p in profiles]
    counts = count_ops(model, batches) if graph is None else count_nir_ops(graph, batches, dt=dt)
    report = build_report(counts, profs, meta, {"dataset": name, "split": "test", "limit": limit})
    return report, write_report(report, out)
