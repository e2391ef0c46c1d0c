"""Driver (runs in the ``xylosim`` venv): Xylo networks through rockpool's ``XyloSim`` on the C++ xylosim.

``python xylosim_run.py IN.npz OUT.npz``. IN's ``__meta__`` (JSON) holds ``mode`` and ``cases``, one entry per
network, each with ``chip`` (``xylo_audio2`` | ``xylo_audio3`` | ``xylo_imu``):

- ``mode = "run"``: the network comes as arrays ``c{i}_<name>`` named like the keyword arguments of
  ``XyloSim.from_specification`` (``weights_in``, ``weights_rec``, ``weights_out``, ``dash_mem``, ``dash_mem_out``,
  ``dash_syn``, ``dash_syn_2``, ``dash_syn_out``, ``threshold``, ``threshold_out``, ``bias``, ``bias_out``,
  ``weight_shift_in``, ``weight_shift_rec``, ``weight_shift_out``).
- ``mode = "load"``: the case names a file ``path`` that snndeploy wrote (``.npz``: ``numpy.load`` then
  ``XyloSim.from_specification(**spec)``, nothing else; ``.json``: the same keys as nested lists).

Every case has ``c{i}_x`` ``[T, B, N_in]`` input events. Each batch sample runs from reset (``reset_state()``) as
``sim(x[:, b], record=True)``. OUT holds per case ``c{i}_s`` (hidden spike counts, rockpool's ``Spikes``),
``c{i}_v`` (``Vmem``), ``c{i}_i`` (``Isyn``), ``c{i}_i2`` (``Isyn2``), ``c{i}_so`` (the output spikes),
``c{i}_vo`` (``Vmem_out``), ``c{i}_io`` (``Isyn_out``), each ``[T, B, N]`` int64, and ``__meta__`` with the
versions and the time spent.

Imports only numpy, rockpool and xylosim (never snndeploy).
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version

import numpy as np

SPEC_KEYS = ("weights_in", "weights_rec", "weights_out", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2",
             "dash_syn_out", "threshold", "threshold_out", "bias", "bias_out", "weight_shift_in", "weight_shift_rec",
             "weight_shift_out")
RECORD = (("s", "Spikes"), ("v", "Vmem"), ("i", "Isyn"), ("i2", "Isyn2"), ("vo", "Vmem_out"), ("io", "Isyn_out"))


def sim_class(chip: str):
    """rockpool's XyloSim for ``chip`` (Audio 3 re-exports the IMU class; both build ``xylosim.v2.XyloLayer``)."""
    if chip == "xylo_audio2":
        from rockpool.devices.xylo.syns61201 import XyloSim
    elif chip == "xylo_audio3":
        from rockpool.devices.xylo.syns65302 import XyloSim
    elif chip == "xylo_imu":
        from rockpool.devices.xylo.syns63300 import XyloSim
    else:
        raise ValueError(f"unknown Xylo chip {chip!r}")
    return XyloSim


def load_spec(path: str) -> dict:
    """The specification written by snndeploy, read back with numpy / json only."""
    if path.endswith(".json"):
        with open(path) as fh:
            doc = json.load(fh)
        return {k: np.asarray(v) for k, v in doc["spec"].items()}
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def run_case(chip: str, spec: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    sim = sim_class(chip).from_specification(**spec)
    n_t, batch = x.shape[:2]
    out: dict[str, list] = {k: [] for k, _ in RECORD}
    out["so"] = []
    for b in range(batch):
        sim.reset_state()
        spikes, _, rec = sim(x[:, b, :], record=True)
        out["so"].append(np.asarray(spikes, np.int64).reshape(n_t, -1))
        for key, name in RECORD:
            out[key].append(np.asarray(rec[name], np.int64).reshape(n_t, -1))
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def main(src: str, dst: str) -> None:
    t0 = time.perf_counter()
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    results: dict[str, np.ndarray] = {}
    for i, case in enumerate(meta["cases"]):
        if meta["mode"] == "load":
            spec = load_spec(case["path"])
        else:
            spec = {k: arrays[f"c{i}_{k}"] for k in SPEC_KEYS if f"c{i}_{k}" in arrays}
            for k in ("weight_shift_in", "weight_shift_rec", "weight_shift_out"):
                spec[k] = int(spec[k])
        for key, value in run_case(case["chip"], spec, arrays[f"c{i}_x"]).items():
            results[f"c{i}_{key}"] = value
    info = {"rockpool": version("rockpool"), "xylosim": version("xylosim"), "cases": len(meta["cases"]),
            "seconds": time.perf_counter() - t0}
    np.savez(dst, __meta__=np.array(json.dumps(info)), **results)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
