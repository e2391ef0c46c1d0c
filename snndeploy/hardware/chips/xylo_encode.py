"""How a float model's inputs become Xylo input events (at most 15 per channel and step, never negative).

Modes (``InputCoding.mode``), for a model whose first Linear takes ``n`` features per step:

- ``"events"``: the inputs already are event counts (integers 0..15, e.g. spikes): ``n`` channels, unchanged.
- ``"graded"``: x ≥ 0 becomes ``clip(rint(x/Δ), 0, 15)`` on ``n`` channels, Δ = max(calibration x)/15; the
  float model sees ``counts·Δ``; negative values are lost (a warning).
- ``"signed"``: two channels per feature, ``2i`` for the positive part and ``2i + 1`` for the negative part,
  each ``clip(rint(|x|/Δ), 0, 15)`` with Δ = max|calibration x|/15; the float model sees ``(c⁺ − c⁻)·Δ`` and
  ``W_in`` gets the rows ``+W·Δ`` and ``−W·Δ`` (exact, since the first layer is linear). Needs ``2n ≤ 16``.
- ``"auto"``: events when the calibration data are integers in 0..15, else signed when they go below 0 and
  ``2n`` channels fit, else graded.

``encode`` appends ``delay`` zero steps (the readout's lag, ``xylo_map``); ``decode`` removes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...errors import InvalidInputError
from .base import ChipMappingError, MappingNote
from .xylo import MAX_INPUT_EVENTS

__all__ = ["InputCoding", "choose_coding"]

MODES = ("auto", "events", "graded", "signed")


@dataclass(frozen=True)
class InputCoding:
    """``mode``, Δ (``scale``, float value of one event), ``shape`` (features per step), ``delay`` (padding
    steps)."""

    mode: str
    scale: float
    shape: tuple[int, ...]
    delay: int = 0

    @property
    def features(self) -> int:
        return math.prod(self.shape)

    @property
    def channels(self) -> int:
        return 2 * self.features if self.mode == "signed" else self.features

    def input_rows(self, w_t: np.ndarray) -> np.ndarray:
        """Rows of ``W_in`` (per channel) for float rows ``w_t`` ``[features, N]`` (already gained)."""
        w = w_t * self.scale
        if self.mode != "signed":
            return w
        out = np.zeros((2 * w.shape[0], w.shape[1]))
        out[0::2], out[1::2] = w, -w
        return out

    def encode(self, x: Any) -> np.ndarray:
        """Float input ``[T, B, *shape]`` → events ``[T + delay, B, channels]`` (int64)."""
        arr = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)
        if arr.ndim < 3 or math.prod(arr.shape[2:]) != self.features or not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"xylo encode: expected finite [T, B, *] with {self.features} features, "
                                    f"got {arr.shape}")
        arr = arr.reshape(arr.shape[0], arr.shape[1], self.features)
        if self.mode == "events":
            if arr.size and (np.any(arr != np.rint(arr)) or arr.min() < 0 or arr.max() > MAX_INPUT_EVENTS):
                raise InvalidInputError(f"xylo encode: input_mode 'events' takes integer counts in [0, "
                                        f"{MAX_INPUT_EVENTS}], got values in [{arr.min():g}, {arr.max():g}]")
            counts = arr
        elif self.mode == "signed":
            counts = np.zeros((*arr.shape[:2], 2 * self.features))
            counts[..., 0::2] = np.clip(np.rint(np.maximum(arr, 0) / self.scale), 0, MAX_INPUT_EVENTS)
            counts[..., 1::2] = np.clip(np.rint(np.maximum(-arr, 0) / self.scale), 0, MAX_INPUT_EVENTS)
        else:
            counts = np.clip(np.rint(arr / self.scale), 0, MAX_INPUT_EVENTS)
        pad = np.zeros((self.delay, *counts.shape[1:]))
        return np.concatenate([counts, pad]).astype(np.int64)

    def decode(self, counts: np.ndarray) -> torch.Tensor:
        """Events ``[T + delay, B, channels]`` → the float model's input ``[T, B, *shape]`` (float32)."""
        c = np.asarray(counts, dtype=np.float64)
        c = c[: c.shape[0] - self.delay] if self.delay else c
        if self.mode == "signed":
            c = c[..., 0::2] - c[..., 1::2]
        return torch.from_numpy(c * self.scale).float().reshape(c.shape[0], c.shape[1], *self.shape)


def choose_coding(x: np.ndarray | None, mode: str, features: int, max_channels: int, delay: int,
                  notes: list[MappingNote]) -> InputCoding:
    """The coding for calibration data ``x`` ``[T, B, *]`` (module docstring)."""
    if mode not in MODES:
        raise ChipMappingError(f"map_model: input_mode {mode!r}; known: {', '.join(MODES)}")
    shape = tuple(x.shape[2:]) if x is not None else (features,)
    if math.prod(shape) != features:
        raise ChipMappingError(f"model: calibration_x has {math.prod(shape)} features per step, the first "
                               f"Linear takes {features}")
    has = x is not None and x.size > 0
    integral = has and bool(np.all(x == np.rint(x)) and x.min() >= 0 and x.max() <= MAX_INPUT_EVENTS)
    if mode == "auto":
        if not has or integral:
            mode = "events"
        else:
            mode = "signed" if float(x.min()) < 0 and 2 * features <= max_channels else "graded"
    if mode == "events":
        return InputCoding(mode, 1.0, shape, delay)
    peak = (float(np.abs(x).max()) if mode == "signed" else float(x.max())) if has else 0.0
    if peak <= 0:
        raise ChipMappingError(f"map_model: input_mode {mode!r} needs calibration data with a positive "
                               f"{'magnitude' if mode == 'signed' else 'maximum'}")
    if mode == "signed" and 2 * features > max_channels:
        raise ChipMappingError(f"model: input_mode 'signed' needs 2 x {features} = {2 * features} input "
                               f"channels > {max_channels}")
    if mode == "graded" and float(x.min()) < 0:
        notes.append(MappingNote("input", "x",
                                 f"inputs go down to {float(x.min()):.4g}; Xylo inputs are event "
                                 "counts >= 0, so negative values are lost (clipped to 0); input_mode "
                                 "'signed' keeps them on two channels per feature"))
    return InputCoding(mode, peak / MAX_INPUT_EVENTS, shape, delay)
