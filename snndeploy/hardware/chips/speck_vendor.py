"""The bridge to sinabs' code for Speck: run ``SpeckNetwork``s through ``DynapcnnNetwork`` in the vendor venv.

The ``sinabs`` vendor venv (``snndeploy/hardware/vendor/recipes/sinabs.py``) runs the driver
``drivers/sinabs_run.py``. The vendor reference is the discretised ``DynapcnnNetwork`` forward pass (sinabs
3.1.3 ``backend/dynapcnn``): it stands in for the chip simulator, which lives in samna and is never installed.

How an integer network reaches sinabs: each layer's parameters are sent as float32 ``q·c`` (``c`` a positive
per-layer factor, 1 by default) and ``DynapcnnNetwork(discretize=True)`` rediscretises them with its own rule
(``discretize.py`` ``_discretize_conv_spk_``). That returns exactly ``q`` when the layer sits on the edge of
the grid (its scale by sinabs' rule is 1/c: some weight or bias at −128/127, or θ or ``min_v_mem`` at the
16-bit edge), which every ``map_model`` result does. A layer off the edge would be scaled up by sinabs, so
such networks run with ``discretize=False`` (the same ``DynapcnnLayer`` forward on the integers as given).
The driver returns the parameters sinabs ended with, so a test can check that its discretisation gave back
ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InvalidParameterError
from ..vendor import run_driver
from .base import ChipRun
from .speck import SpeckNetwork
from .speck_scale import discretization_scale

__all__ = ["VENDOR_ENV", "DRIVER", "VendorLayerParams", "SpeckVendorResult", "vendor_run_many",
           "vendor_run", "place_on_cores", "on_grid_edge", "run_artifact", "probe_nir"]

VENDOR_ENV = "sinabs"
DRIVER = "sinabs_run"


@dataclass(frozen=True)
class VendorLayerParams:
    """A layer's parameters as sinabs held them when it ran (after its discretisation), as integers."""

    weight: np.ndarray
    bias: np.ndarray
    threshold: int
    min_v_mem: int


@dataclass(frozen=True)
class SpeckVendorResult:
    """One network run by sinabs: spikes/states (``ChipRun``), the parameters it used, whether it discretised,
    and the core placement (``{"fits": bool, "cores": {layer: core}}`` or ``{"fits": False, "error": ...}``).
    """

    run: ChipRun
    params: tuple[VendorLayerParams, ...]
    discretized: bool
    placement: dict[str, Any] = field(default_factory=dict)


def on_grid_edge(network: SpeckNetwork) -> bool:
    """True when sinabs' discretisation scale of every layer's integers is exactly 1 (leaves them as is)."""
    return all(discretization_scale(lyr.weight, lyr.bias, lyr.threshold, lyr.min_v_mem) == 1.0
               for lyr in network.layers)


def _as_int(a: np.ndarray, what: str) -> np.ndarray:
    r = np.rint(a)
    if not np.array_equal(r, a):
        dev = np.abs(r - a).max()
        raise InvalidParameterError(f"sinabs returned non-integer {what} (max deviation {dev})")
    return r.astype(np.int64)


def vendor_run_many(
    cases: Sequence[tuple[SpeckNetwork, np.ndarray]],
    factors: Sequence[Sequence[float] | None] | None = None,
    place: bool = False,
    float_params: Sequence[Sequence[tuple[Any, Any, float, float]] | None] | None = None,
    timeout: float = 900,
) -> list[SpeckVendorResult]:
    """Run every (network, x) case through sinabs in one driver call (module docstring).

    Args:
        cases: networks and their inputs ``[T, B, C, H, W]`` (int event counts).
        factors: per case, per layer, the factor c of the float parameters q·c sent to sinabs (``None``: 1).
            With any factor, the case runs with ``discretize=True``, else only when ``on_grid_edge``.
        place: also ask ``map_layers_to_cores`` for a core placement.
        float_params: per case, per layer (weight, bias or None, threshold, min_v_mem) floats to send instead
            of q·c (e.g. a mapping's ``LayerScale`` values): sinabs discretises them itself
            (``discretize=True``), so comparing its parameters with the network's checks ``map_model``'s
            rounding.
    """
    arrays: dict[str, np.ndarray] = {}
    metas = []
    for i, (net, x) in enumerate(cases):
        x = net._check_input(x).numpy()
        fac = None if factors is None else factors[i]
        flt = None if float_params is None else float_params[i]
        for what, per in (("factors", fac), ("float_params", flt)):
            if per is not None and len(per) != len(net.layers):
                raise InvalidParameterError(f"case {i}: {len(per)} {what} for {len(net.layers)} layers")
        arrays[f"c{i}_x"] = x
        for j, lyr in enumerate(net.layers):
            c = 1.0 if fac is None else float(fac[j])
            arrays[f"c{i}_l{j}_w"] = (lyr.weight * c).astype(np.float32)
            if lyr.bias is not None:
                arrays[f"c{i}_l{j}_b"] = (lyr.bias * c).astype(np.float32)
            arrays[f"c{i}_l{j}_th"] = (np.array([lyr.threshold, lyr.min_v_mem]) * c).astype(np.float32)
            if flt is not None:
                fw, fb, fth, fmv = flt[j]
                arrays[f"c{i}_l{j}_w"] = np.asarray(fw, dtype=np.float32).reshape(lyr.weight.shape)
                arrays.pop(f"c{i}_l{j}_b", None)
                if fb is not None:
                    arrays[f"c{i}_l{j}_b"] = np.asarray(fb, dtype=np.float32)
                arrays[f"c{i}_l{j}_th"] = np.array([fth, fmv], dtype=np.float32)
        metas.append({
            "input_shape": list(net.input_shape), "batch": int(x.shape[1]), "T": int(x.shape[0]),
            "layers": [{"kind": lyr.kind, "stride": lyr.stride, "padding": lyr.padding, "pool": lyr.pool}
                       for lyr in net.layers],
            "discretize": fac is not None or flt is not None or on_grid_edge(net), "place": place,
        })
    out, meta = run_driver(VENDOR_ENV, DRIVER, arrays, {"mode": "run", "cases": metas}, timeout=timeout)
    return [_result(net, out, f"c{i}", metas[i]["discretize"], meta["cases"][i])
            for i, (net, _) in enumerate(cases)]


