"""Random Xylo networks and inputs for cross-checking the integer model against xylosim, and run comparison.

``random_case(rng)`` draws a chip, random sizes (mostly small, sometimes up to the chip's limits), int8
weights that often sit on the grid's edges (−128, −127, −1, 0, 1, 126, 127), sparse or dense recurrence,
dashes 0..15 (0 included: it wipes a synaptic current), thresholds from 1 to 32767, biases (often 0, sometimes
at the int16 edges), weight shifts 0..15 (≥ 9 wraps shifted weights to int16 in xylosim), and inputs that are
silent, sparse, dense, at the 15-event limit or beyond it (up to 255, clipped by the chip), T from 1 to
``max_t``. ``first_mismatch(a, b)`` names the first differing array, index and values of two ``ChipRun``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import ChipRun
from .xylo import XYLO_CHIPS, XyloNetwork

__all__ = ["random_network", "random_input", "random_case", "first_mismatch"]

_EDGES = np.array([-128, -127, -1, 0, 1, 126, 127])


def _weights(rng: np.random.Generator, shape: tuple[int, ...], density: float) -> np.ndarray:
    style = rng.integers(4)
    if style == 0:
        w = rng.choice(_EDGES, size=shape)
    elif style == 1:
        w = rng.integers(-128, 128, size=shape)
    elif style == 2:
        w = rng.integers(-8, 9, size=shape)
    else:
        w = np.where(rng.random(shape) < 0.5, rng.choice(_EDGES, size=shape),
                     rng.integers(-128, 128, size=shape))
    return (w * (rng.random(shape) < density)).astype(np.int64)


def _per_neuron(rng: np.random.Generator, n: int, lo: int, hi: int, edge_p: float = 0.2) -> np.ndarray:
    v = rng.integers(lo, hi + 1, size=n)
    edges = rng.random(n) < edge_p
    return np.where(edges, rng.choice([lo, hi], size=n), v)


def random_network(rng: np.random.Generator, chip: str | None = None, max_hidden: int = 64,
                   p_big: float = 0.05) -> XyloNetwork:
    """A valid random network for ``chip`` (random when ``None``): up to ``max_hidden`` hidden neurons, or
    with probability ``p_big`` up to the chip's limit."""
    chip = chip or str(rng.choice(list(XYLO_CHIPS)))
    c = XYLO_CHIPS[chip]
    big = rng.random() < p_big
    n_in = int(rng.integers(1, c.max_inputs + 1))
    n_hid = int(rng.integers(1, (c.max_hidden if big else min(max_hidden, c.max_hidden)) + 1))
    n_out = int(rng.integers(1, c.max_outputs + 1))
    syn = int(rng.integers(1, c.synapses + 1))
    w_in = _weights(rng, (n_in, n_hid, syn), float(rng.choice([1.0, 0.5, 0.1])))
    if c.input_window is not None:
        w_in[:, c.input_window:] = 0
    w_rec = _weights(rng, (n_hid, n_hid, syn), float(rng.choice([0.0, 0.05, 0.3, 1.0])))
    w_out = _weights(rng, (n_hid, n_out), float(rng.choice([1.0, 0.5])))
    if c.output_window is not None:
        w_out[: max(0, n_hid - c.output_window)] = 0
    theta_hi = int(rng.choice([64, 2000, 32767]))
    bias_on = rng.random() < 0.4
    return XyloNetwork(
        chip, w_in, w_rec, w_out,
        rng.integers(0, 16, size=(n_hid, syn)), rng.integers(0, 16, size=n_hid),
        _per_neuron(rng, n_hid, 1, theta_hi),
        _per_neuron(rng, n_hid, -32768, 32767) * (rng.random(n_hid) < 0.5) if bias_on
        else np.zeros(n_hid, np.int64),
        rng.integers(0, 16, size=n_out), rng.integers(0, 16, size=n_out),
        _per_neuron(rng, n_out, 1, theta_hi),
        _per_neuron(rng, n_out, -32768, 32767) * (rng.random(n_out) < 0.5) if bias_on
        else np.zeros(n_out, np.int64),
        int(rng.integers(0, 16)) if rng.random() < 0.3 else int(rng.integers(0, 8)),
        int(rng.integers(0, 16)) if rng.random() < 0.3 else int(rng.integers(0, 8)),
        int(rng.integers(0, 16)) if rng.random() < 0.3 else int(rng.integers(0, 8)),
    )


def random_input(rng: np.random.Generator, n_in: int, max_t: int = 100, max_batch: int = 3) -> np.ndarray:
    """Events ``[T, B, n_in]``: silent, sparse, dense, at the 15-event limit or beyond it (≤ 255)."""
    n_t, batch = int(rng.integers(1, max_t + 1)), int(rng.integers(1, max_batch + 1))
    style = rng.integers(5)
    shape = (n_t, batch, n_in)
    if style == 0:
        return np.zeros(shape, np.int64)
    if style == 1:
        return (rng.random(shape) < 0.1).astype(np.int64)
    if style == 2:
        return rng.integers(0, 4, size=shape)
    if style == 3:
        return rng.choice([0, 15], size=shape)
    return rng.integers(0, 256, size=shape)


def random_case(rng: np.random.Generator, max_t: int = 100, max_hidden: int = 64,
                p_big: float = 0.05) -> tuple[XyloNetwork, np.ndarray]:
    net = random_network(rng, max_hidden=max_hidden, p_big=p_big)
    return net, random_input(rng, net.n_in, max_t)


def first_mismatch(mine: ChipRun, vendor: ChipRun) -> dict[str, Any] | None:
    """``None`` when spikes and every recorded state are identical; else where they first differ."""
    pairs = [(f"spikes[{k}]", a, b) for k, (a, b) in enumerate(zip(mine.spikes, vendor.spikes, strict=True))]
    for key in sorted(mine.states):
        pairs += [(f"{key}[{k}]", a, b)
                  for k, (a, b) in enumerate(zip(mine.states[key], vendor.states[key], strict=True))]
    for name, a, b in pairs:
        if a.shape != b.shape:
            return {"array": name, "shape": list(a.shape), "vendor_shape": list(b.shape)}
        diff = np.argwhere(a != b)
        if diff.size:
            idx = tuple(int(i) for i in diff[0])
            return {"array": name, "index (t, b, n)": list(idx), "mine": int(a[idx]), "vendor": int(b[idx]),
                    "count": int(len(diff))}
    return None
