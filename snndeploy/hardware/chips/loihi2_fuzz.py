"""Random ``Loihi2Network`` cases at the edges of lava's integer formats, and the spike/state cross-check
against lava's own models (used by ``tests/test_chip_loihi2.py`` and ``benchmarks/vendor_fuzz_loihi2.py``).

``random_family(rng, n)`` draws ``n`` cases that share what lava's ``Dense`` holds per matrix (T, depth, input
mode, and per layer ``weight_exp``, ``num_weight_bits`` and the sign mode), so the driver runs them side by
side in one lava run; everything per neuron or per synapse differs between cases: layer sizes, weights
(uniform, at the grid edges −256/−255/−1/0/1/254/255, sparse, all zero), ``du``/``dv`` (0, 1, 4094, 4095,
random), ``vth`` (0, 1, 2¹⁷ − 1, random), biases (13-bit edges, exponents 0..7) and inputs (silent,
saturating, random spikes, or graded values up to the 24-bit edges, sometimes with fan-ins large enough to
wrap lava's int32 accumulators and 24-bit current).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import ChipRun
from .loihi2 import EXCITATORY, INHIBITORY, MIXED, Loihi2Layer, Loihi2Network

__all__ = ["random_family", "random_cases", "random_netx_case", "compare_runs", "CrossCheck"]

_W_EDGES = np.array([-256, -255, -254, -128, -2, -1, 0, 1, 2, 127, 254, 255])


def _pick(rng: np.random.Generator, choices: Sequence[Any], p: Sequence[float] | None = None) -> Any:
    return choices[int(rng.choice(len(choices), p=p))]


def _weights(rng: np.random.Generator, shape: tuple[int, int], mode: int, explicit: bool) -> np.ndarray:
    style = _pick(rng, ["uniform", "edges", "sparse", "small", "zero"], [0.35, 0.3, 0.15, 0.15, 0.05])
    if style == "uniform":
        w = rng.integers(-256, 256, shape)
    elif style == "edges":
        w = rng.choice(_W_EDGES, shape)
    elif style == "sparse":
        w = rng.integers(-256, 256, shape) * (rng.random(shape) < 0.2)
    elif style == "small":
        w = rng.integers(-4, 5, shape)
    else:
        w = np.zeros(shape, np.int64)
    if explicit:  # lava clips to the explicit sign mode: keep weights of both signs to exercise it
        return w
    if mode == EXCITATORY:
        w = np.abs(w).clip(0, 255)
    elif mode == INHIBITORY:
        w = -np.abs(w)
        if not w.any():
            w.flat[int(rng.integers(w.size))] = -int(rng.integers(1, 257))
    else:
        w = w.copy()
        w.flat[0] = int(rng.integers(1, 256))
        w.flat[-1] = -int(rng.integers(1, 257))
    return w


def _decay(rng: np.random.Generator) -> int:
    return int(_pick(rng, [0, 1, 4094, 4095, int(rng.integers(0, 4096)), int(rng.integers(0, 256))]))


def random_family(
    rng: np.random.Generator, n: int, t_max: int = 100
) -> list[tuple[Loihi2Network, np.ndarray]]:
    """``n`` random cases sharing T, depth, input mode and per-layer Dense scalars (module docstring)."""
    t_steps = int(_pick(rng, [1, 2, int(rng.integers(3, t_max + 1)), t_max]))
    depth = int(_pick(rng, [1, 2, 3], [0.3, 0.45, 0.25]))
    graded_bits = int(_pick(rng, [0, 0, 0, 8, 16, 24]))
    big_fan_in = rng.random() < 0.12
    dense = []
    for _ in range(depth):
        explicit = rng.random() < 0.25
        mode = int(_pick(rng, [MIXED, EXCITATORY, INHIBITORY], [0.6, 0.25, 0.15]))
        dense.append(
            {
                "weight_exp": int(rng.integers(-8, 8)) if rng.random() < 0.6 else 0,
                "num_weight_bits": int(_pick(rng, [8, 8, int(rng.integers(1, 9))])),
                "mode": mode,
                "explicit": explicit,
            }
        )
    if big_fan_in:
        dense[0].update(weight_exp=int(rng.integers(4, 8)), mode=EXCITATORY, explicit=False)
    cases = []
    for _ in range(n):
        sizes = [int(rng.integers(1, 24)) for _ in range(depth + 1)]
        if big_fan_in:
            sizes[0] = int(rng.integers(900, 1300))
        if any(d["mode"] == MIXED and not d["explicit"] for d in dense):
            sizes = [max(s, 2) for s in sizes]
        layers = []
        for j, d in enumerate(dense):
            shape = (sizes[j + 1], sizes[j])
            w = _weights(rng, shape, d["mode"], d["explicit"])
            if big_fan_in and j == 0:
                w = rng.choice([254, 255], shape)
            bias_style = rng.random()
            if bias_style < 0.3:
                bm, be = 0, 0
            elif bias_style < 0.6:
                bm, be = rng.integers(-64, 65, shape[0]), rng.integers(0, 8, shape[0])
            else:
                bm, be = (
                    rng.choice([-4096, -4095, -1, 0, 1, 4094, 4095], shape[0]),
                    rng.integers(0, 8, shape[0]),
                )
            vth = int(
                _pick(
                    rng,
                    [
                        0,
                        1,
                        2**17 - 1,
                        int(rng.integers(0, 64)),
                        int(rng.integers(0, 4096)),
                        int(rng.integers(0, 2**17)),
                    ],
                )
            )
            layers.append(
                Loihi2Layer(
                    f"l{j}",
                    w,
                    vth=vth,
                    du=_decay(rng),
                    dv=_decay(rng),
                    bias_mant=bm,
                    bias_exp=be,
                    weight_exp=d["weight_exp"],
                    num_weight_bits=d["num_weight_bits"],
                    sign_mode=d["mode"] if d["explicit"] else None,
                )
            )
        net = Loihi2Network(tuple(layers), input_message_bits=graded_bits)
        cases.append((net, _inputs(rng, t_steps, sizes[0], graded_bits)))
    return cases


def _inputs(rng: np.random.Generator, t_steps: int, n_in: int, graded_bits: int) -> np.ndarray:
    batch = int(rng.integers(1, 4))
    shape = (t_steps, batch, n_in)
    style = _pick(rng, ["silent", "saturating", "random", "random"])
    if style == "silent":
        return np.zeros(shape, np.int64)
    if graded_bits == 0:
        if style == "saturating":
            return np.ones(shape, np.int64)
        return (rng.random(shape) < rng.uniform(0.02, 0.9)).astype(np.int64)
    hi = 2**23 - 1
    if style == "saturating":
        return rng.choice([hi, -(2**23), 2**15, -(2**15)], shape)
    scale = int(_pick(rng, [3, 255, 65535, hi]))
    x = rng.integers(-scale, scale + 1, shape)
    return x * (rng.random(shape) < 0.7)


def random_cases(
    seed: int, n_cases: int, family: int = 25, t_max: int = 100
) -> list[tuple[Loihi2Network, Any]]:
    """``n_cases`` cases in families of ``family`` (see ``random_family``), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    cases: list[tuple[Loihi2Network, Any]] = []
    while len(cases) < n_cases:
        cases.extend(random_family(rng, min(family, n_cases - len(cases)), t_max))
    return cases


