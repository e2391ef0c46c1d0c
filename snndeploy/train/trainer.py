"""The training loop: SGD/AdamW, cosine schedule, per-step (TET) or mean-logit CE loss, AMP on CUDA, per-epoch
JSON-lines metrics with per-layer firing rates, atomic checkpoints, exact resume, seeds, DDP.

Files written to ``out_dir`` (rank 0 only, each write atomic):
- ``checkpoint.pt``: model, optimizer, scheduler, scaler, epoch, RNG states, model and train configs;
- ``metrics.jsonl``: one JSON object per finished epoch
  (``epoch, lr, train_loss, train_acc, test_loss, test_acc, train_samples, firing_rate {layer: rate},
  mean_firing_rate, time_s``); train metrics are summed over ranks.

Exact resume: the shuffling order of epoch e depends only on (seed, e), and the global RNG state (dropout,
augmentation) is saved after every epoch, so ``--resume`` after epoch k gives the same weights as an
uninterrupted run (bit-identical on CPU with deterministic algorithms).

Interruption (``faults.py``): SIGINT/SIGTERM stop after the current optimizer step, save a checkpoint with a
``partial_epoch`` record (steps done, running sums) and raise ``TrainingInterrupted``; ``--resume`` continues
at the next batch, bit-identical on CPU. Under DDP the stop is agreed by an all-reduce after each step, and a
peer that dies or hangs past the process-group timeout raises ``DistributedError`` (see docs/reliability.md).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ..checkpoint import (
    capture_rng,
    load_model_state,
    model_config_of,
    read_checkpoint,
    restore_rng,
    save_checkpoint,
)
from ..data.base import DataBundle
from ..errors import (
    CheckpointError,
    DistributedError,
    InvalidParameterError,
    TrainingInterrupted,
    UnknownNameError,
)
from ..io import atomic_write
from ..models import ModelConfig, build_model
from .distributed import (
    DistInfo,
    all_reduce_max,
    all_reduce_sum,
    broadcast_buffers,
    init_distributed,
    shutdown_distributed,
)
from .faults import StopOnSignal, fault_hook
from .losses import get_loss
from .monitor import FiringRateMonitor

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate", "CHECKPOINT_NAME", "METRICS_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (all primitives; stored in the checkpoint).

    Defaults: AdamW, lr 1e-3, cosine schedule to 0 over ``epochs``, the TET loss with λ = 0.05. The CLIF
    repo's CIFAR recipe is ``optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4`` (5e-5 for CIFAR-10).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adamw"
    momentum: float = 0.9
    weight_decay: float = 0.0
    loss: str = "tet"
    loss_lambda: float = 0.05
    seed: int = 0
    amp: bool = True
    device: str = "auto"
    backend: str = "auto"
    num_workers: int = 0
    deterministic: bool = True
    progress: bool = False
    dist_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{name} must be an int >= 1, got {v!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise InvalidParameterError(f"lr must be > 0, got {self.lr!r}")
        if self.optimizer.lower() not in OPTIMIZERS:
            raise UnknownNameError(f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        object.__setattr__(self, "optimizer", self.optimizer.lower())
        get_loss(self.loss)
        if not 0.0 <= self.loss_lambda <= 1.0:
            raise InvalidParameterError(f"loss_lambda must lie in [0, 1], got {self.loss_lambda}")
        if self.weight_decay < 0:
            raise InvalidParameterError(f"weight_decay must be >= 0, got {self.weight_decay}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TrainResult:
    """What ``train`` returns: the trained (unwrapped) model, its config, the per-epoch records, the files."""

    model: nn.Module
    config: ModelConfig
    history: list[dict[str, Any]]
    checkpoint: Path | None
    metrics: Path | None


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: DataBundle,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    loss: str = "tet",
    loss_lambda: float = 0.05,
    split: str = "test",
) -> dict[str, Any]:
    """Accuracy (argmax of the mean logits over T), loss and per-layer firing rates on one split.

    Returns:
        ``{"loss", "acc", "firing_rate": {layer: rate}, "mean_firing_rate", "n"}``.
    """
    loss_fn = get_loss(loss)
    was_training = model.training
    model.eval()
    ds = data.test if split == "test" else data.train
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False)
    total_loss, correct, n = 0.0, 0, 0
    with FiringRateMonitor(model) as mon:
        for x, y in loader:
            xs, y = data.to_time_major(x).to(device), y.to(device)
            logits = model(xs).float()
            total_loss += float(loss_fn(logits, y, loss_lambda)) * len(y)
            correct += int((logits.mean(0).argmax(-1) == y).sum())
            n += len(y)
    model.train(was_training)
    return {
        "loss": total_loss / max(n, 1), "acc": correct / max(n, 1), "firing_rate": mon.rates(),
        "mean_firing_rate": mon.mean_rate(), "n": n,
    }


def _read_history(path: Path, before_epoch: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            if rec.get("epoch", before_epoch) < before_epoch:
                out.append(rec)
    return out


def _resume_state(resume: bool | str | Path, out_dir: Path,
                  config: ModelConfig) -> tuple[dict[str, Any], Path]:
    path = Path(resume) if isinstance(resume, (str, Path)) else out_dir / CHECKPOINT_NAME
    obj = read_checkpoint(path)
    saved = model_config_of(obj, path)
    if saved != config:
        diff = sorted(k for k, v in saved.to_dict().items() if config.to_dict().get(k) != v)
        raise CheckpointError(f"checkpoint {str(path)!r}: field 'model_config' differs from this run "
                              f"in {diff}")
    for key in ("optimizer_state", "scheduler_state", "rng"):
        if not isinstance(obj.get(key), dict):
            raise CheckpointError(f"checkpoint {str(path)!r}: field {key!r} is missing; it cannot be resumed")
    partial = obj.get("partial_epoch")
    if partial is not None:
        ok = (
            isinstance(partial, dict) and isinstance(partial.get("epoch"), int)
            and isinstance(partial.get("step"), int)
            and partial["epoch"] == obj["epoch"] + 1 and partial["step"] >= 0
            and isinstance(partial.get("sums"), torch.Tensor) and tuple(partial["sums"].shape) == (3,)
            and bool(torch.isfinite(partial["sums"]).all())
        )
        if not ok:
            raise CheckpointError(f"checkpoint {str(path)!r}: field 'partial_epoch' is malformed (needs "
                                  "epoch = 'epoch' + 1, step >= 0 and finite sums [3])")
    return obj, path


def train(
    config: ModelConfig,
    data: DataBundle,
    cfg: TrainConfig,
    out_dir: str | Path | None = None,
    resume: bool | str | Path = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``build_model(config)`` on ``data``.

    Args:
        config: the model (its ``input_shape``/``num_classes`` must match ``data``).
        data: a ``DataBundle`` (``snndeploy.data.load_dataset``); batches become ``[T, B, *]``.
        cfg: hyper-parameters.
        out_dir: where ``checkpoint.pt`` and ``metrics.jsonl`` go (``None``: write nothing).
        resume: ``True`` to continue from ``out_dir/checkpoint.pt``, or a checkpoint path.
        on_epoch: called with each epoch's record on rank 0 (the CLI prints it).

    Under ``torchrun`` (WORLD_SIZE > 1) it trains with DDP and a ``DistributedSampler``; rank 0 writes the
    files.
    """
    if tuple(config.input_shape) != tuple(data.input_shape) or config.num_classes != data.num_classes:
        raise InvalidParameterError(
            f"model config (input_shape {config.input_shape}, {config.num_classes} classes) does not match "
            f"dataset {data.name!r} (input_shape {data.input_shape}, {data.num_classes} classes)"
        )
    try:
        info = init_distributed(cfg.device, cfg.dist_timeout_s)
    except RuntimeError as exc:  # rendezvous timed out (DistStoreError) or the store/peers are unreachable
        if isinstance(exc, DistributedError) or not _is_dist_failure(exc):
            raise
        raise DistributedError(f"could not join the process group: {_first_line(exc)}") from None
    prev_det = torch.are_deterministic_algorithms_enabled()
    broken = False
    try:
        if cfg.deterministic and info.device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        return _train(config, data, cfg, Path(out_dir) if out_dir is not None else None, resume, on_epoch,
                      info)
    except RuntimeError as exc:
        # a dead peer (Gloo: connection closed / reset) or a collective that timed out:
        # fail with a clear error
        if not info.enabled or isinstance(exc, DistributedError) or not _is_dist_failure(exc):
            raise
        broken = True
        raise DistributedError(
            f"rank {info.rank}/{info.world_size}: a peer process died or a collective timed out "
            f"(timeout {info.timeout_s or cfg.dist_timeout_s:g}s): {_first_line(exc)}; resume from the last "
            "checkpoint with --resume"
        ) from None
    finally:
        torch.use_deterministic_algorithms(prev_det)
        if not broken:  # tearing down a group with a timed-out operation can abort the process: just exit
            shutdown_distributed(info)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


