"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``, validated field by field.

A checkpoint is a dict of tensors and primitive containers only (so the safe loader accepts it):

    format: "snndeploy-checkpoint"    version: 1          epoch: int (last finished epoch, 0-based)
    model_config: ModelConfig.to_dict()                   model_state: state_dict of the (unwrapped) model
    optimizer_state, scheduler_state, scaler_state: state_dicts or None
    train_config: dict of primitives or None (the trainer's: TrainConfig fields + dataset, time_steps, encoding,
                  data_dir)                               metrics: dict of primitives (last epoch) or None
    rng: {"torch": uint8 tensor, "cuda": [uint8 tensors], "numpy_keys"/"numpy_meta": tensors,
          "python": int64 tensor, "python_gauss": float64 tensor}

``snndeploy.load(path)`` rebuilds the model from ``model_config`` and loads ``model_state``. Any problem — missing,
truncated, corrupted, foreign file, unsafe pickle, bad field — raises ``CheckpointError`` naming the file and field.
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

__all__ = [
    "FORMAT", "VERSION", "save_checkpoint", "read_checkpoint", "load", "capture_rng", "restore_rng",
    "unwrap_model",
]

FORMAT = "snndeploy-checkpoint"
VERSION = 1


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare model inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper (or ``model`` itself)."""
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
    """Load and validate a checkpoint dict (``weights_only=True``); ``CheckpointError`` names file and field."""
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    if not path.is_file():
        raise CheckpointError(f"{where} does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{where} is truncated or corrupted (not a torch zip archive)") from None
        raise CheckpointError(f"{where} is refused by the safe loader (weights_only=True): {_why(exc)}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as exc:
        raise CheckpointError(f"{where} is truncated or corrupted: {_why(exc)}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where} is not an snndeploy checkpoint: it holds a {type(obj).__name__}, not a dict")
    if obj.get("format") != FORMAT:
        raise CheckpointError(
            f"{where} is not an snndeploy checkpoint: field 'format' is {obj.get('format')!r}, expected {FORMAT!r}"
        )
    version = obj.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise CheckpointError(f"{where}: field 'version' is {version!r}; this snndeploy reads versions 1..{VERSION}")
    for key, kind in (("epoch", int), ("model_config", dict), ("model_state", dict)):
        if not isinstance(obj.get(key), kind) or isinstance(obj.get(key), bool):
            raise CheckpointError(f"{where}: field {key!r} must be a {kind.__name__}, got {type(obj.get(key)).__name__}")
    bad = [k for k, v in obj["model_state"].items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{where}: field 'model_state' has non-tensor entries {bad[:3]}")
    return obj


def model_config_of(obj: dict[str, Any], path: str | Path) -> Any:
    """The ``ModelConfig`` of a read checkpoint; errors name the file and field."""
    from .models import ModelConfig

    try:
        return ModelConfig.from_dict(obj["model_config"])
    except SnnDeployError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: field 'model_config': {exc}") from None


def load_model_state(model: nn.Module, state: dict[str, Tensor], path: str | Path) -> None:
    """``model.load_state_dict(state)`` with mismatches reported as ``CheckpointError`` on field 'model_state'."""
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
        backend: neuron implementation (``auto``, ``bptt``, ``torch``, ``triton``).

    Returns:
        ``(model, config)``: the model in eval mode (``[T, B, *input_shape]`` → logits ``[T, B, classes]``) and its
        ``ModelConfig``.
    """
    from .models import build_model

    obj = read_checkpoint(path)
    config = model_config_of(obj, path)
    model = build_model(config, backend=backend)
    try:
        load_model_state(model, obj["model_state"], path)
    except RuntimeError as exc:  # shape mismatch
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"checkpoint {str(path)!r}: field 'model_state' does not fit 'model_config': {first[1:2] or first[:1]}"
        ) from None
    return model.to(device).eval(), config
