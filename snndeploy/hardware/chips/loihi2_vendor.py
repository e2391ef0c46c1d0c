"""Run ``Loihi2Network``s through lava's own bit-accurate models in the ``lava`` vendor venv.

``vendor_run(network, x)`` and the batched ``vendor_run_many([(network, x), ...])`` pack networks and inputs
into the npz protocol of ``snndeploy/hardware/vendor/drivers/lava_dense_lif.py`` (one subprocess for all
cases; the driver lays cases side by side in as few lava runs as their Dense scalars allow) and return
``ChipRun``s in the layout of ``Loihi2Network.run``: spikes, ``u`` and ``v`` per layer, ``[T, B, N]`` int64.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..vendor import run_driver
from .base import ChipRun
from .loihi2 import Loihi2Network

__all__ = ["vendor_run", "vendor_run_many", "pack_cases", "netx_run_many"]

DRIVER = "lava_dense_lif"
NETX_DRIVER = "lava_netx"


def pack_cases(
    cases: Sequence[tuple[Loihi2Network, Any]], states: Sequence[str] = ("u", "v")
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The driver's arrays and meta for ``cases`` (each input validated by its network); ``states``: which of
    ``u``, ``v`` lava records besides the spikes."""
    arrays: dict[str, np.ndarray] = {}
    metas = []
    for i, (net, x) in enumerate(cases):
        arrays[f"c{i}_x"] = net.check_input(x)
        layers = []
        for j, layer in enumerate(net.layers):
            arrays[f"c{i}_l{j}_w"] = layer.weights
            arrays[f"c{i}_l{j}_bm"] = layer.bias_mant
            arrays[f"c{i}_l{j}_be"] = layer.bias_exp
            layers.append(
                {
                    "weight_exp": layer.weight_exp,
                    "num_weight_bits": layer.num_weight_bits,
                    "sign_mode": layer.sign_mode,
                    "du": layer.du,
                    "dv": layer.dv,
                    "vth": layer.vth,
                }
            )
        metas.append({"input_message_bits": net.input_message_bits, "layers": layers})
    return arrays, {"cases": metas, "states": list(states)}


def vendor_run_many(
    cases: Sequence[tuple[Loihi2Network, Any]], states: Sequence[str] = ("u", "v"), timeout: float = 1800
) -> tuple[list[ChipRun], dict[str, Any]]:
    """Run every ``(network, x)`` in lava (one driver call); returns the runs and the driver's meta (versions,
    number of lava runs, seconds). ``states``: which of ``u``, ``v`` to record (each costs one lava process
    per layer and run; ``()`` records spikes only)."""
    if not cases:
        return [], {}
    arrays, meta = pack_cases(cases, states)
    out, info = run_driver("lava", DRIVER, arrays, meta, timeout=timeout)
    runs = []
    for i, (net, _) in enumerate(cases):
        n = len(net.layers)
        spikes = tuple(out[f"c{i}_l{j}_s"] for j in range(n))
        st = {k: tuple(out[f"c{i}_l{j}_{k}"] for j in range(n)) for k in states}
        runs.append(ChipRun(spikes, st))
    return runs, info


def vendor_run(network: Loihi2Network, x: Any) -> ChipRun:
    """``x`` ``[T, B, N_in]`` through lava's ``fixed_pt`` RingBuffer -> Dense -> LIF models (spikes, u, v)."""
    runs, _ = vendor_run_many([(network, x)])
    return runs[0]


def netx_run_many(
    items: Sequence[tuple[str | Path, Any]], states: bool = True, timeout: float = 1800
) -> tuple[list[ChipRun], dict[str, Any]]:
    """Load each netx HDF5 file with lava-dl's ``netx.hdf5.Network`` and run its input ``[T, B, N_in]`` (one
    lava run per sample, one driver call for all); returns the runs and the driver's meta (``loaded``: the
    Dense and LIF parameters netx chose per file and layer)."""
    if not items:
        return [], {}
    arrays = {f"f{i}_x": np.asarray(x, dtype=np.int64) for i, (_, x) in enumerate(items)}
    meta = {"files": [str(Path(p).resolve()) for p, _ in items], "states": states}
    out, info = run_driver("lava", NETX_DRIVER, arrays, meta, timeout=timeout)
    runs = []
    for i, params in enumerate(info["loaded"]):
        n = len(params)
        spikes = tuple(out[f"f{i}_l{j}_s"] for j in range(n))
        st = {k: tuple(out[f"f{i}_l{j}_{k}"] for j in range(n)) for k in ("u", "v")} if states else {}
        runs.append(ChipRun(spikes, st))
    return runs, info
