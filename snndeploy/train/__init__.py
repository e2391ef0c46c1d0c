"""Training: the loop (``train``), losses, firing-rate monitor and torchrun/DDP helpers."""
from .distributed import DistInfo, init_distributed
from .losses import LOSSES, ce_mean_loss, get_loss, tet_loss
from .monitor import FiringRateMonitor
from .trainer import TrainConfig, TrainResult, evaluate, train

__all__ = [
    "TrainConfig", "TrainResult", "train", "evaluate", "LOSSES", "get_loss", "tet_loss", "ce_mean_loss",
    "FiringRateMonitor", "DistInfo", "init_distributed",
]
