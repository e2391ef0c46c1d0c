"""Fuzz targets shared by tests/fuzz (short, CI) and benchmarks/fuzz.py (long): seed files, mutators,
consumers.

A *target* makes one valid seed file of its kind and consumes a (possibly mutated) file the way the toolkit
does. The only acceptable outcomes of ``consume`` are success or an ``SnnDeployError``; ``run_case`` returns
which one (and lets every other exception escape: that is a bug).
"""

from __future__ import annotations

import functools
import io
import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch
from hypothesis import strategies as st

from snndeploy.errors import SnnDeployError

__all__ = ["Target", "TARGETS", "mutate", "run_case", "MUTATIONS", "nir_graphs"]

TINY_T, TINY_B = 3, 2


def _tiny_folded(kind: str = "mlp"):
    from exporters.fold import fold
    from exporters.zoo import input_shape_of, tiny_model

    model = tiny_model(kind, "lif", seed=0)
    shape = input_shape_of(kind)
    folded, report = fold(model, torch.rand(TINY_T, 4, *shape))
    return folded, report, shape


@functools.cache
def _seed_checkpoint() -> bytes:
    from snndeploy.checkpoint import save_checkpoint
    from snndeploy.models import ModelConfig, build_model

    cfg = ModelConfig("mlp", (1, 8, 8), 10, "clif", width=0.25)
    buf = Path(_tmpdir()) / "seed.pt"
    save_checkpoint(buf, model=build_model(cfg), config=cfg, epoch=0)
    return buf.read_bytes()


@functools.cache
def _seed_nir() -> bytes:
    from exporters.nir import to_nir, write_nir

    folded, report, shape = _tiny_folded("mlp")
    p = Path(_tmpdir()) / "seed.nir"
    write_nir(p, to_nir(folded, shape, T=TINY_T, report=report))
    return p.read_bytes()


@functools.cache
def _seed_onnx() -> bytes:
    from exporters.onnx import export_onnx_step

    folded, _, shape = _tiny_folded("mlp")
    p = Path(_tmpdir()) / "seed.onnx"
    export_onnx_step(folded, p, shape)
    return p.read_bytes()


@functools.cache
def _seed_profile() -> bytes:
    import snndeploy.energy.profiles as m

    return (Path(m.__file__).parent / "profiles" / "cmos45_fp32.toml").read_bytes()


@functools.cache
def _seed_target() -> bytes:
    import snndeploy.hardware.targets as m

    return (Path(m.__file__).parent / "targets" / "speck.toml").read_bytes()


@functools.cache
def _seed_cifar() -> bytes:
    rng = np.random.default_rng(0)
    obj = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3],
           b"batch_label": b"fuzz"}
    return pickle.dumps(obj, protocol=2)


@functools.cache
def _seed_nmnist() -> bytes:
    rng = np.random.default_rng(0)
    ev = np.stack([rng.integers(0, 34, 64), rng.integers(0, 34, 64), rng.integers(0, 256, 64),
                   rng.integers(0, 256, 64), rng.integers(0, 256, 64)], axis=1).astype(np.uint8)
    return ev.tobytes()


@functools.cache
def _tmpdir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="snndeploy-fuzz-")


def _consume_checkpoint(path: Path) -> None:
    from snndeploy.checkpoint import load

    model, cfg = load(path)
    model(torch.rand(TINY_T, TINY_B, *cfg.input_shape))


def _consume_nir(path: Path) -> None:
    from exporters.nir import read_nir
    from snndeploy.limits import resource_limits
    from snndeploy.nirsim import NIRSimulator

    with resource_limits(max_sim_elements=1 << 22, max_graph_elements=1 << 22, max_tensor_elements=1 << 22):
        sim = NIRSimulator(read_nir(path), dt=1e-3)
        sim(torch.rand(TINY_T, TINY_B, *sim.input_shape))


def _consume_onnx(path: Path) -> None:
    from snndeploy.limits import resource_limits
    from snndeploy.verify.runners import run_onnx

    with resource_limits(max_tensor_elements=1 << 22):
        run_onnx(str(path), torch.rand(TINY_T, TINY_B, 6))


def _consume_profile(path: Path) -> None:
    from snndeploy.energy.profiles import load_profile

    load_profile(path)


def _consume_target(path: Path) -> None:
    from snndeploy.hardware.targets import load_target

    load_target(path)


def _consume_nmnist(path: Path) -> None:
    from snndeploy.data.events import events_to_frames, read_nmnist_events

    events_to_frames(read_nmnist_events(path), 4, 34, 34)


def _consume_cifar(path: Path) -> None:
    from snndeploy.data.cifar import read_cifar_batch

    read_cifar_batch(path, b"labels")


