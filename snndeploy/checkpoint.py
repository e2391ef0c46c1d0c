"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``, validated field by field.

A checkpoint is a dict of tensors and primitive containers only (so the safe loader accepts it):

    format: "snndeploy-checkpoint"    version: 1          epoch: int (last finished epoch, 0-based)
    model_config: ModelConfig.to_dict()                   model_state: state_dict of the (unwrapped) model
    optimizer_state, scheduler_state, scaler_state: state_dicts or None
    train_config: dict of primitives or None (the trainer's: TrainConfig fields + dataset, time_steps,
                  encoding, data_dir)                     metrics: dict of primitives (last epoch) or None
    rng: {"torch": uint8 tensor, "cuda": [uint8 tensors], "numpy_keys"/"numpy_meta": tensors,
          "python": int64 tensor, "python_gauss": float64 tensor}

``snndeploy.load(path)`` rebuilds the model from ``model_config`` and loads ``model_state``. Any problem —
missing, truncated, corrupted, foreign file, unsafe pickle, bad field — raises ``CheckpointError`` naming the
file and field.
"""

from __future__ import annotations

import math
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .errors import CheckpointError, SnnDeployError
from .io import atomic_path
from .limits import check_elements, check_file_size, get_limits

__all__ = [
    "FORMAT", "VERSION", "save_checkpoint", "read_checkpoint", "load", "model_from_checkpoint", "capture_rng",
    "restore_rng", "unwrap_model", "check_model_size",
]

FORMAT = "snndeploy-checkpoint"
VERSION = 1


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare model inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper (or ``model``
    itself)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def capture_rng() -> dict[str, Any]:
    """Torch (CPU and CUDA), numpy and Python RNG states as tensors (``weights_only``-loadable)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_meta": torch.tensor([float(pos), float(has_gauss), float(gauss)], dtype=torch.float64),
        "python": torch.tensor([py_version, *py_state], dtype=torch.int64),
        "python_gauss": torch.tensor([math.nan if py_gauss is None else py_gauss], dtype=torch.float64),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of ``capture_rng``."""
    torch.set_rng_state(state["torch"])
    meta = state["numpy_meta"].tolist()
    np.random.set_state(
        ("MT19937", state["numpy_keys"].numpy().astype(np.uint32), int(meta[0]), int(meta[1]), float(meta[2]))
    )
    py = state["python"].tolist()
    gauss = float(state["python_gauss"][0])
    random.setstate((py[0], tuple(py[1:]), None if math.isnan(gauss) else gauss))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    config: Any,
    epoch: int,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
    train_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    rng: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file, fsync, rename): a crash never leaves half a file.

    Args:
        path: target file.
        model: the model (a DDP wrapper is unwrapped).
        config: its ``ModelConfig``.
        epoch: the last finished epoch (0-based); ``--resume`` continues at ``epoch + 1``.
        optimizer, scheduler, scaler: saved through their ``state_dict`` when given.
        train_config, metrics: dicts of primitives.
        rng: ``capture_rng()`` output (captured now when ``None``).
        extra: further fields of tensors/primitives (e.g. the trainer's ``partial_epoch`` after a stop
            signal).
    """
    obj = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(epoch),
        "model_config": config.to_dict(),
        "model_state": unwrap_model(model).state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
        "scaler_state": scaler.state_dict() if scaler is not None else None,
        "train_config": dict(train_config) if train_config is not None else None,
        "metrics": dict(metrics) if metrics is not None else None,
        "rng": rng if rng is not None else capture_rng(),
        **(extra or {}),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def _why(exc: BaseException) -> str:
    """The informative line of a torch.load error (its WeightsUnpickler line when there is one)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if "WeightsUnpickler error" in ln:
            return ln.split("WeightsUnpickler error:", 1)[-1].split(". Please use")[0].strip()
    return lines[0] if lines else type(exc).__name__


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint dict (``weights_only=True``); ``CheckpointError`` names file and
    field."""
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    if not path.is_file():
        raise CheckpointError(f"{where} does not exist")
    check_file_size(path, "checkpoint")
    _check_zip(path, where)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{where} is truncated or corrupted (not a torch zip archive)") from None
        raise CheckpointError(f"{where} is refused by the safe loader (weights_only=True): "
                              f"{_why(exc)}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, IndexError, TypeError,
            AttributeError, OverflowError, MemoryError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{where} is truncated or corrupted: {_why(exc)}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where} is not an snndeploy checkpoint: it holds a {type(obj).__name__}, "
                              "not a dict")
    if obj.get("format") != FORMAT:
        raise CheckpointError(
            f"{where} is not an snndeploy checkpoint: field 'format' is {obj.get('format')!r}, expected "
            f"{FORMAT!r}"
        )
    version = obj.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise CheckpointError(f"{where}: field 'version' is {version!r}; this snndeploy reads versions "
                              f"1..{VERSION}")
    for key, kind in (("epoch", int), ("model_config", dict), ("model_state", dict)):
        if not isinstance(obj.get(key), kind) or isinstance(obj.get(key), bool):
            raise CheckpointError(f"{where}: field {key!r} must be a {kind.__name__}, got "
                                  f"{type(obj.get(key)).__name__}")
    bad = [k for k, v in obj["model_state"].items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{where}: field 'model_state' has non-tensor entries {bad[:3]}")
    _check_tensors(obj, where)
    for k, v in obj["model_state"].items():  # sizes were checked above: isfinite allocates at most the limit
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{where}: field 'model_state.{k}' has non-finite values (NaN/inf)")
    return obj


def _check_zip(path: Path, where: str) -> None:
    """The zip layer before unpickling: every member's CRC-32 (bit flips in tensor data are caught here, not
    used), no absurd member count, declared uncompressed sizes within ``max_file_bytes``."""
    limit = get_limits().max_file_bytes
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > 1_000_000:
                raise CheckpointError(f"{where}: the archive has {len(infos)} members")
            big = sum(i.file_size for i in infos)
            if big > limit:
                raise CheckpointError(f"{where}: the archive declares {big} bytes uncompressed, above "
                                      "max_file_bytes")
            bad = zf.testzip()
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise CheckpointError(f"{where} is truncated or corrupted (not a torch zip archive): {exc}") from None
    if bad is not None:
        raise CheckpointError(f"{where} is corrupted: member {bad!r} fails its CRC-32 check")


def _check_tensors(obj: Any, where: str) -> None:
    """Every tensor in ``obj`` (nested dicts/lists, depth <= 16) within ``max_tensor_elements``, all of them
    within ``max_graph_elements``: a view declaring a gigantic shape over a small storage (stride 0) is
    refused before any operation materialises it."""
    limits = get_limits()
    total = 0
    stack: list[tuple[Any, str, int]] = [(obj, "", 0)]
    while stack:
        node, name, depth = stack.pop()
        if depth > 16:
            raise CheckpointError(f"{where}: field {name!r} nests deeper than 16 levels")
        if isinstance(node, Tensor):
            n = node.numel()
            check_elements(n, f"{where}: field {name!r}")
            total += n
            if total > limits.max_graph_elements:
                check_elements(total, f"{where}: all tensors", "max_graph_elements")
        elif isinstance(node, dict):
            stack += [(v, f"{name}.{k}" if name else str(k), depth + 1) for k, v in node.items()]
        elif isinstance(node, (list, tuple)):
            stack += [(v, f"{name}[{i}]", depth + 1) for i, v in enumerate(node)]


def model_config_of(obj: dict[str, Any], path: str | Path) -> Any:
    """The ``ModelConfig`` of a read checkpoint; errors name the file and field."""
    from .models import ModelConfig

    try:
        return ModelConfig.from_dict(obj["model_config"])
    except SnnDeployError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: field 'model_config': {exc}") from None


def check_model_size(config: Any, path: str | Path) -> None:
    """Refuse a ``model_config`` whose model would exceed ``max_tensor_elements`` parameters, measured by
    building it on the ``meta`` device (no memory allocated) before building it for real."""
    from .models import build_model

    try:
        with torch.device("meta"):
            meta_model = build_model(config, backend="torch")
    except SnnDeployError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: field 'model_config': {exc}") from None
    n = sum(p.numel() for p in meta_model.parameters()) + sum(b.numel() for b in meta_model.buffers())
    check_elements(n, f"checkpoint {str(path)!r}: field 'model_config' (model parameters)")


def load_model_state(model: nn.Module, state: dict[str, Tensor], path: str | Path) -> None:
    """``model.load_state_dict(state)`` with mismatches reported as ``CheckpointError`` on field
    'model_state'."""
    result = unwrap_model(model).load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"checkpoint {str(path)!r}: field 'model_state' does not match 'model_config' "
            f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})"
        )


