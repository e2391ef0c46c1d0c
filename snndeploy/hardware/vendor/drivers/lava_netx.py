"""Driver (runs in the ``lava`` venv): load netx HDF5 networks with lava-dl's own loader and run them
fixed-point.

``python lava_netx.py IN.npz OUT.npz``. IN holds ``__meta__`` (JSON) ``{"files": [path, ...], "states":
bool}`` and per file ``f{i}_x`` ``[T, B, N_in]`` integers. For each file and batch sample:
``lava.lib.dl.netx.hdf5.Network(net_config=path, input_message_bits=<the file's input_message_bits
attribute>)``, fed by a fixed-point ``RingBuffer`` through ``Network.inp``, one ``Monitor`` per probed target
(each layer's neuron ``s_out``, ``u``, ``v``), run ``T`` steps under ``Loihi2SimCfg(select_tag="fixed_pt")``.
OUT holds ``f{i}_l{j}_s`` (and ``_u``, ``_v``) ``[T, B, N]`` int64 and ``__meta__`` with the loaded layer
parameters netx chose (``du``, ``dv``, ``vth``, ``weight_exp``, ``num_weight_bits``) and the versions.

Imports only numpy, h5py and lava (never snndeploy).
"""

from __future__ import annotations

import json
import sys

import h5py
import numpy as np
from lava.lib.dl.netx.hdf5 import Network
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.source import RingBuffer
from lava.proc.monitor.process import Monitor


def _scalar(var) -> int:
    return int(np.asarray(var.init).ravel()[0])


def _run_one(path: str, x: np.ndarray, states: bool) -> tuple[list[dict[str, np.ndarray]], list[dict]]:
    with h5py.File(path, "r") as f:
        imb = int(f.attrs.get("input_message_bits", 0))
    net = Network(net_config=path, input_message_bits=imb)
    src = RingBuffer(data=x.T.astype(np.int32))
    src.s_out.connect(net.inp)
    t_steps = x.shape[0]
    probes = []
    for block in net.layers:
        row = []
        neuron = block.neuron
        targets = [("s", neuron.s_out, "s_out")] + (
            [("u", neuron.u, "u"), ("v", neuron.v, "v")] if states else []
        )
        for key, target, name in targets:
            mon = Monitor()  # lava's PyMonitorModel has ports for one probe only
            mon.probe(target, t_steps)
            row.append((key, mon, name))
        probes.append((neuron, row))
    params = [
        {
            "du": _scalar(b.neuron.du),
            "dv": _scalar(b.neuron.dv),
            "vth": _scalar(b.neuron.vth),
            "weight_exp": int(b.synapse.proc_params["weight_exp"]),
            "num_weight_bits": int(b.synapse.proc_params["num_weight_bits"]),
        }
        for b in net.layers
    ]
    net.run(condition=RunSteps(num_steps=t_steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    try:
        out = [
            {
                key: np.rint(np.asarray(mon.get_data()[neuron.name][name], dtype=np.float64)).astype(np.int64)
                for key, mon, name in row
            }
            for neuron, row in probes
        ]
    finally:
        net.stop()
    return out, params


def main(src: str, dst: str) -> None:
    with np.load(src, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
    states = bool(meta.get("states", True))
    out: dict[str, np.ndarray] = {}
    loaded = []
    for i, path in enumerate(meta["files"]):
        x = arrays[f"f{i}_x"]
        per_sample = []
        params: list[dict] = []
        for b in range(x.shape[1]):
            rec, params = _run_one(path, x[:, b, :], states)
            per_sample.append(rec)
        loaded.append(params)
        for j in range(len(params)):
            for key in per_sample[0][j]:
                out[f"f{i}_l{j}_{key}"] = np.stack([rec[j][key] for rec in per_sample], axis=1)
    import importlib.metadata as md

    info = {"loaded": loaded, "versions": {p: md.version(p) for p in ("lava-nc", "lava-dl", "numpy")}}
    np.savez(dst, __meta__=np.array(json.dumps(info)), **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
