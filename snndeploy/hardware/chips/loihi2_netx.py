"""Loihi 2 artifacts: a lava-dl netx HDF5 network, and what netx builds from it (modelled, then checked in
lava).

``write_artifacts(network, out_dir)`` writes ``loihi2_netx.h5`` (``lava.lib.dl.netx.hdf5.Network`` loads it
and runs it fixed-point) and ``loihi2_network.json`` (the integer network, ``Loihi2Network.to_dict``). The
HDF5 layout is lava-dl's export format: ``layer/<i>/{type="dense", shape, weight [N_out, N_in], bias,
neuron/{type="CUBA", iDecay, vDecay, vThMant, refDelay, gradedSpike}}``; the root attribute ``snndeploy``
holds the conversion contract (JSON) and ``input_message_bits`` the input mode, which netx takes as a
``Network(...)`` argument.

netx does not load parameters as written (lava-dl ``netx/hdf5.py`` ``Network.get_neuron_params``,
``create_dense``; ``netx/utils.py`` ``optimize_weight_bits``; ``netx/blocks/process.py`` ``Dense``,
``AbstractBlock._neuron``):

    du = iDecay − 1,  dv = vDecay,  vth = vThMant,  bias_mant = bias,  bias_exp = 6
    sign: INHIBITORY if max w < 0, EXCITATORY if min w ≥ 0, else MIXED (mixed weights clipped to [−256, 254])
    scale = min(127/max w, −128/min w) (MIXED) | −256/min w (INH.) | 255/max w (EXC.)
    s_b = floor(log2 scale) + [MIXED];   n = the largest n ≤ 8 with every w/2ⁿ an integer, minus [MIXED]
    Dense(weights = w << s_b, weight_exp = −s_b, num_weight_bits = 8 − s_b − n)   (sign_mode is not passed:
                                                                                    lava determines it again)

``netx_layer`` reproduces that. So a layer is written as its per-synapse integer contribution ``w_h``
(effective weights << weight_exp) and ``bias = (bias_mant << bias_exp) / 64``, and ``write_artifacts`` checks
that the layer netx will build contributes exactly the same; it raises ``ChipMappingError`` (layer, value,
limit) when netx cannot represent the layer: a contribution beyond [−256, 254] (mixed) / [0, 255] / [−256,
−1], a floor-shifted sum (weight_exp < 0 with weights not divisible by 2^−weight_exp), a bias that is not a
multiple of 64 or beyond 13 bits, an all-zero weight matrix (netx's exponent search divides by zero), or a
non-positive matrix with zeros (netx picks MIXED, lava then INHIBITORY, and the 255 clip and truncation change
the weights: measured, see the docs).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ...io import atomic_path, atomic_write
from .base import ChipMappingError
from .loihi2 import BIAS_MANT, Loihi2Layer, Loihi2Network, effective_weights

__all__ = [
    "NETX_FILE",
    "JSON_FILE",
    "CONTRACT",
    "write_artifacts",
    "write_netx",
    "read_netx",
    "netx_layer",
    "linear_weights",
]

NETX_FILE = "loihi2_netx.h5"
JSON_FILE = "loihi2_network.json"

#: The conversion contract stored in every artifact.
CONTRACT = {
    "format": "lava-dl netx hdf5 (CUBA dense layers)",
    "neuron": "lava LIF fixed_pt: u = u(4096-(du+1))>>12 + a<<6; v = v(4096-dv)>>12 + u + bias",
    "spike": "s = v > vth << 6",
    "reset": "v <- 0 on spike (u not reset)",
    "threshold": "strict: v > vth << 6",
    "time": "one algorithmic step per input step; each dense layer delays by one step",
    "bias": "netx bias_exp = 6: bias_mant << 6",
}


def linear_weights(layer: Loihi2Layer) -> np.ndarray | None:
    """Per-synapse integer contributions when the Dense is linear (``weight_exp ≥ 0``, or every effective
    weight divisible by ``2^−weight_exp``), else ``None`` (the right shift floors the sum, not each
    weight)."""
    w = effective_weights(layer.weights, layer.num_weight_bits, layer.sign_mode)
    e = layer.weight_exp
    if e >= 0:
        return w << e
    if np.any(w % (1 << -e)):
        return None
    return w >> -e


def netx_layer(
    name: str, weight: np.ndarray, bias: np.ndarray | None, i_decay: int, v_decay: int, vth: int
) -> Loihi2Layer:
    """The ``Dense`` + ``LIF`` that netx builds from one HDF5 dense layer (module docstring)."""
    w = np.asarray(weight, dtype=np.int64)
    w_max, w_min = int(w.max()), int(w.min())
    if w_max == 0 and w_min == 0:
        raise ChipMappingError(
            f"loihi2 layer {name!r}: netx cannot load an all-zero weight matrix "
            "(optimize_weight_bits takes log2(255/0))"
        )
    if w_max < 0:
        mixed, scale = 0, -256 / w_min
    elif w_min >= 0:
        mixed, scale = 0, 255 / w_max
    else:
        mixed = 1
        w = np.clip(w, -256, 254)
        w_max, w_min = int(w.max()), int(w.min())
        scale = min(127 / w_max if w_max > 0 else math.inf, -128 / w_min)
    s_b = int(math.floor(math.log2(scale))) + mixed
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    n -= mixed
    if s_b < 0:
        raise ChipMappingError(
            f"loihi2 layer {name!r}: netx would shift the weights by {s_b} bits (max |w| too "
            "large for its 8-bit synapse)"
        )
    return Loihi2Layer(
        name,
        w << s_b,
        vth=vth,
        du=int(i_decay) - 1,
        dv=v_decay,
        bias_mant=0 if bias is None else np.asarray(bias, dtype=np.int64),
        bias_exp=6,
        weight_exp=-s_b,
        num_weight_bits=8 - s_b - n,
        sign_mode=None,
    )


def _to_netx(layer: Loihi2Layer) -> tuple[np.ndarray, np.ndarray | None]:
    where = f"loihi2 layer {layer.name!r}"
    w_h = linear_weights(layer)
    if w_h is None:
        raise ChipMappingError(
            f"{where}: weight_exp = {layer.weight_exp} floors the summed input, which netx "
            f"cannot express (netx synapses are per-weight integers); use weight_exp >= 0"
        )
    bias = np.left_shift(layer.bias_mant, layer.bias_exp)
    if np.any(bias % 64):
        i = int(np.argmax(bias % 64 != 0))
        raise ChipMappingError(
            f"{where}: bias[{i}] = {int(bias[i])} (bias_mant << bias_exp) is not a multiple of "
            "64; netx fixes bias_exp = 6 (use bias_exp >= 6)"
        )
    bias_h = bias // 64
    if bias_h.min(initial=0) < BIAS_MANT[0] or bias_h.max(initial=0) > BIAS_MANT[1]:
        i = int(np.argmax((bias_h < BIAS_MANT[0]) | (bias_h > BIAS_MANT[1])))
        raise ChipMappingError(
            f"{where}: bias[{i}] = {int(bias[i])} needs bias_mant = {int(bias_h[i])} with netx's "
            f"bias_exp = 6, outside the 13-bit range {list(BIAS_MANT)}"
        )
    try:
        built = netx_layer(layer.name, w_h, bias_h, layer.du + 1, layer.dv, layer.vth)
    except ChipMappingError:
        raise
    except ValueError as exc:
        raise ChipMappingError(
            f"{where}: netx would build an invalid Dense from these weights: {exc}"
        ) from None
    back = linear_weights(built)
    if back is None or not np.array_equal(back, w_h):
        diff = None if back is None else int(np.argmax((back != w_h).ravel()))
        got = "a floor-shifted sum" if back is None else f"{int(back.flat[diff])} at flat index {diff}"
        raise ChipMappingError(
            f"{where}: netx would load weight {int(w_h.flat[diff or 0])} as {got} (its sign mode "
            f"and bit search: min {int(w_h.min())}, max {int(w_h.max())}); limit: mixed [-256, 254], "
            "excitatory "
            "[0, 255], inhibitory without zeros [-256, -1]"
        )
    return w_h, (bias_h if bias_h.any() else None)


def write_netx(
    path: str | Path,
    rows: list[dict[str, Any]],
    input_message_bits: int = 0,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a netx HDF5 file from HDF5-level layer records (no checks): ``name``, ``weight`` [N_out, N_in],
    ``bias`` [N_out] or None, ``iDecay``, ``vDecay``, ``vThMant``. ``write_artifacts`` is the checked entry
    point."""
    import h5py

    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["snndeploy"] = json.dumps(
            {**CONTRACT, "layers": [r["name"] for r in rows], "meta": meta or {}}
        )
        f.attrs["input_message_bits"] = int(input_message_bits)
        group = f.create_group("layer")
        for i, row in enumerate(rows):
            g = group.create_group(str(i))
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([len(row["weight"])], np.int64))
            g.create_dataset("weight", data=np.asarray(row["weight"], dtype=np.int64))
            if row.get("bias") is not None:
                g.create_dataset("bias", data=np.asarray(row["bias"], dtype=np.int64))
            g.attrs["name"] = row["name"]
            n = g.create_group("neuron")
            n.create_dataset("type", (1,), "S10", [b"CUBA"])
            for key in ("iDecay", "vDecay", "vThMant"):
                n.create_dataset(key, data=np.int64(row[key]))
            n.create_dataset("refDelay", data=np.int64(1))
            n.create_dataset("gradedSpike", data=False)
    return path