def load(
    path: str | Path, device: str | torch.device = "cpu", backend: str = "auto"
) -> tuple[nn.Module, Any]:
    """Rebuild a trained model from a checkpoint.

    Args:
        path: checkpoint file written by the trainer (``save_checkpoint``).
        device: where to put the model.
        backend: neuron engine (``auto``, ``torch``, ``eager``, ``numba``, ``triton``).

    Returns:
        ``(model, config)``: the model in eval mode (``[T, B, *input_shape]`` → logits ``[T, B, classes]``)
        and its ``ModelConfig``.
    """
    return model_from_checkpoint(read_checkpoint(path), path, device=device, backend=backend)


def model_from_checkpoint(
    obj: dict[str, Any], path: str | Path, device: str | torch.device = "cpu", backend: str = "auto"
) -> tuple[nn.Module, Any]:
    """``load`` for a checkpoint dict already returned by ``read_checkpoint`` (``path`` is for messages
    only)."""
    from .models import build_model

    config = model_config_of(obj, path)
    check_model_size(config, path)
    model = build_model(config, backend=backend)
    try:
        load_model_state(model, obj["model_state"], path)
    except RuntimeError as exc:  # shape mismatch
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"checkpoint {str(path)!r}: field 'model_state' does not fit 'model_config': "
            f"{first[1:2] or first[:1]}"
        ) from None
    return model.to(device).eval(), config
