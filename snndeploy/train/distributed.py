"""Multi-process training on an existing launcher: ``torchrun`` + ``DistributedDataParallel``.

``torchrun --nproc_per_node=N -m snndeploy.cli.app train ...`` (or ``snndeploy train`` under torchrun) sets
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT; ``init_distributed`` then joins the process group (NCCL on
GPU, Gloo on CPU) with a timeout, so a dead peer fails the job instead of hanging it. Rank 0 alone writes
checkpoints/metrics.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import InvalidParameterError

__all__ = [
    "DistInfo", "init_distributed", "shutdown_distributed", "all_reduce_sum", "all_reduce_max",
    "broadcast_buffers", "TIMEOUT_ENV",
]

TIMEOUT_ENV = "SNNDEPLOY_DIST_TIMEOUT_S"


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, its ``device``, and whether it created the
    group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False
    timeout_s: float = 0.0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _pick_device(device: str, local_rank: int) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InvalidParameterError("device 'cuda' asked for, but CUDA is not available")
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    if device == "cpu":
        return torch.device("cpu")
    return torch.device(device)


def init_distributed(device: str = "auto", timeout_s: float = 600.0) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else a single-process ``DistInfo``.

    Args:
        device: ``auto`` (CUDA when available), ``cuda``, ``cpu`` or a torch device string.
        timeout_s: process-group timeout for collectives (seconds); the environment variable
            ``SNNDEPLOY_DIST_TIMEOUT_S`` overrides it (e.g. to fail fast on a shared cluster).
    """
    if os.environ.get(TIMEOUT_ENV):
        try:
            timeout_s = float(os.environ[TIMEOUT_ENV])
        except ValueError:
            raise InvalidParameterError(f"{TIMEOUT_ENV} must be seconds, got "
                                        f"{os.environ[TIMEOUT_ENV]!r}") from None
    if not timeout_s > 0:
        raise InvalidParameterError(f"the distributed timeout must be > 0 seconds, got {timeout_s}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    dev = _pick_device(device, local_rank)
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        return DistInfo(device=dev)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
        owns = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns, timeout_s)


def shutdown_distributed(info: DistInfo) -> None:
    """Leave the process group if ``init_distributed`` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum ``values`` over all ranks (identity on one process)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def all_reduce_max(value: float, info: DistInfo) -> float:
    """Maximum of ``value`` over all ranks (identity on one process; one tiny collective per call)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank, so all ranks hold identical
    models."""
    if info.enabled:
        for b in module.buffers():
            dist.broadcast(b, src=0)
