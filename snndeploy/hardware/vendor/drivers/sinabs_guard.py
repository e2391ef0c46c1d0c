"""Keep the real ``samna`` out of the sinabs venv: an import hook serving inert ``samna``, ``samnagui``.

``sinabs.backend.dynapcnn`` imports samna at module level (``dynapcnn_network.py``, ``io.py``,
``config_builder.py``, ``chips/speck2e.py``/``speck2f.py``: ``from samna.speck2f.configuration import
SpeckConfiguration``; ``io.py`` also imports ``samnagui``), but building, discretising and running a
``DynapcnnNetwork`` and placing it on cores (``map_layers_to_cores``) never call it. The real samna package
downloads itself from outside on import, so it must never be installed or imported here.

``install()`` refuses to act when a real samna or samnagui is importable (``SamnaPresentError``); otherwise it
puts a finder first on ``sys.meta_path`` that answers every ``samna``, ``samna.*``, ``samnagui``,
``samnagui.*`` import with an empty module. Any attribute of such a module (and of its attributes, for
annotations such as ``samna.device.DeviceInfo``) is a placeholder class; creating one raises ``RuntimeError``
naming the samna object, so code that really needs samna (``make_config``, ``to(device)``, the specksim chip
simulator) fails loudly.

Used by the driver (``sinabs_run.py``) and, as source text, by the venv probe (``recipes/sinabs.py``). Imports
only the standard library (it runs in the vendor venv, never inside snndeploy).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

__all__ = ["SamnaPresentError", "install"]

#: Top-level packages answered by the stub (samnagui is samna's GUI companion, imported by ``io.py``).
_STUBBED = ("samna", "samnagui")


class SamnaPresentError(RuntimeError):
    """A real samna is importable: the stub would shadow it, so nothing is done."""


class _AbsentMeta(type):
    """Attribute chains (``samna.device.DeviceInfo`` in an annotation) resolve to more placeholders."""

    def __getattr__(cls, item: str):
        if item.startswith("__"):
            raise AttributeError(item)
        placeholder = _absent(f"{cls.__qualname__}.{item}")
        setattr(cls, item, placeholder)
        return placeholder


def _absent(qualname: str) -> type:
    """A placeholder class for a samna object: looking it up works, instantiating or calling it raises."""

    def _refuse(*args, **kwargs):
        raise RuntimeError(f"samna is not installed (stubbed): {qualname}(...) needs the real samna")

    return _AbsentMeta(qualname.rsplit(".", 1)[-1], (), {"__new__": _refuse, "__qualname__": qualname})


class _StubModule(types.ModuleType):
    def __getattr__(self, item: str):
        if item.startswith("__"):
            raise AttributeError(item)
        placeholder = _absent(f"{self.__name__}.{item}")
        setattr(self, item, placeholder)
        return placeholder


class _SamnaStubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".", 1)[0] in _STUBBED:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        mod = _StubModule(spec.name)
        mod.__path__ = []  # a package, so that `samna.x.y` submodule imports resolve through this finder
        mod.__snndeploy_stub__ = True
        return mod

    def exec_module(self, module):
        return None


def install() -> None:
    """Serve stub ``samna.*`` modules (idempotent); raise ``SamnaPresentError`` if a real samna exists."""
    if any(isinstance(f, _SamnaStubFinder) for f in sys.meta_path):
        return
    for name in _STUBBED:
        loaded = sys.modules.get(name)
        if loaded is not None and not getattr(loaded, "__snndeploy_stub__", False):
            raise SamnaPresentError(f"a real {name} module is already imported; refusing to stub it")
        if importlib.util.find_spec(name) is not None:
            raise SamnaPresentError(
                f"a real {name} package is installed in this venv; the snndeploy sinabs venv must not "
                "contain it (samna downloads itself on import). Rebuild the venv with `snndeploy vendor "
                "setup sinabs`."
            )
    sys.meta_path.insert(0, _SamnaStubFinder())