@dataclass
class _Run:
    """Everything one training run updates: the model (and its DDP wrapper), optimiser, schedule, AMP
    scaler."""

    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    use_amp: bool
    loss_fn: Callable[..., torch.Tensor]
    ckpt_path: Path | None
    metrics_path: Path | None

    def save(self, config: ModelConfig, epoch: int, train_config: dict[str, Any],
             metrics: dict[str, Any]) -> None:
        save_checkpoint(
            self.ckpt_path, model=self.model, config=config, epoch=epoch, optimizer=self.optimizer,
            scheduler=self.scheduler, scaler=self.scaler if self.use_amp else None, train_config=train_config,
            metrics=metrics, rng=capture_rng(),
        )


@dataclass
class _Start:
    """Where a (possibly resumed) run starts: epoch, history so far, batches to skip, running (loss, correct,
    n)."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    skip: int = 0
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])


def _setup(config: ModelConfig, cfg: TrainConfig, out_dir: Path | None, info: DistInfo) -> _Run:
    dev = info.device
    _seed_everything(cfg.seed)
    model = build_model(config, backend=cfg.backend).to(dev)
    optimizer = _make_optimizer(model, cfg)
    use_amp = cfg.amp and dev.type == "cuda"
    return _Run(
        model=model, net=model, optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs),
        scaler=torch.amp.GradScaler("cuda", enabled=use_amp), use_amp=use_amp, loss_fn=get_loss(cfg.loss),
        ckpt_path=out_dir / CHECKPOINT_NAME if out_dir is not None else None,
        metrics_path=out_dir / METRICS_NAME if out_dir is not None else None,
    )


def _restore(run: _Run, resume: bool | str | Path, out_dir: Path | None, config: ModelConfig,
             data: DataBundle, cfg: TrainConfig, info: DistInfo) -> _Start:
    """Load a checkpoint's model, optimiser, schedule, scaler and RNG state into ``run``; where to
    continue."""
    if out_dir is None and not isinstance(resume, (str, Path)):
        raise InvalidParameterError("resume=True needs out_dir (or pass a checkpoint path)")
    obj, path = _resume_state(resume, out_dir or Path("."), config)
    load_model_state(run.model, obj["model_state"], path)
    try:
        run.optimizer.load_state_dict(obj["optimizer_state"])
        run.scheduler.load_state_dict(obj["scheduler_state"])
        run.scheduler.T_max = cfg.epochs  # resuming with more --epochs stretches the cosine to the new end
        if obj.get("scaler_state"):
            run.scaler.load_state_dict(obj["scaler_state"])
        restore_rng(obj["rng"])
    except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: optimizer/scheduler/rng state does not "
                              f"fit: {exc}") from None
    start = _Start(epoch=obj["epoch"] + 1)
    if obj.get("partial_epoch") is not None:  # stopped by a signal mid-epoch: continue at the next batch
        start.skip, start.sums = obj["partial_epoch"]["step"], obj["partial_epoch"]["sums"].tolist()
        per_rank = -(-len(data.train) // info.world_size)  # DistributedSampler pads to ceil(N / world)
        steps = -(-per_rank // cfg.batch_size)
        if start.skip > steps:
            raise CheckpointError(f"checkpoint {str(path)!r}: field 'partial_epoch.step' is {start.skip}, "
                                  f"but an epoch has {steps} steps with this dataset and batch size")
    if out_dir is not None:
        start.history = _read_history(out_dir / METRICS_NAME, start.epoch)
    return start


def _epoch_order(data: DataBundle, cfg: TrainConfig, sampler: DistributedSampler | None,
                 epoch: int) -> list[int]:
    """The epoch's sample order: it depends only on (seed, epoch), so a resumed epoch can skip the batches
    already done without loading them (loading would replay augmentation and move the global RNG)."""
    if sampler is not None:
        sampler.set_epoch(epoch)
        return list(sampler)
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    return torch.randperm(len(data.train), generator=gen).tolist()


def _train(
    config: ModelConfig,
    data: DataBundle,
    cfg: TrainConfig,
    out_dir: Path | None,
    resume: bool | str | Path,
    on_epoch: Callable[[dict[str, Any]], None] | None,
    info: DistInfo,
) -> TrainResult:
    run = _setup(config, cfg, out_dir, info)
    start = _restore(run, resume, out_dir, config, data, cfg, info) if resume else _Start()
    if info.enabled:
        dev = info.device
        run.net = nn.parallel.DistributedDataParallel(run.model,
                                                      device_ids=[dev.index] if dev.type == "cuda" else None)
    sampler = DistributedSampler(data.train, info.world_size, info.rank, shuffle=True, seed=cfg.seed) \
        if info.enabled else None
    gen = torch.Generator()
    history = start.history
    steps = _StepCounter(fault_hook())
    with StopOnSignal() as stop:
        for epoch in range(start.epoch, cfg.epochs):
            t0 = time.perf_counter()
            order = _epoch_order(data, cfg, sampler, epoch)
            first = start.skip if epoch == start.epoch else 0
            gen.manual_seed(cfg.seed * 1_000_003 + epoch)  # worker seeds; keeps the global RNG untouched
            loader = DataLoader(data.train, cfg.batch_size, sampler=order[first * cfg.batch_size:],
                                num_workers=cfg.num_workers, generator=gen)
            sums = start.sums if epoch == start.epoch else [0.0, 0.0, 0.0]
            sums = _train_epoch(run, loader, data, cfg, config, info, epoch, first, sums, stop, steps)
            record = _end_epoch(run, data, cfg, config, info, epoch, sums, t0)
            history.append(record)
            if info.is_main and out_dir is not None:
                with atomic_write(run.metrics_path) as fh:
                    fh.writelines(json.dumps(r) + "\n" for r in history)
                run.save(config, epoch, _stored_config(cfg, data), _flat(record))
            if info.enabled:
                torch.distributed.barrier()
            if on_epoch is not None and info.is_main:
                on_epoch(record)
    return TrainResult(run.model, config, history, run.ckpt_path, run.metrics_path)


class _StepCounter:
    """Counts the optimiser steps of this process and calls the fault-injection hook (tests) after each."""

    def __init__(self, inject: Callable[[int], None] | None) -> None:
        self.n, self.inject = 0, inject

    def tick(self) -> None:
        self.n += 1
        if self.inject is not None:
            self.inject(self.n)


def _train_epoch(run: _Run, loader: DataLoader, data: DataBundle, cfg: TrainConfig, config: ModelConfig,
                 info: DistInfo, epoch: int, first: int, sums: list[float], stop: StopOnSignal,
                 steps: _StepCounter) -> list[float]:
    """One epoch of optimiser steps from batch ``first``; returns the running (loss sum, correct, n). On a
    stop signal (on any rank) it saves a mid-epoch checkpoint and raises ``TrainingInterrupted``."""
    dev = info.device
    run.net.train()
    loss_sum, correct, n = sums
    batches: Any = loader
    if cfg.progress and info.is_main:
        from tqdm.auto import tqdm

        batches = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False)
    for step, (x, y) in enumerate(batches, start=first + 1):
        xs, y = data.to_time_major(x).to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=run.use_amp):
            logits = run.net(xs)
        loss = run.loss_fn(logits.float(), y, cfg.loss_lambda)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        loss_sum += float(loss.detach()) * len(y)
        correct += float((logits.detach().float().mean(0).argmax(-1) == y).sum())
        n += len(y)
        steps.tick()
        # every rank stops at the same step when any rank got the signal
        if all_reduce_max(float(stop.signum is not None), info) > 0:
            _save_partial(run.ckpt_path, info, run.model, config, epoch, step, run.optimizer, run.scheduler,
                          run.scaler if run.use_amp else None, _stored_config(cfg, data),
                          [loss_sum, correct, n])
            where = f"; checkpoint {run.ckpt_path} (rerun with --resume)" if run.ckpt_path is not None else ""
            raise TrainingInterrupted(
                f"training stopped by {stop.name or 'a signal on another rank'} at epoch {epoch + 1} step "
                f"{step}{where}"
            )
    return [loss_sum, correct, n]


def _end_epoch(run: _Run, data: DataBundle, cfg: TrainConfig, config: ModelConfig, info: DistInfo, epoch: int,
               sums: list[float], t0: float) -> dict[str, Any]:
    """Step the schedule, sync buffers and sums over ranks, evaluate on the whole test set: the epoch's
    record."""
    run.scheduler.step()
    broadcast_buffers(run.model, info)
    loss_sum, correct, n = all_reduce_sum(sums, info)
    # every rank evaluates the whole test set on its (identical) model: no padding bias, ranks stay in step
    ev = evaluate(run.model, data, max(cfg.batch_size, 256), info.device, cfg.loss, cfg.loss_lambda)
    return {
        "epoch": epoch, "lr": run.optimizer.param_groups[0]["lr"], "train_loss": loss_sum / max(n, 1),
        "train_acc": correct / max(n, 1), "train_samples": int(n), "test_loss": ev["loss"],
        "test_acc": ev["acc"], "firing_rate": ev["firing_rate"], "mean_firing_rate": ev["mean_firing_rate"],
        "time_s": time.perf_counter() - t0,
    }


def _save_partial(
    path: Path | None, info: DistInfo, model: nn.Module, config: ModelConfig, epoch: int, step: int,
    optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any, train_config: dict[str, Any],
    sums: list[float],
) -> None:
    """Mid-epoch checkpoint on a stop signal: the last finished epoch is ``epoch - 1``; ``partial_epoch``
    records the steps done in ``epoch`` and the running (loss, correct, n) sums, so ``--resume`` continues at
    step + 1."""
    if not info.is_main or path is None:
        return
    save_checkpoint(
        path, model=model, config=config, epoch=epoch - 1, optimizer=optimizer, scheduler=scheduler,
        scaler=scaler, train_config=train_config, metrics=None, rng=capture_rng(),
        extra={"partial_epoch": {"epoch": epoch, "step": step,
                                 "sums": torch.tensor(sums, dtype=torch.float64)}},
    )


def _is_dist_failure(exc: RuntimeError) -> bool:
    """Whether ``exc`` comes from the process group (torch's DistError family, or Gloo/NCCL messages)."""
    if isinstance(exc, torch.distributed.DistError):
        return True
    text = str(exc).lower()
    return any(k in text for k in ("gloo", "nccl", "connection closed", "connection reset", "timed out",
                                   "timeout", "broken pipe", "peer", "store", "rendezvous"))


def _stored_config(cfg: TrainConfig, data: DataBundle) -> dict[str, Any]:
    """The checkpoint's ``train_config``: hyper-parameters plus which data it was trained on (``dataset``,
    ``time_steps``, ``encoding``, ``data_dir``), so fold/verify/energy can rebuild the inputs."""
    return {
        **cfg.to_dict(), "dataset": data.name, "time_steps": data.time_steps, "encoding": data.encoding,
        "data_dir": data.data_dir,
    }


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """The record without nested dicts (checkpoint metrics), firing rates as ``firing_rate/<layer>``."""
    out = {k: v for k, v in record.items() if not isinstance(v, dict)}
    out.update({f"firing_rate/{k}": v for k, v in record["firing_rate"].items()})
    return out
