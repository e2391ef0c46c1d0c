"""Integer helpers for bit-accurate chip models: two's-complement wrap, the three right shifts chips use, and
range checks that raise typed errors naming the layer, the field, the value and the limit.

Every function takes and returns ``np.int64`` arrays (inputs are converted), so intermediate products of
24-bit states and 12-bit factors cannot overflow; a model applies ``wrap_signed`` wherever the vendor code
computes in a narrower type (e.g. lava's ``np.int32`` arrays).

- ``wrap_signed(x, 32)``: what assigning to an ``np.int32`` array (or ``astype(np.int32)``) does;
- ``shift_right_floor``: ``np.right_shift`` on signed integers (arithmetic, rounds toward −∞);
- ``shift_right_trunc``: sign-magnitude ``sgn(x)·(|x| >> k)`` (rounds toward 0; lava's decays);
- ``shift``: left for k ≥ 0, arithmetic right for k < 0 (lava's weight exponent).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InvalidInputError, InvalidParameterError

__all__ = [
    "as_int_array",
    "wrap_signed",
    "saturate",
    "shift_right_floor",
    "shift_right_trunc",
    "shift",
    "check_int_range",
    "check_int_scalar",
    "check_input",
]


def wrap_signed(x: Any, bits: int) -> np.ndarray:
    """Two's-complement wrap of ``x`` to a signed ``bits``-bit integer (32: numpy's cast to ``int32``)."""
    x = np.asarray(x, dtype=np.int64)
    if bits >= 64:
        return x
    half = np.int64(1) << (bits - 1)
    return ((x + half) & ((half << 1) - 1)) - half


def saturate(x: Any, lo: int, hi: int) -> np.ndarray:
    """Clip ``x`` to ``[lo, hi]`` (saturating arithmetic)."""
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def shift_right_floor(x: Any, k: int | np.ndarray) -> np.ndarray:
    """Arithmetic right shift ``x >> k`` (rounds toward −∞), as ``np.right_shift`` on signed integers."""
    return np.right_shift(np.asarray(x, dtype=np.int64), np.asarray(k, dtype=np.int64))


def shift_right_trunc(x: Any, k: int | np.ndarray) -> np.ndarray:
    """Sign-magnitude right shift ``sgn(x)·(|x| >> k)`` (rounds toward 0)."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * np.right_shift(np.abs(x), np.asarray(k, dtype=np.int64))


def shift(x: Any, k: int) -> np.ndarray:
    """``x << k`` for ``k ≥ 0``, ``x >> −k`` (arithmetic, toward −∞) for ``k < 0``."""
    x = np.asarray(x, dtype=np.int64)
    return np.left_shift(x, k) if k >= 0 else np.right_shift(x, -k)


def as_int_array(value: Any, where: str, field: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a read-only ``np.int64`` array (a scalar broadcasts to ``shape``); a non-integer value, a
    float with a fractional part or a wrong shape raises ``InvalidParameterError`` naming ``where`` and
    ``field``."""
    arr = np.asarray(value)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise InvalidParameterError(f"{where}: {field} must be integers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            bad = arr[~np.isfinite(arr) | (arr != np.round(arr))].flat[0]
            raise InvalidParameterError(f"{where}: {field} must be integers, got {bad!r}")
        if arr.size and np.max(np.abs(arr)) >= 2.0**62:
            raise InvalidParameterError(
                f"{where}: {field} value {np.max(np.abs(arr)):g} is out of the int64 range"
            )
    arr = arr.astype(np.int64)
    if shape is not None:
        if arr.ndim == 0:
            arr = np.broadcast_to(arr, shape)
        elif arr.shape != shape:
            raise InvalidParameterError(f"{where}: {field} has shape {arr.shape}, expected {shape}")
    arr = np.array(arr, dtype=np.int64)
    arr.setflags(write=False)
    return arr


def check_int_range(arr: np.ndarray, where: str, field: str, lo: int, hi: int, what: str = "") -> None:
    """``InvalidParameterError`` naming the first element of ``arr`` outside ``[lo, hi]``, if any."""
    if arr.size == 0:
        return
    bad = (arr < lo) | (arr > hi)
    if bool(bad.any()):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        at = f"[{', '.join(map(str, idx))}]" if arr.ndim else ""
        raise InvalidParameterError(
            f"{where}: {field}{at} = {int(arr[idx] if arr.ndim else arr)} is outside [{lo}, {hi}]"
            + (f" ({what})" if what else "")
        )


def check_int_scalar(value: Any, where: str, field: str, lo: int, hi: int, what: str = "") -> int:
    """``value`` as an int in ``[lo, hi]``, else ``InvalidParameterError`` naming ``where``/``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise InvalidParameterError(f"{where}: {field} must be an integer, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise InvalidParameterError(
            f"{where}: {field} = {value} is outside [{lo}, {hi}]" + (f" ({what})" if what else "")
        )
    return value


def check_input(x: Any, n_in: int, where: str, lo: int, hi: int, what: str) -> np.ndarray:
    """Validate an integer input ``[T, B, n_in]`` (values in ``[lo, hi]``); returns it as ``np.int64``."""
    arr = np.asarray(x)
    if arr.ndim != 3 or arr.shape[2] != n_in:
        raise InvalidInputError(f"{where}: input must be [T, B, {n_in}] integers, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.all() or np.any(arr != np.round(arr)):
            idx = tuple(int(i) for i in np.argwhere(~finite | (arr != np.round(arr)))[0])
            raise InvalidInputError(f"{where}: input{list(idx)} = {arr[idx]!r} is not an integer")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(f"{where}: input must be integers, got dtype {arr.dtype}")
    if arr.size and (np.max(arr) > hi or np.min(arr) < lo):
        idx = tuple(int(i) for i in np.argwhere((arr > hi) | (arr < lo))[0])
        raise InvalidInputError(f"{where}: input{list(idx)} = {arr[idx]} is outside [{lo}, {hi}] ({what})")
    return arr.astype(np.int64)
