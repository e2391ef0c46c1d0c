"""The Xylo vendor side: run networks in rockpool's ``XyloSim`` (C++ xylosim, ``xylosim`` venv) and
write/reload the specification files.

Artifacts (``write_artifacts``). rockpool saves Xylo *configurations* only through samna
(``syns61201/xylo_samna.py`` ``save_config``/``load_config`` call
``XyloConfiguration.to_json``/``from_json``), which cannot be installed here. Its *specification* (what
``mapper`` + ``channel_quantize`` return and what
``XyloSim.from_specification`` / ``config_from_specification`` take) has no file format of its own, so it is
written twice, with exactly rockpool's keyword names and nothing else:

- ``xylo_spec.npz``: numpy's archive; ``XyloSim.from_specification(**numpy.load(path))`` rebuilds the
  simulator;
- ``xylo_spec.json``: ``{"format", "chip", "rockpool_module", "spec": {name: nested lists}}`` for readers
  without numpy (``from_specification(**{k: numpy.asarray(v) for k, v in doc["spec"].items()})``).

The driver (``vendor/drivers/xylosim_run.py``) reads both with numpy/json only and runs them in rockpool.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InvalidParameterError
from ...io import atomic_path, atomic_write
from ..vendor import run_driver
from .base import ChipRun
from .xylo import XyloNetwork

__all__ = ["VendorJob", "vendor_batch", "vendor_run", "vendor_run_many", "write_artifacts", "read_artifact",
           "vendor_load_run", "ROCKPOOL_MODULE", "SPEC_FORMAT"]

#: rockpool module whose ``XyloSim.from_specification`` loads the spec, per chip.
ROCKPOOL_MODULE = {"xylo_audio2": "rockpool.devices.xylo.syns61201",
                   "xylo_audio3": "rockpool.devices.xylo.syns65302",
                   "xylo_imu": "rockpool.devices.xylo.syns63300"}
SPEC_FORMAT = "rockpool.XyloSim.from_specification/v1"
_DRIVER = "xylosim_run"
_ENV = "xylosim"


def _to_run(out: dict[str, np.ndarray], i: int) -> ChipRun:
    g = lambda k: out[f"c{i}_{k}"].astype(np.int64)  # noqa: E731
    return ChipRun(spikes=(g("s"), g("so")),
                   states={"v": (g("v"), g("vo")), "i": (g("i"), g("io")), "i2": (g("i2"),)})


@dataclass(frozen=True)
class VendorJob:
    """One case for the vendor driver: a ``network`` (kind ``spec``), an artifact ``path`` (``file``) or a NIR
    file (``nir``), with events ``x`` ``[T, B, N_in]`` (for ``nir``: float inputs for rockpool's torch
    simulation)."""

    kind: str
    x: np.ndarray | None
    network: XyloNetwork | None = None
    path: Path | None = None
    chip: str = "xylo_audio2"


def vendor_batch(jobs: Sequence[VendorJob], timeout: float = 900) -> list[Any]:
    """Run every job in one driver call: a ``ChipRun`` per ``spec``/``file`` job; per ``nir`` job a dict with
    rockpool's float specification (``spec``), its torch simulation's spikes (``spikes``) and ``modules``."""
    arrays: dict[str, np.ndarray] = {}
    meta_cases = []
    for i, job in enumerate(jobs):
        if job.kind == "spec" and job.network is not None:
            arrays[f"c{i}_x"] = job.network.check_input(job.x)
            arrays.update({f"c{i}_{k}": np.asarray(v) for k, v in job.network.to_spec().items()})
            meta_cases.append({"kind": "spec", "chip": job.network.chip})
        elif job.kind in ("file", "nir") and job.path is not None:
            if job.x is not None:
                arrays[f"c{i}_x"] = np.asarray(job.x, np.int64 if job.kind == "file" else np.float64)
            meta_cases.append({"kind": job.kind, "chip": job.chip, "path": str(Path(job.path).resolve())})
        else:
            raise InvalidParameterError(f"vendor job {i}: kind {job.kind!r} needs a network (spec) or a path "
                                        "(file, nir)")
    out, meta = run_driver(_ENV, _DRIVER, arrays, {"cases": meta_cases}, timeout=timeout)
    results: list[Any] = []
    for i, job in enumerate(jobs):
        if job.kind == "nir":
            pre = f"c{i}_spec_"
            results.append({"spec": {k[len(pre):]: v for k, v in out.items() if k.startswith(pre)},
                            "spikes": out.get(f"c{i}_rockpool_spikes"), "modules": meta["modules"][str(i)]})
        else:
            results.append(_to_run(out, i))
    return results


def vendor_run_many(cases: Sequence[tuple[XyloNetwork, np.ndarray]], timeout: float = 900) -> list[ChipRun]:
    """Run every ``(network, x [T, B, N_in])`` in rockpool's XyloSim, all in one driver call (one
    subprocess)."""
    return vendor_batch([VendorJob("spec", x, network=net) for net, x in cases], timeout)


def vendor_run(network: XyloNetwork, x: np.ndarray) -> ChipRun:
    """``network`` on ``x`` ``[T, B, N_in]`` in rockpool's XyloSim (same layout as ``XyloNetwork.run``)."""
    return vendor_run_many([(network, x)])[0]


def write_artifacts(network: XyloNetwork, out_dir: Path) -> list[Path]:
    """Write ``xylo_spec.npz`` and ``xylo_spec.json`` (module docstring) into ``out_dir``; return their
    paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = network.to_spec()
    npz = out / "xylo_spec.npz"
    with atomic_path(npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in spec.items()})
    doc: dict[str, Any] = {"format": SPEC_FORMAT, "chip": network.chip,
                           "rockpool_module": ROCKPOOL_MODULE[network.chip],
                           "spec": network.to_dict()["spec"]}
    js = out / "xylo_spec.json"
    with atomic_write(js) as fh:
        json.dump(doc, fh)
    return [npz, js]


def read_artifact(path: Path, chip: str | None = None) -> XyloNetwork:
    """Read a file written by ``write_artifacts`` back into a ``XyloNetwork`` (validated)."""
    p = Path(path)
    if p.suffix == ".json":
        doc = json.loads(p.read_text())
        return XyloNetwork.from_spec(chip or doc["chip"], {k: np.asarray(v) for k, v in doc["spec"].items()})
    with np.load(p, allow_pickle=False) as z:
        spec = {k: z[k] for k in z.files}
    return XyloNetwork.from_spec(chip or "xylo_audio2", spec)


def vendor_load_run(items: Sequence[tuple[Path, str, np.ndarray]], timeout: float = 900) -> list[ChipRun]:
    """Load each ``(artifact path, chip, x)`` with rockpool's own ``from_specification`` and run it (one
    call)."""
    return vendor_batch([VendorJob("file", x, path=Path(p), chip=chip) for p, chip, x in items], timeout)
