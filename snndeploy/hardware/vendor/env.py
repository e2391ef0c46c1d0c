"""Vendor simulators in their own virtual environments, and the one way snndeploy talks to them.

Each vendor stack (lava for Loihi 2, rockpool + xylosim for Xylo, sinabs for Speck) pins packages that
conflict with ours and with each other (lava needs numpy < 2), so each lives in its own venv under
``vendor_home()`` and runs a small *driver* script (``snndeploy/hardware/vendor/drivers/<driver>.py``) in a
subprocess. A driver imports only its vendor's packages and numpy, never snndeploy; it reads one ``.npz``
(arrays plus a JSON ``__meta__``) and writes one ``.npz`` back.

- ``VendorRecipe``: how to build one venv (pip steps, patches applied after install, an import probe),
  registered by name with ``register_recipe``. The recipe's hash is stamped into the venv, so a changed recipe
  rebuilds it and an unchanged one is reused.
- ``ensure_env(name)`` builds the venv in a temporary directory and renames it into place only when the probe
  passes: a failed build leaves nothing half-built behind.
- ``find_env(name)`` the venv's python when it exists and is current, else ``None`` (callers skip or build).
- ``run_driver(name, driver, arrays, meta)`` runs a driver and returns its arrays and meta.

``SNNDEPLOY_VENDOR_HOME`` moves the venvs (default ``$XDG_CACHE_HOME/snndeploy/vendor``, ``~/.cache/...``).
Never install or import the real ``samna`` (its package downloads itself from outside on import).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SnnDeployError, UnknownNameError
from ...io import atomic_path, atomic_write

__all__ = [
    "VendorError",
    "VendorRecipe",
    "register_recipe",
    "recipes",
    "get_recipe",
    "vendor_home",
    "find_env",
    "ensure_env",
    "env_versions",
    "run_driver",
    "DRIVERS_DIR",
]

#: Where the driver scripts live (run by a vendor venv's python, not imported by snndeploy).
DRIVERS_DIR = Path(__file__).resolve().parent / "drivers"

_STAMP = "snndeploy-recipe.json"


class VendorError(SnnDeployError, RuntimeError):
    """A vendor venv could not be built, or a vendor driver failed (the message names the venv and the
    step)."""


@dataclass(frozen=True)
class VendorRecipe:
    """How to build one vendor venv.

    Attributes:
        name: the venv's name (``lava``, ``xylosim``, ``sinabs``).
        summary: one line for ``snndeploy vendor list``.
        steps: pip argument lists run in order as ``<venv python> -m pip <args>``; ``{dl}`` in an argument is
            replaced by a scratch download directory, ``{python}`` by the venv's interpreter.
        probe: Python source run by the venv's interpreter after the build; it must exit 0 and print one JSON
            object (the versions it found, shown in reports).
        patch: called with the venv's site-packages directory after the steps (fixes a vendor's import bugs).
        env: extra environment variables for the steps (e.g. ``PIP_NO_BUILD_ISOLATION``).
        revision: bump to force a rebuild when something the hash cannot see changed.
    """

    name: str
    summary: str
    steps: tuple[tuple[str, ...], ...]
    probe: str
    patch: Callable[[Path], None] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    revision: int = 1

    def digest(self) -> str:
        """Hash of everything that defines the venv (steps, probe, patch code, revision).

        The probe and the patch are hashed as code (``_code_text``: parsed, docstrings dropped, unparsed), so
        rewrapping a line or a docstring does not rebuild a venv; a change to what the code does does.
        """
        import inspect

        h = hashlib.sha256()
        patch_src = _code_text(inspect.getsource(self.patch)) if self.patch is not None else ""
        for part in (self.name, repr(self.steps), _code_text(self.probe), patch_src,
                     repr(sorted(self.env.items())),
                     str(self.revision), f"{sys.version_info.major}.{sys.version_info.minor}"):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()[:16]


def _code_text(source: str) -> str:
    """``source`` as Python code without its layout: parsed, docstrings removed, unparsed (``source`` itself
    when it does not parse)."""
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


_RECIPES: dict[str, VendorRecipe] = {}


def register_recipe(recipe: VendorRecipe) -> VendorRecipe:
    """Add ``recipe`` to the registry (a second recipe with the same name is an error)."""
    if recipe.name in _RECIPES:
        raise RuntimeError(f"vendor recipe {recipe.name!r} is already registered")
    _RECIPES[recipe.name] = recipe
    return recipe


def _load_builtin_recipes() -> None:
    # import_module, not `from . import recipes`: the package re-exports the function `recipes`, which that
    # statement would return without importing the subpackage (so no recipe would register).
    import importlib

    importlib.import_module(f"{__package__}.recipes")  # each recipe module registers itself on import


def recipes() -> dict[str, VendorRecipe]:
    """All registered recipes by name."""
    _load_builtin_recipes()
    return dict(_RECIPES)


def get_recipe(name: str) -> VendorRecipe:
    _load_builtin_recipes()
    try:
        return _RECIPES[name]
    except KeyError:
        raise UnknownNameError(f"unknown vendor environment {name!r}; known: "
                               f"{', '.join(_RECIPES) or 'none'}") from None


def vendor_home() -> Path:
    """The directory that holds the vendor venvs (``SNNDEPLOY_VENDOR_HOME`` or the user cache)."""
    env = os.environ.get("SNNDEPLOY_VENDOR_HOME")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "snndeploy" / "vendor"


def _python_of(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _read_stamp(venv: Path) -> dict[str, Any] | None:
    try:
        return json.loads((venv / _STAMP).read_text())
    except (OSError, ValueError):
        return None


def find_env(name: str) -> Path | None:
    """The python of venv ``name`` when it is built and matches its current recipe; ``None`` otherwise."""
    recipe = get_recipe(name)
    venv = vendor_home() / name
    stamp = _read_stamp(venv)
    if stamp is None or stamp.get("digest") != recipe.digest() or not _python_of(venv).exists():
        return None
    return _python_of(venv)


def env_versions(name: str) -> dict[str, str]:
    """The versions the probe recorded when venv ``name`` was built (``{}`` when it is not built)."""
    stamp = _read_stamp(vendor_home() / name)
    return dict(stamp.get("versions", {})) if stamp else {}


def _run(cmd: list[str], what: str, env: Mapping[str, str] | None = None, timeout: float = 1800) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(env) if env else None,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise VendorError(f"{what}: timed out after {timeout:.0f} s ({' '.join(cmd)})") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise VendorError(f"{what}: `{' '.join(cmd)}` exited {proc.returncode}:\n{tail}")
    return proc.stdout


def _site_packages(python: Path) -> Path:
    out = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               "site-packages")
    return Path(out.strip())


def ensure_env(name: str, log: Callable[[str], None] | None = None) -> Path:
    """Build venv ``name`` unless a current one exists; return its python.

    The build happens in a temporary directory beside the final one and is renamed into place only after the
    probe passes, so an interrupted or failed build leaves nothing behind. Raises ``VendorError`` naming the
    step.
    """
    found = find_env(name)
    if found is not None:
        return found
    recipe = get_recipe(name)
    say = log or (lambda _msg: None)
    home = vendor_home()
    home.mkdir(parents=True, exist_ok=True)
    final = home / name
    build = Path(tempfile.mkdtemp(prefix=f".{name}.build.", dir=home))
    try:
        venv = build / "venv"
        say(f"[{name}] creating venv")
        # venvs embed their own path in scripts, so the venv is created at the final path's twin below and
        # moved; pip is always run as `python -m pip`, which does not depend on script shebangs.
        _run([sys.executable, "-m", "venv", str(venv)], f"vendor venv {name!r}: create")
        python = _python_of(venv)
        env = {**os.environ, **recipe.env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env.pop("PYTHONPATH", None)
        dl = build / "dl"
        dl.mkdir()
        for i, step in enumerate(recipe.steps, 1):
            args = [a.replace("{dl}", str(dl)).replace("{python}", str(python)) for a in step]
            say(f"[{name}] step {i}/{len(recipe.steps)}: pip {' '.join(args)}")
            _run([str(python), "-m", "pip", *args], f"vendor venv {name!r}: step {i}", env=env)
        if recipe.patch is not None:
            say(f"[{name}] patching")
            recipe.patch(_site_packages(python))
        say(f"[{name}] probing")
        out = _run([str(python), "-c", recipe.probe], f"vendor venv {name!r}: probe", env=env, timeout=600)
        try:
            versions = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise VendorError(f"vendor venv {name!r}: the probe printed no JSON object: "
                              f"{out[-300:]!r}") from exc
        shutil.rmtree(dl, ignore_errors=True)
        with atomic_write(venv / _STAMP) as fh:
            fh.write(json.dumps({"digest": recipe.digest(), "versions": versions}, indent=1))
        if final.exists():
            shutil.rmtree(final)
        # A venv's scripts hold absolute paths, but `python -m` and the interpreter itself work after a move.
        os.replace(venv, final)
        say(f"[{name}] ready: {versions}")
        return _python_of(final)
    finally:
        shutil.rmtree(build, ignore_errors=True)


def run_driver(
    name: str,
    driver: str,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any] | None = None,
    timeout: float = 900,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run ``drivers/<driver>.py`` in venv ``name`` on ``arrays`` and ``meta``; return its arrays and meta.

    The driver is called as ``python driver.py IN.npz OUT.npz``; ``IN.npz`` holds ``arrays`` and ``__meta__``
    (the JSON of ``meta``), ``OUT.npz`` the same layout. Raises ``VendorError`` when the venv is missing, the
    driver fails (its last lines of output are in the message) or writes nothing.
    """
    python = find_env(name)
    if python is None:
        raise VendorError(
            f"vendor venv {name!r} is not built under {vendor_home()}: run `snndeploy vendor setup {name}`"
        )
    script = DRIVERS_DIR / f"{driver}.py"
    if not script.exists():
        raise UnknownNameError(f"no vendor driver {driver!r} in {DRIVERS_DIR}")
    with tempfile.TemporaryDirectory(prefix="snndeploy-vendor-") as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        with atomic_path(src) as tmp_src:
            with open(tmp_src, "wb") as fh:
                np.savez(fh, __meta__=np.array(json.dumps(dict(meta or {}))), **arrays)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONNOUSERSITE"] = "1"
        _run([str(python), str(script), str(src), str(dst)], f"vendor driver {driver!r} in venv {name!r}",
             env=env, timeout=timeout)
        if not dst.exists():
            raise VendorError(f"vendor driver {driver!r} in venv {name!r} wrote no output file")
        with np.load(dst, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files if k != "__meta__"}
            out_meta = json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}
    return out, out_meta
