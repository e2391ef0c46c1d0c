"""Random Speck networks and inputs for the cross-check against sinabs (tests, ``vendor_fuzz_speck.py``).

``random_case(rng)`` draws a network of 1–4 layers (conv with random kernel 1–5, stride 1/2/4, padding 0–2,
sum pooling 1/2/4 where it fits; linear layers, also after convs), weights in one of several styles (uniform
over the whole int8 range, sparse, one-signed, tiny {−1, 0, 1}) with grid-edge values (−128, 127), optional
biases, thresholds from 1 to 32767 (mostly a fraction of a neuron's Σ|w|, so that layers fire), ``min_v_mem``
from −32768 to 0, and an input ``[T, B, C, H, W]`` with T ≤ 100 (log-uniform) that is silent, sparse, dense or
saturating (many spikes per step). Inputs are scaled down until ``float32_headroom`` < 2**24, the range in
which sinabs' float32 forward must equal the integer model.

Most networks sit on sinabs' grid edge (one parameter per layer at the end of its range), so
``DynapcnnNetwork(discretize=True)`` reproduces the integers, often from floats q·c with a random factor c per
layer (``factors``); about one in six is off the edge and runs with ``discretize=False``.
``compare(case, ours, vendor)`` returns the first difference, or ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import ChipRun
from .speck import FLOAT32_EXACT, STATE_MAX, STATE_MIN, SpeckLayer, SpeckNetwork
from .speck_vendor import SpeckVendorResult, on_grid_edge

__all__ = ["FuzzCase", "random_case", "compare"]


@dataclass(frozen=True)
class FuzzCase:
    network: SpeckNetwork
    x: np.ndarray
    factors: tuple[float, ...] | None
    style: str


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    style = rng.choice(["uniform", "sparse", "positive", "negative", "tiny"])
    if style == "uniform":
        w = rng.integers(-128, 128, shape)
    elif style == "sparse":
        w = rng.integers(-128, 128, shape) * (rng.random(shape) < 0.2)
    elif style == "positive":
        w = rng.integers(0, 128, shape)
    elif style == "negative":
        w = rng.integers(-128, 1, shape)
    else:
        w = rng.integers(-1, 2, shape)
    edges = rng.random(shape) < 0.05  # sprinkle grid-edge values
    return np.where(edges, rng.choice([-128, 127], shape), w).astype(np.int64)


def _threshold(rng: np.random.Generator, weight: np.ndarray) -> int:
    """Log-uniform over 1..32767, or (mostly) around a fraction of one output's Σ|w|, so that layers fire."""
    if rng.random() < 0.25:
        return int(np.clip(np.round(np.exp(rng.uniform(0.0, np.log(STATE_MAX)))), 1, STATE_MAX))
    drive = float(np.abs(weight).reshape(weight.shape[0], -1).sum(1).mean()) + 1.0
    return int(np.clip(np.round(drive * 10 ** rng.uniform(-2.5, 0.0)), 1, STATE_MAX))


def _min_v(rng: np.random.Generator, theta: int) -> int:
    return int(rng.choice([-theta, 0, STATE_MIN, int(rng.integers(STATE_MIN, 1))]))


def _put_on_edge(rng: np.random.Generator, lyr: dict[str, Any]) -> None:
    """Make one parameter of the layer bind sinabs' scale (so its discretisation scale is exactly 1)."""
    places = ["weight", "weight", "threshold", "min_v_mem"] + (["bias"] if lyr["bias"] is not None else [])
    where = rng.choice(places)
    if where == "weight":
        w = lyr["weight"].reshape(-1)
        w[rng.integers(w.size)] = 127 if w.max() >= -w.min() or rng.random() < 0.3 else -128
    elif where == "bias":
        lyr["bias"][rng.integers(lyr["bias"].size)] = rng.choice([-128, 127])
    elif where == "threshold":
        lyr["threshold"] = STATE_MAX
    else:
        lyr["min_v_mem"] = STATE_MIN


