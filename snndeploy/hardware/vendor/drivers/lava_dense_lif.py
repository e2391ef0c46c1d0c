"""Driver (runs in the ``lava`` venv): many Dense -> LIF chains through lava's own bit-accurate models.

``python lava_dense_lif.py IN.npz OUT.npz``. IN holds ``__meta__`` (JSON) with ``cases``: one entry per
network, ``{"input_message_bits": int, "layers": [{"weight_exp", "num_weight_bits", "sign_mode" (int or null),
"du", "dv", "vth"}, ...]}``, and ``states`` (a list of ``"u"``, ``"v"``), plus the arrays ``c{i}_x`` ``[T, B,
N_in]`` and per layer ``c{i}_l{j}_w`` ``[N_out, N_in]``, ``c{i}_l{j}_bm`` and ``c{i}_l{j}_be`` ``[N_out]``.
OUT holds ``c{i}_l{j}_s`` (spikes) and the recorded states ``c{i}_l{j}_u``, ``c{i}_l{j}_v``, each ``[T, B,
N_out]`` int64, and ``__meta__`` with the versions, the number of lava runs and a per-run log.

Batching (a lava run costs about a second, whatever its size): cases with the same T, depth, input mode and
per-layer Dense scalars (weight_exp, num_weight_bits, the sign mode lava will use) share one run. Their
networks, one copy per batch sample, are laid side by side: block-diagonal weights, so no neuron sees another
copy, and per-neuron ``du``/``dv``/``vth`` arrays (lava's LIF takes them per population, its fixed-point model
applies them elementwise; ``sign_mode`` is passed only where the case set it, so lava determines it itself for
the others, and a block-diagonal matrix has the sign mode of its blocks when they all share it). Graph per
run: ``RingBuffer (fixed_pt source) -> Dense -> LIF -> Dense -> LIF ...``, ``Monitor``s on every LIF's
``s_out`` and the states named in ``states`` (one ``Monitor`` per target: lava's ``PyMonitorModel`` has ports
for one probe), ``Loihi2SimCfg(select_tag="fixed_pt")``.

Imports only numpy and lava (never snndeploy).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF
from lava.proc.monitor.process import Monitor
from lava.utils.weightutils import SignMode, determine_sign_mode

MAX_NEURONS = 8000  # per layer and run: keeps the block-diagonal weight matrices small
MAX_WEIGHTS = 16_000_000


def _key(case: dict, arrays: dict, i: int) -> tuple:
    x = arrays[f"c{i}_x"]
    layers = []
    for j, layer in enumerate(case["layers"]):
        mode = layer["sign_mode"]
        resolved = mode if mode is not None else determine_sign_mode(arrays[f"c{i}_l{j}_w"]).value
        layers.append((layer["weight_exp"], layer["num_weight_bits"], mode, resolved))
    return (x.shape[0], case["input_message_bits"], tuple(layers))


def _run_group(cases: list[dict], ids: list[int], arrays: dict, states: list[str]) -> dict[str, np.ndarray]:
    first = cases[ids[0]]
    n_layers = len(first["layers"])
    t_steps = arrays[f"c{ids[0]}_x"].shape[0]
    units = [(i, b) for i in ids for b in range(arrays[f"c{i}_x"].shape[1])]
    # data for the source: [sum N_in, T]
    data = np.concatenate([arrays[f"c{i}_x"][:, b, :].T for i, b in units], axis=0).astype(np.int32)
    src = RingBuffer(data=data)
    prev_out = src.s_out
    lifs = []
    for j in range(n_layers):
        shapes = [arrays[f"c{i}_l{j}_w"].shape for i, _ in units]
        n_out, n_in = sum(s[0] for s in shapes), sum(s[1] for s in shapes)
        w = np.zeros((n_out, n_in), np.int32)
        ro = co = 0
        for (i, _), (r, c) in zip(units, shapes, strict=False):
            w[ro : ro + r, co : co + c] = arrays[f"c{i}_l{j}_w"]
            ro, co = ro + r, co + c

        def per_neuron(key: str, j: int = j) -> np.ndarray:
            return np.concatenate(
                [
                    np.full(arrays[f"c{i}_l{j}_w"].shape[0], cases[i]["layers"][j][key], np.int64)
                    for i, _ in units
                ]
            )

        def stacked(suffix: str, j: int = j) -> np.ndarray:
            return np.concatenate([arrays[f"c{i}_l{j}_{suffix}"] for i, _ in units]).astype(np.int64)

        spec = first["layers"][j]
        kwargs = {"weight_exp": int(spec["weight_exp"]), "num_weight_bits": int(spec["num_weight_bits"])}
        if spec["sign_mode"] is not None:
            kwargs["sign_mode"] = SignMode(int(spec["sign_mode"]))
        dense = Dense(weights=w, num_message_bits=int(first["input_message_bits"]) if j == 0 else 0, **kwargs)
        lif = LIF(
            shape=(n_out,),
            du=per_neuron("du"),
            dv=per_neuron("dv"),
            vth=per_neuron("vth"),
            bias_mant=stacked("bm"),
            bias_exp=stacked("be"),
        )
        prev_out.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        prev_out = lif.s_out
        lifs.append(lif)
    probes: list[list[tuple[str, Monitor, str]]] = []
    for lif in lifs:
        targets = [("s", lif.s_out, "s_out")] + [(k, getattr(lif, k), k) for k in states]
        probes.append([])
        for key, target, name in targets:
            mon = (
                Monitor()
            )  # lava's PyMonitorModel has ports for one probe only (a second probe fails to compile)
            mon.probe(target, t_steps)
            probes[-1].append((key, mon, name))
    lifs[0].run(condition=RunSteps(num_steps=t_steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    try:
        got = [
            {key: mon.get_data()[lif.name][name] for key, mon, name in row}
            for lif, row in zip(lifs, probes, strict=False)
        ]
    finally:
        lifs[0].stop()
    out: dict[str, np.ndarray] = {}
    for j, series in enumerate(got):
        for name, arr in series.items():
            arr = np.rint(np.asarray(arr, dtype=np.float64)).astype(np.int64)  # [T, sum N_out]
            off = 0
            for i in ids:
                b_count = arrays[f"c{i}_x"].shape[1]
                n = arrays[f"c{i}_l{j}_w"].shape[0]
                block = arr[:, off : off + b_count * n].reshape(t_steps, b_count, n)
                out[f"c{i}_l{j}_{name}"] = block
                off += b_count * n
    return out


def _chunks(ids: list[int], cases: list[dict], arrays: dict) -> list[list[int]]:
    """Split one key's cases so that no run exceeds MAX_NEURONS per layer or MAX_WEIGHTS per matrix."""
    out: list[list[int]] = []
    cur: list[int] = []
    size: list[tuple[int, int]] = []
    for i in ids:
        b = arrays[f"c{i}_x"].shape[1]
        dims = [
            (b * arrays[f"c{i}_l{j}_w"].shape[0], b * arrays[f"c{i}_l{j}_w"].shape[1])
            for j in range(len(cases[i]["layers"]))
        ]
        new = [(r + dr, c + dc) for (r, c), (dr, dc) in zip(size, dims, strict=False)] if size else dims
        if cur and any(r > MAX_NEURONS or r * c > MAX_WEIGHTS for r, c in new):
            out.append(cur)
            cur, new = [], dims
        cur.append(i)
        size = new
    if cur:
        out.append(cur)
    return out


def main(src: str, dst: str) -> None:
    with np.load(src, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
    cases = meta["cases"]
    states = [k for k in meta.get("states", ["u", "v"]) if k in ("u", "v")]
    groups: dict[tuple, list[int]] = {}
    for i, case in enumerate(cases):
        groups.setdefault(_key(case, arrays, i), []).append(i)
    out: dict[str, np.ndarray] = {}
    runs = 0
    t0 = time.perf_counter()
    log = []
    for ids in groups.values():
        for chunk in _chunks(ids, cases, arrays):
            t1 = time.perf_counter()
            out.update(_run_group(cases, chunk, arrays, states))
            runs += 1
            log.append(
                [
                    len(chunk),
                    int(arrays[f"c{chunk[0]}_x"].shape[0]),
                    len(cases[chunk[0]]["layers"]),
                    round(time.perf_counter() - t1, 3),
                ]
            )
    import importlib.metadata as md

    info = {
        "runs": runs,
        "seconds": time.perf_counter() - t0,
        "log": log,
        "versions": {p: md.version(p) for p in ("lava-nc", "numpy")},
    }
    np.savez(dst, __meta__=np.array(json.dumps(info)), **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
