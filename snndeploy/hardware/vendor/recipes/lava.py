"""The ``lava`` vendor venv: lava-nc 0.10.0 (bit-accurate ``fixed_pt`` Dense + LIF) and lava-dl 0.6.0 (netx).

Recipe (``../shared/VENDOR_SIMS.md``, measured on Python 3.11, CPU):

1. ``torch==2.13.0`` (lava-dl's netx imports ``lava.lib.dl.slayer``, which imports torch) together with what
   lava imports: ``numpy<2`` (lava's pin), ``asteval<0.10`` (``lava.magma.core.learning``),
   ``networkx<=2.8.7`` (the compiler's graphs), ``scipy``, ``h5py`` (netx) and ``matplotlib``
   (``slayer/io.py`` and ``slayer/utils/stats.py`` import pyplot at module level). scikit-learn, ninja,
   unittest2, pytest and opencv from the wheels' metadata are not imported on any path the drivers use, and
   are left out.
2. Both lava wheels declare ``Requires-Python <3.11`` but are pure Python: download them for 3.10 with
   ``--no-deps`` and install them with ``--ignore-requires-python``.

``patch`` fixes two import problems (edits in the venv's own copy, checked to apply exactly once):

- ``lava/magma/compiler/var_model.py`` declares dataclass fields with a mutable default (``x: ByteEncoder =
  ByteEncoder()``), which Python 3.11 rejects at import; they become ``field(default_factory=ByteEncoder)``.
- ``lava/lib/dl/slayer/__init__.py`` imports ``object_detection``, which needs OpenCV, PIL and a torchvision
  built for this torch (PyPI's is CUDA-linked); netx never uses it, so the import is made optional (``obd =
  None``).
"""

from __future__ import annotations

from pathlib import Path

from ....io import atomic_write
from ..env import VendorError, VendorRecipe, register_recipe

__all__ = ["RECIPE"]

_LAVA = "lava_nc-0.10.0-py3-none-any.whl"
_LAVA_DL = "lava_dl-0.6.0-py3-none-any.whl"


def _patch_lava(site: Path) -> None:
    """Make lava-nc 0.10.0 and lava-dl 0.6.0 importable on Python 3.11 without OpenCV/torchvision."""

    def edit(rel: str, old: str, new: str, count: int) -> None:
        path = site / rel
        text = path.read_text()
        found = text.count(old)
        if found != count:
            raise VendorError(f"vendor venv 'lava': patch of {rel}: expected {count} occurrence(s) of "
                              f"{old!r}, found {found} (a different lava release?)")
        with atomic_write(path) as fh:
            fh.write(text.replace(old, new))

    edit("lava/magma/compiler/var_model.py", ": ByteEncoder = ByteEncoder()",
         ": ByteEncoder = field(default_factory=ByteEncoder)", 8)
    edit("lava/magma/compiler/var_model.py", "from dataclasses import dataclass, InitVar\n",
         "from dataclasses import dataclass, InitVar, field\n", 1)
    edit("lava/lib/dl/slayer/__init__.py", "from . import object_detection as obd\n",
         "try:  # snndeploy: needs OpenCV, PIL and torchvision; netx does not use it\n"
         "    from . import object_detection as obd\nexcept ImportError:\n    obd = None\n", 1)


_PROBE = """
import json
import importlib.metadata as md
import numpy, torch, h5py
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.lif.models import PyLifModelBitAcc
from lava.proc.dense.models import PyDenseModelBitAcc
from lava.proc.io.source import RingBuffer
from lava.proc.monitor.process import Monitor
from lava.lib.dl.netx import hdf5
print(json.dumps({p: md.version(p) for p in ("lava-nc", "lava-dl", "numpy", "h5py", "torch")}))
"""

RECIPE = register_recipe(
    VendorRecipe(
        name="lava",
        summary="lava-nc 0.10.0 fixed_pt Dense + LIF (Loihi2SimCfg), lava-dl 0.6.0 netx HDF5 loader: Loihi 2",
        steps=(
            ("install", "torch==2.13.0", "numpy<2", "asteval>=0.9.31,<0.10", "networkx<=2.8.7", "scipy",
             "h5py", "matplotlib"),
            ("download", "--no-deps", "--python-version", "3.10", "--only-binary=:all:", "lava-nc==0.10.0",
             "lava-dl==0.6.0", "-d", "{dl}"),
            ("install", "--no-deps", "--ignore-requires-python", f"{{dl}}/{_LAVA}", f"{{dl}}/{_LAVA_DL}"),
        ),
        probe=_PROBE,
        patch=_patch_lava,
    )
)
