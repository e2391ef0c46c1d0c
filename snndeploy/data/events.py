"""Event-camera datasets from a local directory, binned into T frames ``[T, 2, H, W]`` (sequence encoding).

N-MNIST (Orchard et al. 2015; 34×34 ATIS sensor). Layout: ``<dir>/Train/<digit>/*.bin`` and
``<dir>/Test/<digit>/*.bin`` (the extracted archives). Each ``.bin`` is a list of 40-bit events, 5 bytes each
(the dataset's README):

    byte 0: x (0..33)            byte 1: y (0..33)
    byte 2: bit 7 = polarity (1 = ON), bits 6..0 = timestamp bits 22..16
    bytes 3, 4: timestamp bits 15..8 and 7..0 (µs)

Frames: the recording's time span [t_first, t_last] is cut into T equal bins (tonic
``ToFrame(n_time_bins=T)``); each frame holds the event count per (polarity, y, x), channel 0 = OFF, 1 = ON.
Files are read lazily per sample.

DVS128 Gesture goes through the optional ``tonic`` package, only if it is installed (it is not a dependency).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import DatasetError
from ..limits import check_file_size
from .base import DataBundle, register_dataset, require_dir

__all__ = ["read_nmnist_events", "events_to_frames", "NMNISTFrames", "load_nmnist", "load_dvs128_gesture"]

NMNIST_SIZE = 34


def read_nmnist_events(path: Path) -> np.ndarray:
    """Decode one N-MNIST ``.bin`` file → structured array with fields ``x, y, p, t`` (t in µs)."""
    try:
        check_file_size(path, "N-MNIST file")
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise DatasetError(f"N-MNIST file {str(path)!r} cannot be read: {exc}") from None
    if raw.size == 0 or raw.size % 5:
        raise DatasetError(f"N-MNIST file {str(path)!r}: {raw.size} bytes is not a non-empty multiple of "
                           "5-byte events")
    r = raw.reshape(-1, 5).astype(np.uint32)
    ev = np.empty(len(r), dtype=[("x", np.int64), ("y", np.int64), ("p", np.int64), ("t", np.int64)])
    ev["x"], ev["y"] = r[:, 0], r[:, 1]
    ev["p"] = r[:, 2] >> 7
    ev["t"] = ((r[:, 2] & 0x7F) << 16) | (r[:, 3] << 8) | r[:, 4]
    if int(ev["x"].max()) >= NMNIST_SIZE or int(ev["y"].max()) >= NMNIST_SIZE:
        raise DatasetError(f"N-MNIST file {str(path)!r}: event coordinates exceed the "
                           f"{NMNIST_SIZE}×{NMNIST_SIZE} sensor")
    return ev


def events_to_frames(ev: np.ndarray, time_steps: int, height: int, width: int) -> Tensor:
    """Events (fields x, y, p, t) → event counts ``[T, 2, H, W]`` float32 over T equal time bins."""
    frames = torch.zeros(time_steps * 2 * height * width, dtype=torch.float32)
    if len(ev):
        t = ev["t"] - ev["t"].min()
        span = int(t.max()) + 1
        b = np.minimum(t * time_steps // span, time_steps - 1)
        flat = ((b * 2 + ev["p"]) * height + ev["y"]) * width + ev["x"]
        frames.index_add_(0, torch.from_numpy(flat), torch.ones(len(flat)))
    return frames.view(time_steps, 2, height, width)


class NMNISTFrames(Dataset):
    """Lazily decoded N-MNIST split: item ``i`` → (``[T, 2, 34, 34]`` counts, label)."""

    def __init__(self, files: list[tuple[Path, int]], time_steps: int):
        self.files, self.time_steps = files, time_steps

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        path, label = self.files[i]
        frames = events_to_frames(read_nmnist_events(path), self.time_steps, NMNIST_SIZE, NMNIST_SIZE)
        return frames, torch.tensor(label, dtype=torch.long)


def _split_dir(root: Path, split: str) -> Path:
    for name in (split, split.lower(), split.upper()):
        if (root / name).is_dir():
            return root / name
    raise DatasetError(f"N-MNIST directory {str(root)!r} lacks the {split!r} folder (expected "
                       f"{split}/<digit>/*.bin)")


def _nmnist_files(split_dir: Path) -> list[tuple[Path, int]]:
    files: list[tuple[Path, int]] = []
    for sub in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if not sub.name.isdigit() or not 0 <= int(sub.name) <= 9:
            raise DatasetError(f"N-MNIST directory {str(split_dir)!r}: folder {sub.name!r} is not a "
                               "digit 0-9")
        files += [(f, int(sub.name)) for f in sorted(sub.glob("*.bin"))]
    if not files:
        raise DatasetError(f"N-MNIST directory {str(split_dir)!r} holds no <digit>/*.bin files")
    return files


@register_dataset("nmnist")
def load_nmnist(data_dir: Path | None, time_steps: int | None = None) -> DataBundle:
    """N-MNIST from ``data_dir`` (``Train/`` and ``Test/``, or an ``NMNIST/`` folder holding them); T defaults
    to 8."""
    root = require_dir("nmnist", data_dir)
    if not any((root / s).is_dir() for s in ("Train", "train")) and (root / "NMNIST").is_dir():
        root = root / "NMNIST"
    T = time_steps or 8
    train = NMNISTFrames(_nmnist_files(_split_dir(root, "Train")), T)
    test = NMNISTFrames(_nmnist_files(_split_dir(root, "Test")), T)
    return DataBundle("nmnist", train, test, (2, NMNIST_SIZE, NMNIST_SIZE), 10, T, "sequence")


class _TonicFrames(Dataset):
    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        frames, label = self.base[i]
        return torch.as_tensor(np.asarray(frames), dtype=torch.float32), torch.tensor(int(label))


@register_dataset("dvs128_gesture")
def load_dvs128_gesture(data_dir: Path | None, time_steps: int | None = None) -> DataBundle:
    """DVS128 Gesture (11 classes, 128×128) through ``tonic.datasets.DVSGesture``; needs tonic and the
    extracted dataset in ``data_dir/DVSGesture`` (tonic's layout; nothing is downloaded). T defaults to 16."""
    root = require_dir("dvs128_gesture", data_dir)
    try:
        import tonic
    except ImportError:
        raise DatasetError(
            "dataset 'dvs128_gesture' is read through the optional package 'tonic', which is not installed "
            "(pip install tonic --no-deps)"
        ) from None
    if not (root / "DVSGesture").is_dir():
        raise DatasetError(f"DVS128 Gesture: directory {str(root)!r} lacks 'DVSGesture' (tonic's "
                           "extracted layout)")
    T = time_steps or 16
    size = tonic.datasets.DVSGesture.sensor_size
    to_frames = tonic.transforms.ToFrame(sensor_size=size, n_time_bins=T)
    train = tonic.datasets.DVSGesture(save_to=str(root), train=True, transform=to_frames)
    test = tonic.datasets.DVSGesture(save_to=str(root), train=False, transform=to_frames)
    return DataBundle(
        "dvs128_gesture", _TonicFrames(train), _TonicFrames(test), (2, size[1], size[0]), 11, T, "sequence"
    )
