"""The built-in vendor recipes, one module per vendor venv; each module calls ``register_recipe`` on import.

Recipes follow ``../shared/VENDOR_SIMS.md`` (measured installs on Python 3.11, CPU, no samna).
"""

from __future__ import annotations

import importlib
import pkgutil

__all__: list[str] = []

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