@dataclass(frozen=True)
class Target:
    """One file kind: its suffix, a seed (valid bytes) and how the toolkit consumes it."""

    name: str
    suffix: str
    seed: Callable[[], bytes]
    consume: Callable[[Path], None]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("checkpoint", ".pt", _seed_checkpoint, _consume_checkpoint),
        Target("nir", ".nir", _seed_nir, _consume_nir),
        Target("onnx", ".onnx", _seed_onnx, _consume_onnx),
        Target("profile", ".toml", _seed_profile, _consume_profile),
        Target("target", ".toml", _seed_target, _consume_target),
        Target("cifar", "", _seed_cifar, _consume_cifar),
        Target("nmnist", ".bin", _seed_nmnist, _consume_nmnist),
    )
}

MUTATIONS = ("truncate", "bitflip", "overwrite", "insert", "wrong_type", "empty", "oversized")


def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    """Corrupt ``data``: truncate, flip bits, overwrite a span, insert junk, swap in another kind's bytes,
    empty it, or append a large junk tail."""
    n = len(data)
    if kind == "truncate":
        return data[: rng.randrange(max(n, 1))]
    if kind == "bitflip":
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == "overwrite":
        b = bytearray(data)
        i = rng.randrange(n)
        span = rng.randint(1, 64)
        b[i: i + span] = bytes(rng.randrange(256) for _ in range(min(span, n - i)))
        return bytes(b)
    if kind == "insert":
        i = rng.randrange(n + 1)
        return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 32))) + data[i:]
    if kind == "wrong_type":
        other = rng.choice([t for t in TARGETS.values()])
        return other.seed()
    if kind == "empty":
        return b""
    if kind == "oversized":
        return data + bytes(rng.randrange(256) for _ in range(1024)) * rng.randint(1, 64)
    raise ValueError(kind)


def run_case(target: Target, data: bytes, tmp: Path) -> str:
    """Write ``data`` to a file and consume it; returns ``"ok"`` or ``"error:<ErrorClass>"``.

    Any exception other than ``SnnDeployError`` propagates (a failed case).
    """
    path = tmp / f"case{target.suffix}"
    if target.name == "cifar":
        path = tmp / "data_batch_1"
    path.write_bytes(data)
    try:
        target.consume(path)
    except SnnDeployError as exc:
        return f"error:{type(exc).__name__}"
    return "ok"


def pickle_of(obj: object) -> bytes:
    """Pickle ``obj`` (for structured CIFAR cases)."""
    buf = io.BytesIO()
    pickle.dump(obj, buf, protocol=2)
    return buf.getvalue()


VALUES = [0.5, 1.0, 2.0, 0.0, -1.0, float("nan"), float("inf"), float("-inf")]


def _vec(v: float, n: int) -> np.ndarray:
    return np.full(n, v, np.float32)


@st.composite
def nir_graphs(draw: Any) -> nir.NIRGraph:
    """Small random graphs: random node kinds, widths that may not match, parameters that may be NaN/inf,
    random edges (cycles, self-loops, dangling sources and edges to nodes that do not exist)."""
    width = draw(st.integers(1, 3))
    nodes: dict[str, nir.NIRNode] = {"in": nir.Input(input_type={"input": np.array([width])})}
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["linear", "affine", "scale", "lif", "li", "if", "threshold"]))
        n_in = draw(st.sampled_from([width] * 3 + [width + 1]))  # sometimes a mismatched shape
        v = draw(st.sampled_from(VALUES[:5] * 3 + VALUES))  # finite values 4x as often as NaN/inf
        if kind == "linear":
            nodes[f"n{i}"] = nir.Linear(weight=np.full((width, n_in), v, np.float32))
        elif kind == "affine":
            nodes[f"n{i}"] = nir.Affine(weight=np.full((width, n_in), v, np.float32), bias=_vec(v, width))
        elif kind == "scale":
            nodes[f"n{i}"] = nir.Scale(scale=_vec(v, n_in))
        elif kind == "lif":
            nodes[f"n{i}"] = nir.LIF(tau=_vec(abs(v) + 1e-3, n_in), r=_vec(1, n_in), v_leak=_vec(0, n_in),
                                     v_threshold=_vec(v, n_in), v_reset=_vec(0, n_in))
        elif kind == "li":
            nodes[f"n{i}"] = nir.LI(tau=_vec(v, n_in), r=_vec(1, n_in), v_leak=_vec(0, n_in))
        elif kind == "if":
            nodes[f"n{i}"] = nir.IF(r=_vec(1, n_in), v_threshold=_vec(v, n_in), v_reset=_vec(0, n_in))
        else:
            nodes[f"n{i}"] = nir.Threshold(threshold=_vec(v, n_in))
    nodes["out"] = nir.Output(output_type={"output": np.array([width])})
    names = list(nodes)
    edges = draw(st.lists(st.tuples(st.sampled_from(names + ["ghost"]), st.sampled_from(names)), max_size=4))
    if draw(st.integers(0, 3)) > 0:
        # a chain, plus cycles/extra edges
        edges = [(a, b) for a, b in zip(names[:-1], names[1:], strict=True)] + edges
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