def _layers(rng: np.random.Generator, shape: tuple[int, int, int], edge: bool) -> list[SpeckLayer]:
    layers = []
    for j in range(int(rng.integers(1, 5))):
        c, h, w = shape
        linear = h == w and ((h == 1 and rng.random() < 0.7) or (c * h * w <= 600 and rng.random() < 0.3))
        out = int(rng.integers(1, 9))
        if linear:
            weight = _weights(rng, (out, c * h * w))
            geo = {"stride": 1, "padding": 0, "pool": 1}
            shape = (out, 1, 1)
        else:
            pad = int(rng.integers(0, 3))
            k = int(rng.integers(1, min(5, h + 2 * pad, w + 2 * pad) + 1))
            pad = min(pad, k - 1)
            stride = int(rng.choice([1, 1, 2, 4]))
            weight = _weights(rng, (out, c, k, k))
            nh, nw = ((d + 2 * pad - k) // stride + 1 for d in (h, w))
            pool = int(rng.choice([p for p in (1, 2, 4) if p <= min(nh, nw)]))
            geo = {"stride": stride, "padding": pad, "pool": pool}
            shape = (out, nh // pool, nw // pool)
        theta = _threshold(rng, weight)
        lyr = {"weight": weight, "threshold": theta, "min_v_mem": _min_v(rng, theta),
               "bias": rng.integers(-128, 128, out) if rng.random() < 0.3 else None}
        if edge:
            _put_on_edge(rng, lyr)
        layers.append(SpeckLayer(f"l{j}", lyr["weight"], lyr["threshold"], lyr["min_v_mem"], lyr["bias"],
                                 **geo))
    return layers


def _input(rng: np.random.Generator, net: SpeckNetwork, t_max: int,
           b_max: int) -> tuple[np.ndarray, str] | None:
    # T log-uniform over 1..t_max (mean ≈ 21 for 100): long runs are drawn, short ones keep the suites fast.
    T, B = int(np.exp(rng.uniform(0.0, np.log(t_max + 1)))), int(rng.integers(1, b_max + 1))
    shape = (T, B, *net.input_shape)
    style = str(rng.choice(["silent", "sparse", "dense", "saturating"], p=[0.1, 0.3, 0.35, 0.25]))
    if style == "silent":
        x = np.zeros(shape, dtype=np.int64)
    elif style == "sparse":
        x = (rng.random(shape) < 0.05).astype(np.int64)
    elif style == "dense":
        x = rng.poisson(rng.uniform(0.3, 3.0), shape).astype(np.int64)
    else:
        x = rng.poisson(rng.uniform(50, 3000), shape).astype(np.int64)
    peak = max(net.float32_headroom(x))
    while peak >= FLOAT32_EXACT:  # shrink into the exact float32 range (headroom grows about linearly in x)
        if not x.any():
            return None  # biases alone drive it past 2**24 (θ = 1 fires 127 times a step): draw again
        x = x * (FLOAT32_EXACT // 2) // peak
        peak = max(net.float32_headroom(x))
    return x, style


def random_case(rng: np.random.Generator, t_max: int = 100, b_max: int = 3) -> FuzzCase:
    """One random network and input (module docstring)."""
    drawn = None
    while drawn is None:
        c, h, w = int(rng.integers(1, 5)), int(rng.integers(1, 13)), int(rng.integers(1, 13))
        net = SpeckNetwork((c, h, w), tuple(_layers(rng, (c, h, w), rng.random() >= 1 / 6)))
        drawn = _input(rng, net, t_max, b_max)
    x, style = drawn
    factors = None
    edge = on_grid_edge(net)  # _put_on_edge can be undone: a tensor whose max is -128 is scaled by 127/128
    if edge and rng.random() < 0.5:
        factors = tuple(float(np.exp(rng.uniform(np.log(1e-3), np.log(1e3)))) for _ in net.layers)
    return FuzzCase(net, x, factors, f"{style}{'' if edge else ', off-edge'}")


def compare(case: FuzzCase, ours: ChipRun, vendor: SpeckVendorResult) -> str | None:
    """The first difference between our run and sinabs' (spikes, states, or the discretised parameters)."""
    for j, lyr in enumerate(case.network.layers):
        for what, a, b in (("spikes", ours.spikes[j], vendor.run.spikes[j]),
                           ("v_mem", ours.states["v"][j], vendor.run.states["v"][j])):
            if a.shape != b.shape:
                return f"layer {lyr.name}: {what} shape {a.shape} vs sinabs {b.shape}"
            diff = np.argwhere(a != b)
            if diff.size:
                idx = tuple(int(i) for i in diff[0])
                return (f"layer {lyr.name}: {what} differ at {list(idx)} (t, b, ...): ours {a[idx]}, sinabs "
                        f"{b[idx]} ({len(diff)} elements)")
        p = vendor.params[j]
        bias = lyr.bias if lyr.bias is not None else np.zeros(lyr.weight.shape[0], dtype=np.int64)
        if vendor.discretized and not (np.array_equal(p.weight, lyr.weight) and np.array_equal(p.bias, bias)
                                       and (p.threshold, p.min_v_mem) == (lyr.threshold, lyr.min_v_mem)):
            return (f"layer {lyr.name}: sinabs discretised to θ={p.threshold}, min_v_mem={p.min_v_mem}, max "
                    f"|w| {int(np.abs(p.weight).max())} (ours θ={lyr.threshold}, min_v_mem={lyr.min_v_mem}, "
                    f"max |w| {int(np.abs(lyr.weight).max())})")
    return None
