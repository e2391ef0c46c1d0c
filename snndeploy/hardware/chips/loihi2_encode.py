"""How float model inputs become Loihi 2 input events (the first Dense's ``s_in``), and back.

Three conventions, chosen from the calibration input when ``mode`` is not given:

- ``binary``: the inputs are spikes (every value 0 or 1): binary events (``input_message_bits = 0``), x_int =
  x;
- ``integer``: the inputs are event counts (integers): graded events carrying the count, x_int = x
  (``input_message_bits`` = the bits the largest count needs, with sign, at most 24);
- ``fixed``: real values (e.g. pixel intensities fed every step, "direct encoding"): graded events in fixed
  point, x_int = round(x·2^q) (ties to even), saturated to the signed ``bits``-bit range, with q the largest
  integer such that max|x_calibration|·2^q ≤ 2^(bits−1) − 1; the first layer's weights absorb 2^−q (``scale``
  = 2^q).

``decode(x_int)`` is the float input that the same events stand for (x_int / scale, float32, in the model's
input shape): the float model runs on it when its agreement with the chip is measured. Time-major ``[T, B,
*]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...errors import InvalidInputError
from .base import ChipMappingError

__all__ = ["InputEncoding", "choose_encoding"]

_MODES = ("binary", "integer", "fixed")


@dataclass(frozen=True)
class InputEncoding:
    """One input convention (module docstring): ``mode``, ``scale`` (2^q or 1), graded ``message_bits`` (0:
    binary), the per-sample input shape, and the saturation range of graded values."""

    mode: str
    scale: float
    message_bits: int
    sample_shape: tuple[int, ...]

    @property
    def n_in(self) -> int:
        return int(math.prod(self.sample_shape))

    @property
    def limit(self) -> int:
        return (1 << (self.message_bits - 1)) - 1 if self.message_bits else 1

    def _flat(self, x: Any) -> np.ndarray:
        arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
        if arr.ndim < 2 or math.prod(arr.shape[2:]) != self.n_in:
            raise InvalidInputError(
                f"loihi2 input: expected [T, B, *{list(self.sample_shape)}], got shape {arr.shape}"
            )
        arr = arr.reshape(arr.shape[0], arr.shape[1], self.n_in).astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError("loihi2 input: non-finite values")
        return arr

    def encode(self, x: Any) -> np.ndarray:
        """Float input ``[T, B, *sample_shape]`` → integer events ``[T, B, N_in]`` (``np.int64``)."""
        arr = self._flat(x)
        if self.mode == "fixed":
            return np.clip(np.round(arr * self.scale), -self.limit, self.limit).astype(np.int64)
        if np.any(arr != np.round(arr)):
            idx = tuple(int(i) for i in np.argwhere(arr != np.round(arr))[0])
            raise InvalidInputError(
                f"loihi2 input{list(idx)} = {arr[idx]:g}: the mapping expects {self.mode} "
                "inputs (map with input_mode='fixed' for real-valued inputs)"
            )
        lo = 0 if self.mode == "binary" else -self.limit
        if arr.size and (arr.min() < lo or arr.max() > self.limit):
            idx = tuple(int(i) for i in np.argwhere((arr < lo) | (arr > self.limit))[0])
            raise InvalidInputError(
                f"loihi2 input{list(idx)} = {arr[idx]:g} is outside [{lo}, {self.limit}] "
                f"({self.mode} input, {self.message_bits} message bits)"
            )
        return arr.astype(np.int64)

    def decode(self, x_int: np.ndarray) -> Tensor:
        """Integer events ``[T, B, N_in]`` → the float input they stand for (``[T, B, *sample_shape]``)."""
        arr = np.asarray(x_int, dtype=np.float64) / self.scale
        return torch.from_numpy(
            arr.reshape(arr.shape[0], arr.shape[1], *self.sample_shape).astype(np.float32)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "scale": self.scale,
            "message_bits": self.message_bits,
            "sample_shape": list(self.sample_shape),
        }


def choose_encoding(
    x: Tensor | None, mode: str | None, bits: int, sample_shape: tuple[int, ...]
) -> InputEncoding:
    """The ``InputEncoding`` for calibration input ``x`` (module docstring); ``mode`` forces a convention."""
    if mode is not None and mode not in _MODES:
        raise ChipMappingError(f"input_mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if not isinstance(bits, int) or not 2 <= bits <= 24:
        raise ChipMappingError(f"input_bits = {bits!r} is outside [2, 24] (24-bit graded payload)")
    arr = None if x is None else x.detach().cpu().double().numpy()
    if arr is not None and not np.all(np.isfinite(arr)):
        raise ChipMappingError("calibration_x has non-finite values")
    integral = arr is not None and bool(np.all(arr == np.round(arr)))
    if mode is None:
        if arr is None or (integral and arr.min(initial=0) >= 0 and arr.max(initial=0) <= 1):
            mode = "binary"
        else:
            mode = "integer" if integral else "fixed"
    if mode == "binary":
        return InputEncoding("binary", 1.0, 0, tuple(sample_shape))
    peak = float(np.abs(arr).max()) if arr is not None and arr.size else 0.0
    if mode == "integer":
        need = max(2, math.ceil(math.log2(peak + 1.0)) + 1)
        if need > 24:
            raise ChipMappingError(f"input count {peak:g} needs {need} bits; limit 24 (graded payload)")
        return InputEncoding("integer", 1.0, need, tuple(sample_shape))
    top = (1 << (bits - 1)) - 1
    q = math.floor(math.log2(top / peak)) if peak > 0 else 0
    return InputEncoding("fixed", float(2.0**q), bits, tuple(sample_shape))
