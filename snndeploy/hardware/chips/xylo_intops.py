"""Integer arithmetic of fixed-width chip registers, batched in numpy int64 (usable by any chip model).

- ``wrap(x, bits)``: two's-complement wrap-around, what a C cast to ``int{bits}_t`` does
  (``(int16_t) 40000``).
- ``saturate(x, bits)``: clamp to ``[−2^(bits−1), 2^(bits−1) − 1]``.
- ``shift_decay(x, dash)``: the bit-shift decay step ``x >> dash`` (arithmetic, rounds toward −∞), or ±1 when
  that is 0 and ``x ≠ 0`` (xylosim ``src/v2/cpp/XyloIAFNeuron.cpp`` ``decay``).
- ``saturating_accumulate(x0, counts, weights, lo, hi)``: add ``counts[:, 0]·weights[0]``,
  ``counts[:, 1]·weights[1]``, … one after the other, saturating after every addition (``safe_add`` in the
  same file, called once per delivered event). Saturating additions do not commute (32000 + 1000 − 1000 gives
  31767, not 32000), so the order is part of the arithmetic. Where no partial sum can leave ``[lo, hi]`` (the
  sum of the positive terms and the sum of the negative terms both stay inside) the result is the plain sum;
  the remaining entries are reduced exactly by composing clamp functions: ``f(x) = min(max(x + a, l), h)`` is
  closed under composition, ``f2∘f1 = (a1 + a2, clamp(l1 + a2, l2, h2), clamp(h1 + a2, l2, h2))``, which a
  log₂-depth tree evaluates (for many such entries at once a plain loop over the sources, vectorised over the
  entries, is cheaper; both are exact).
"""

from __future__ import annotations

import numpy as np

__all__ = ["int_range", "wrap", "saturate", "shift_decay", "saturating_accumulate"]

#: Entries per chunk of the exact (clamp-composition) path: bounds its memory to a few tens of MB.
_CHUNK = 1 << 20
#: From this many saturating rows on, the exact path loops over the sources instead of composing clamps.
_SEQUENTIAL_ROWS = 256


def int_range(bits: int) -> tuple[int, int]:
    """``(min, max)`` of a signed ``bits``-bit integer."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 ``x`` to ``bits`` bits (a C cast to a narrower signed type)."""
    half = 1 << (bits - 1)
    return ((np.asarray(x, dtype=np.int64) + half) & ((1 << bits) - 1)) - half


def saturate(x: np.ndarray, bits: int) -> np.ndarray:
    """Clamp int64 ``x`` to the signed ``bits``-bit range."""
    lo, hi = int_range(bits)
    return np.clip(x, lo, hi)


def shift_decay(x: np.ndarray, dash: np.ndarray) -> np.ndarray:
    """``x >> dash``, replaced by ``sign(x)`` where it is 0 (the decrement of a bit-shift decay step)."""
    d = np.right_shift(x, dash)
    return np.where(d == 0, np.sign(x), d)


def _compose_tree(a: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compose ``clamp(· + a[:, k], lo, hi)`` for k = 0, 1, … (applied in that order) into one (a, l, h) per
    row."""
    n, k = a.shape
    width = 1 << max(0, (k - 1).bit_length())
    aa = np.zeros((n, width), dtype=np.int64)
    aa[:, :k] = a
    ll = np.full((n, width), lo, dtype=np.int64)
    hh = np.full((n, width), hi, dtype=np.int64)
    while aa.shape[1] > 1:
        a1, a2 = aa[:, 0::2], aa[:, 1::2]
        l1, l2 = ll[:, 0::2], ll[:, 1::2]
        h1, h2 = hh[:, 0::2], hh[:, 1::2]
        ll = np.minimum(np.maximum(l1 + a2, l2), h2)
        hh = np.minimum(np.maximum(h1 + a2, l2), h2)
        aa = a1 + a2
    return aa[:, 0], ll[:, 0], hh[:, 0]


def saturating_accumulate(x0: np.ndarray, counts: np.ndarray, weights: np.ndarray, lo: int,
                          hi: int) -> np.ndarray:
    """Sequential saturating sum ``x ← clamp(x + counts[:, k]·weights[k], lo, hi)`` for k = 0, 1, … (module
    docstring).

    ``counts[:, k]`` events from source k each add ``weights[k]``; repeated additions of one sign saturate
    like one addition of their sum, so each source is one term.

    Args:
        x0: start values ``[B, M]`` (int64, inside ``[lo, hi]``).
        counts: events per source ``[B, K]`` (int64, ≥ 0), applied in source order.
        weights: ``[K, M]`` (int64).
    Returns:
        ``[B, M]`` int64.
    """
    x0 = np.asarray(x0, dtype=np.int64)
    active = np.flatnonzero(counts.any(axis=0))  # silent sources add nothing (clamp of an in-range x is x)
    if active.size == 0:
        return x0.copy()
    counts, weights = counts[:, active], weights[active]
    pos = counts @ np.maximum(weights, 0)  # integer matmul: exact, and no BLAS thread pool on a busy machine
    neg = counts @ np.minimum(weights, 0)
    out = x0 + pos + neg
    risky = (x0 + pos > hi) | (x0 + neg < lo)
    if not risky.any():
        return out
    b_idx, m_idx = np.nonzero(risky)
    step = max(1, _CHUNK // max(1, counts.shape[1]))
    for s in range(0, b_idx.size, step):
        b, m = b_idx[s:s + step], m_idx[s:s + step]
        terms = counts[b, :] * weights[:, m].T  # [n, K]
        if b.size >= _SEQUENTIAL_ROWS:  # many rows: the literal loop over sources, in place, is cheaper
            x = x0[b, m].copy()
            for col in np.ascontiguousarray(terms.T):
                x += col
                np.minimum(x, hi, out=x)
                np.maximum(x, lo, out=x)
            out[b, m] = x
        else:
            a, low, high = _compose_tree(terms, lo, hi)
            out[b, m] = np.minimum(np.maximum(x0[b, m] + a, low), high)
    return out