def write_artifacts(network: Loihi2Network, out_dir: str | Path) -> list[Path]:
    """Write ``loihi2_netx.h5`` and ``loihi2_network.json`` into ``out_dir`` (module docstring); returns both
    paths.

    Raises ``ChipMappingError`` naming the layer when netx would not run the network exactly as given.
    """
    out = Path(out_dir)
    rows = []
    for layer in network.layers:
        w_h, bias_h = _to_netx(layer)
        rows.append(
            {
                "name": layer.name,
                "weight": w_h,
                "bias": bias_h,
                "iDecay": layer.du + 1,
                "vDecay": layer.dv,
                "vThMant": layer.vth,
            }
        )
    h5 = write_netx(out / NETX_FILE, rows, network.input_message_bits, network.meta)
    js = out / JSON_FILE
    with atomic_write(js) as fh:
        json.dump(network.to_dict(), fh)
    return [h5, js]


def read_netx(path: str | Path) -> Loihi2Network:
    """The ``Loihi2Network`` that ``lava.lib.dl.netx.hdf5.Network`` builds from a dense CUBA netx file."""
    import h5py

    layers = []
    with h5py.File(path, "r") as f:
        imb = int(f.attrs.get("input_message_bits", 0))
        for key in sorted(f["layer"].keys(), key=int):
            g = f["layer"][key]
            kind = g["type"][0].decode("ascii") if g["type"].shape else g["type"][()].decode("ascii")
            if kind == "input":
                continue
            if kind != "dense":
                raise ChipMappingError(
                    f"{path}: layer {key} is {kind!r}; read_netx models dense CUBA layers only"
                )
            n = g["neuron"]
            name = str(g.attrs.get("name", f"layer{key}"))
            layers.append(
                netx_layer(
                    name,
                    g["weight"][()],
                    g["bias"][()] if "bias" in g else None,
                    int(n["iDecay"][()]),
                    int(n["vDecay"][()]),
                    int(n["vThMant"][()]),
                )
            )
    return Loihi2Network(tuple(layers), input_message_bits=imb)
