"""Vendor venv ``xylosim``: SynSense rockpool 3.1.0 + the C++ bit-accurate Xylo simulator xylosim 0.1.3
(no samna).

Measured recipe (``../shared/VENDOR_SIMS.md``, Python 3.11, CPU):

1. torch 2.13.0 (the local CPU wheel; only rockpool's NIR reader ``rockpool.nn.modules.torch.nir`` needs it);
2. numpy, scipy, nir 1.0.8 and the build tools xylosim's ``setup.py`` imports (pybind11, setuptools, wheel);
3. rockpool 3.1.0 and nirtorch 2.6 without dependencies (rockpool's ``[xylo]`` extra would pull samna and
   jax);
4. xylosim 0.1.3 from its sdist without build isolation (compiles ``src/v2/cpp`` with pybind11 in about 20 s).

Patch: ``rockpool/devices/xylo/syns65302/__init__.py`` imports ``afe_samna_pdm`` and
``syns63300.power_cycles_model`` outside the ``try/except`` that guards its other samna-only imports, so
``import rockpool.devices.xylo`` fails without samna. ``_patch`` moves both imports under the same guard,
which then installs rockpool's own placeholders (``missing_backend_shim``). The real samna is never installed:
its package downloads itself on import.
"""

from __future__ import annotations

from pathlib import Path

from snndeploy.errors import InvalidFileError
from snndeploy.io import atomic_write

from ..env import VendorRecipe, register_recipe

__all__ = ["RECIPE"]

_GUARDED = (
    "try:\n"
    "    {line}\n"
    "except ImportError:  # snndeploy patch: samna-only module, guarded like the imports below\n"
    "    pass\n"
)
_UNGUARDED = ("from .afe_samna_pdm import *", "from ..syns63300.power_cycles_model import *")


def _patch(site_packages: Path) -> None:
    """Guard the two samna-only imports of rockpool's ``syns65302/__init__.py`` (idempotent)."""
    init = Path(site_packages) / "rockpool" / "devices" / "xylo" / "syns65302" / "__init__.py"
    text = init.read_text()
    lines = text.splitlines(keepends=True)
    found = 0
    for i, line in enumerate(lines):
        if line.rstrip("\n") in _UNGUARDED:  # only top-level (unindented) occurrences
            lines[i] = _GUARDED.format(line=line.strip())
            found += 1
    if found != len(_UNGUARDED) and "snndeploy patch" not in text:
        raise InvalidFileError(f"{init}: expected the unguarded imports {_UNGUARDED} (rockpool 3.1.0); "
                               f"found {found}")
    if found:
        with atomic_write(init) as fh:
            fh.write("".join(lines))


_PROBE = r"""
import json
from importlib.metadata import version
import numpy as np
import rockpool, xylosim, nir, nirtorch, torch
from rockpool.devices.xylo import syns61201, syns63300, syns65302
from rockpool.transform.quantize_methods import channel_quantize
from rockpool.nn.modules.torch.nir import from_nir
from xylosim.v2 import XyloLayer, XyloSynapse

sim = syns61201.XyloSim.from_specification(
    weights_in=np.array([[[3, 0]]], "int8"), weights_out=np.array([[2]], "int8"),
    dash_mem=[1], dash_syn=[1], dash_syn_2=[1], dash_mem_out=[1], dash_syn_out=[1],
    threshold=[2], threshold_out=[1])
out, _, _ = sim(np.array([[1], [0], [0]]), record=True)
assert out.tolist() == [[0], [1], [0]], out.tolist()
print(json.dumps({"rockpool": rockpool.__version__, "xylosim": version("xylosim"), "numpy": np.__version__,
                  "nir": version("nir"), "nirtorch": version("nirtorch"),
                  "torch": torch.__version__}))
"""

RECIPE = register_recipe(VendorRecipe(
    name="xylosim",
    summary="SynSense Xylo (Audio 2/3, IMU): rockpool 3.1.0 + the C++ bit-accurate xylosim 0.1.3 (no samna)",
    steps=(
        ("install", "-q", "torch==2.13.0"),
        ("install", "-q", "numpy<3", "scipy", "nir==1.0.8", "pybind11>=2.10", "setuptools", "wheel"),
        ("install", "-q", "--no-deps", "rockpool==3.1.0", "nirtorch==2.6"),
        ("install", "-q", "--no-deps", "--no-build-isolation", "xylosim==0.1.3"),
    ),
    probe=_PROBE,
    patch=_patch,
))