def random_netx_case(rng: np.random.Generator, t_max: int = 100) -> tuple[Loihi2Network, np.ndarray]:
    """A random network that netx represents exactly (``loihi2_netx.write_artifacts`` accepts it): per layer a
    mixed grid (even weights in [−256, 254], or any in [−128, 127] as 2w with weight_exp −1), excitatory [0,
    255] or inhibitory [−255, −1] weights, biases in whole multiples of 64 (bias_exp 6), random du, dv,
    vth."""
    depth = int(_pick(rng, [1, 2, 3]))
    sizes = [int(rng.integers(2, 20)) for _ in range(depth + 1)]
    layers = []
    for j in range(depth):
        shape = (sizes[j + 1], sizes[j])
        kind = _pick(rng, ["even", "odd", "exc", "inh"])
        exp = 0
        if kind == "even":
            w = 2 * rng.integers(-128, 128, shape)
        elif kind == "odd":
            w, exp = 2 * rng.integers(-128, 128, shape), -1
        elif kind == "exc":
            w = rng.integers(0, 256, shape)
        else:
            w = -rng.integers(1, 256, shape)
        if kind in ("even", "odd"):
            w.flat[0], w.flat[-1] = min(abs(int(w.flat[0])), 254) or 2, -abs(int(w.flat[-1])) or -2
        if not w.any():
            w.flat[0] = 1
        bias = rng.integers(-64, 65, shape[0]) if rng.random() < 0.6 else np.zeros(shape[0], np.int64)
        layers.append(
            Loihi2Layer(
                f"l{j}",
                w,
                vth=int(rng.integers(0, 3000)),
                du=_decay(rng),
                dv=_decay(rng),
                bias_mant=bias,
                bias_exp=6,
                weight_exp=exp,
            )
        )
    t_steps = int(rng.integers(1, t_max + 1))
    x = (rng.random((t_steps, 1, sizes[0])) < rng.uniform(0.05, 0.9)).astype(np.int64)
    return Loihi2Network(tuple(layers)), x


