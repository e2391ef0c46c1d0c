"""The ``sinabs`` vendor venv: sinabs 3.1.3 (with its DYNAP-CNN / Speck backend), nir 1.0.8, nirtorch 2.6.

Recipe (``../shared/VENDOR_SIMS.md``, measured on Python 3.11, CPU):

1. ``torch==2.13.0`` first: the local CPU wheel, so nothing below can pull a CUDA build;
2. ``nir==1.0.8`` (with its deps h5py, numpy), ``pbr`` (sinabs' ``__init__`` reads its version through it) and
   ``matplotlib`` (``sinabs/network.py`` imports ``pylab`` at module level);
3. ``nirtorch==2.6`` and ``sinabs==3.1.3`` with ``--no-deps``: sinabs pins ``nir<=1.0.4`` (its NIR reader
   works with 1.0.8, measured) and requires ``samna``, which must never be installed (it downloads itself on
   import); torchvision is not used.

No patch is needed: sinabs' only import problem is samna, which the driver answers with an in-process import
hook (``drivers/sinabs_guard.py``, also run by the probe below) instead of editing sinabs' files.
"""

from __future__ import annotations

from ..env import DRIVERS_DIR, VendorRecipe, register_recipe

__all__ = ["RECIPE"]

_PROBE_BODY = """
install()
import json
import importlib.metadata as md
import nir, nirtorch, numpy, torch
import sinabs
from sinabs.backend.dynapcnn import DynapcnnNetwork
from sinabs.backend.dynapcnn.chip_factory import ChipFactory
ChipFactory("speck2fmodule").get_config_builder()
assert not torch.version.cuda, "the sinabs venv got a CUDA torch"
print(json.dumps({p: md.version(p) for p in ("sinabs", "nir", "nirtorch", "numpy", "torch")}))
"""

RECIPE = register_recipe(
    VendorRecipe(
        name="sinabs",
        summary="sinabs 3.1.3 DYNAP-CNN backend (Speck): the discretised DynapcnnNetwork forward, core "
                "placement",
        steps=(
            ("install", "torch==2.13.0"),
            ("install", "nir==1.0.8", "pbr", "matplotlib"),
            ("install", "--no-deps", "nirtorch==2.6", "sinabs==3.1.3"),
        ),
        probe=(DRIVERS_DIR / "sinabs_guard.py").read_text() + _PROBE_BODY,
    )
)
