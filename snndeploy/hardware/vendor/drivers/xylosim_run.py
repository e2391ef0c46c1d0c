"""Driver (runs in the ``xylosim`` venv): Xylo networks through rockpool's ``XyloSim`` on the C++ xylosim.

``python xylosim_run.py IN.npz OUT.npz``. IN's ``__meta__`` (JSON) holds ``cases``, one entry per network,
each with ``chip`` (``xylo_audio2`` | ``xylo_audio3`` | ``xylo_imu``) and a ``kind``:

- ``"spec"``: the network comes as arrays ``c{i}_<name>`` named like the keyword arguments of
  ``XyloSim.from_specification`` (``weights_in``, ``weights_rec``, ``weights_out``, ``dash_mem``,
  ``dash_mem_out``, ``dash_syn``, ``dash_syn_2``, ``dash_syn_out``, ``threshold``, ``threshold_out``,
  ``bias``, ``bias_out``, ``weight_shift_in``, ``weight_shift_rec``, ``weight_shift_out``);
- ``"file"``: ``path`` names a file that snndeploy wrote (``.npz``: ``numpy.load`` then
  ``XyloSim.from_specification(**spec)``, nothing else; ``.json``: the same keys as nested lists);
- ``"nir"``: ``path`` names a NIR file; rockpool imports it (``rockpool.nn.modules.torch.nir.from_nir``) and
  maps it (``mapper(net.as_graph(), float dtypes)``); OUT gets the float specification as ``c{i}_spec_<name>``
  (plus ``c{i}_spec_dt``), the imported modules' class names in the meta, and ``c{i}_rockpool_spikes``
  ``[T, B, N_out]`` from rockpool's own torch simulation of the imported network on ``c{i}_x`` (no Xylo run,
  no quantisation); when ``from_nir`` raises, the meta's module list is ``["error: <type>: <message>"]``
  instead.

"spec" and "file" cases have ``c{i}_x`` ``[T, B, N_in]`` input events. Each batch sample runs from reset
(``reset_state()``) as ``sim(x[:, b], record=True)``. OUT holds per case ``c{i}_s`` (hidden spike counts,
rockpool's ``Spikes``), ``c{i}_v`` (``Vmem``), ``c{i}_i`` (``Isyn``), ``c{i}_i2`` (``Isyn2``;
``syns63300.XyloSim`` does not return it, so it is read from the same ``XyloLayer.rec_i_syn2`` recording),
``c{i}_so`` (the output spikes), ``c{i}_vo`` (``Vmem_out``), ``c{i}_io`` (``Isyn_out``), each ``[T, B, N]``
int64, and ``__meta__`` with the versions and the time spent.

Imports only numpy, rockpool and xylosim (never snndeploy).
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version

import numpy as np

SPEC_KEYS = ("weights_in", "weights_rec", "weights_out", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2",
             "dash_syn_out", "threshold", "threshold_out", "bias", "bias_out", "weight_shift_in",
             "weight_shift_rec", "weight_shift_out")
RECORD = (("s", "Spikes"), ("v", "Vmem"), ("i", "Isyn"), ("i2", "Isyn2"), ("vo", "Vmem_out"),
          ("io", "Isyn_out"))


def sim_class(chip: str):
    """rockpool's XyloSim for ``chip`` (Audio 3 re-exports the IMU class; both build
    ``xylosim.v2.XyloLayer``)."""
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
        # syns63300.XyloSim (Audio 3, IMU) does not return it; its XyloLayer records it
        if "Isyn2" not in rec:
            rec = {**rec, "Isyn2": np.array(sim._xylo_layer.rec_i_syn2).T}
        for key, name in RECORD:
            out[key].append(np.asarray(rec[name], np.int64).reshape(n_t, -1))
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def nir_case(path: str, x: np.ndarray | None) -> tuple[dict[str, np.ndarray], list[str]]:
    """Import a NIR file with rockpool, map it (float), and simulate it with rockpool's torch modules."""
    import warnings

    import nir
    import torch
    from rockpool.devices.xylo.syns61201 import mapper
    from rockpool.nn.modules.torch.nir import from_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            net = from_nir(nir.read(path))
        except Exception as exc:  # the measured dialect: what rockpool refuses, and how
            return {}, [f"error: {type(exc).__name__}: {exc}"]
        spec = mapper(net.as_graph(), weight_dtype="float", threshold_dtype="float", dash_dtype="float")
    out = {f"spec_{k}": np.asarray(v, np.float64) for k, v in spec.items()
           if k not in ("mapped_graph", "aliases")}
    if x is not None:
        with torch.no_grad():
            y = net(torch.as_tensor(np.transpose(x, (1, 0, 2)), dtype=torch.float32))
        y = y[0] if isinstance(y, tuple) else y
        out["rockpool_spikes"] = np.transpose(y.detach().numpy(), (1, 0, 2)).astype(np.float64)
    return out, [type(m).__name__ for _, m in net.named_children()]


def main(src: str, dst: str) -> None:
    t0 = time.perf_counter()
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    results: dict[str, np.ndarray] = {}
    modules: dict[str, list[str]] = {}
    for i, case in enumerate(meta["cases"]):
        if case["kind"] == "nir":
            res, modules[str(i)] = nir_case(case["path"], arrays.get(f"c{i}_x"))
        else:
            if case["kind"] == "file":
                spec = load_spec(case["path"])
            else:
                spec = {k: arrays[f"c{i}_{k}"] for k in SPEC_KEYS if f"c{i}_{k}" in arrays}
                for k in ("weight_shift_in", "weight_shift_rec", "weight_shift_out"):
                    spec[k] = int(spec[k])
            res = run_case(case["chip"], spec, arrays[f"c{i}_x"])
        for key, value in res.items():
            results[f"c{i}_{key}"] = value
    info = {"rockpool": version("rockpool"), "xylosim": version("xylosim"), "cases": len(meta["cases"]),
            "modules": modules, "seconds": time.perf_counter() - t0}
    np.savez(dst, __meta__=np.array(json.dumps(info)), **results)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