@dataclass
class CrossCheck:
    """Spike and state agreement of the integer model with the vendor over many cases."""

    cases: int
    mismatched_cases: list[int]
    first: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return not self.mismatched_cases

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "mismatches": len(self.mismatched_cases),
            "mismatched_cases": self.mismatched_cases[:50],
            "first": self.first,
        }


def compare_runs(
    cases: Sequence[tuple[Loihi2Network, Any]],
    vendor: Sequence[ChipRun],
    model: Sequence[ChipRun] | None = None,
) -> CrossCheck:
    """Compare spikes (and ``u``/``v`` when both runs have them) exactly, case by case; the first mismatch is
    reported with its case, layer, field, (t, b, n), both values and the case's layer parameters."""
    bad: list[int] = []
    first: dict[str, Any] | None = None
    for i, ((net, x), ref) in enumerate(zip(cases, vendor, strict=True)):
        ours = model[i] if model is not None else net.run(x)
        fields = [("spikes", ours.spikes, ref.spikes)]
        fields += [
            (k, ours.states[k], ref.states[k]) for k in ("u", "v") if k in ours.states and k in ref.states
        ]
        for name, a_all, b_all in fields:
            diff = next(
                (
                    (j, a, b)
                    for j, (a, b) in enumerate(zip(a_all, b_all, strict=False))
                    if not np.array_equal(a, b)
                ),
                None,
            )
            if diff is None:
                continue
            j, a, b = diff
            if i not in bad:
                bad.append(i)
            if first is None:
                if a.shape != b.shape:
                    where, va, vb = None, list(a.shape), list(b.shape)
                else:
                    where = [int(k) for k in np.argwhere(a != b)[0]]
                    va, vb = int(a[tuple(where)]), int(b[tuple(where)])
                layer = net.layers[j]
                first = {
                    "case": i,
                    "layer": j,
                    "field": name,
                    "t_b_n": where,
                    "model": va,
                    "vendor": vb,
                    "params": {
                        k: v
                        for k, v in layer.to_dict().items()
                        if k not in ("weights", "bias_mant", "bias_exp")
                    },
                    "input_message_bits": net.input_message_bits,
                    "input_shape": list(np.shape(x)),
                }
    return CrossCheck(len(cases), bad, first)