def _result(net: SpeckNetwork, out: dict[str, np.ndarray], prefix: str, discretized: bool,
            info: dict[str, Any]) -> SpeckVendorResult:
    spikes, states, params = [], [], []
    for j, (lyr, (_, neurons, _)) in enumerate(zip(net.layers, net.shapes(), strict=True)):
        s = _as_int(out[f"{prefix}_l{j}_s"], f"spikes of layer {lyr.name!r}")
        v = _as_int(out[f"{prefix}_l{j}_v"], f"v_mem of layer {lyr.name!r}")
        shape = (neurons[0],) if lyr.kind == "linear" else neurons
        spikes.append(s.reshape(*s.shape[:2], *shape))
        states.append(v.reshape(*v.shape[:2], *shape))
        th, mv = _as_int(out[f"{prefix}_l{j}_qth"], "thresholds")
        w = _as_int(out[f"{prefix}_l{j}_qw"], "weights")
        bias = _as_int(out[f"{prefix}_l{j}_qb"], "bias")
        params.append(VendorLayerParams(w.reshape(lyr.weight.shape), bias, int(th), int(mv)))
    placement = {k: v for k, v in info.items() if k in ("fits", "cores", "error")}
    run = ChipRun(tuple(spikes), {"v": tuple(states)})
    return SpeckVendorResult(run, tuple(params), discretized, placement)


def vendor_run(network: SpeckNetwork, x: np.ndarray) -> ChipRun:
    """``network`` on ``x`` through sinabs' ``DynapcnnNetwork`` forward (``ChipSupport.vendor_run``)."""
    return vendor_run_many([(network, x)])[0].run


def place_on_cores(network: SpeckNetwork) -> dict[str, Any]:
    """sinabs' core placement of ``network`` on speck2fmodule (``map_layers_to_cores``): ``{"fits": True,
    "cores": {layer index: core}}`` or ``{"fits": False, "error": "ValueError: No valid mapping found ..."}``.
    """
    c, h, w = network.input_shape
    x = np.zeros((1, 1, c, h, w), dtype=np.int64)
    return vendor_run_many([(network, x)], place=True)[0].placement


def run_artifact(nir_path: str | Path, network: SpeckNetwork, x: np.ndarray) -> SpeckVendorResult:
    """Load ``nir_path`` (written by ``speck_nir.write_artifacts``) with sinabs' own reader (``nir.read`` +
    ``sinabs.from_nir``), build ``DynapcnnNetwork(discretize=True)``, place it on cores and run ``x`` on it.
    ``network`` gives the layer shapes (the result's arrays are shaped like ``network.run``'s)."""
    events = network._check_input(x).numpy()
    meta = {"mode": "artifact", "nir": str(Path(nir_path).resolve()), "batch": int(events.shape[1])}
    out, info = run_driver(VENDOR_ENV, DRIVER, {"x": events}, meta)
    res = _result(network, out, "a", True, info.get("place", {}))
    return SpeckVendorResult(res.run, res.params, True, {**res.placement, "modules": info.get("modules", [])})


def probe_nir(files: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """What sinabs makes of NIR files (driver mode ``probe``, one call), per ``(path, input_shape[,
    type_check])`` (``nir.read``'s type check, off by default): ``{"read", "from_nir", "dynapcnn": "ok" or the
    error, "modules": [imported module types], "layers": number of DYNAP-CNN layers, "place": placement}``."""
    meta = {"mode": "probe", "files": [{"nir": str(Path(f[0]).resolve()), "input_shape": list(f[1]),
                                        "type_check": bool(f[2]) if len(f) > 2 else False} for f in files]}
    _, info = run_driver(VENDOR_ENV, DRIVER, {}, meta)
    return list(info["reports"])
