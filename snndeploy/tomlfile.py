"""Reading the project's TOML data files (energy profiles, hardware targets): one reader, typed errors naming
the file."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from .errors import InvalidParameterError
from .limits import check_file_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["read_toml", "load_builtin"]

T = TypeVar("T")


def read_toml(path: str | Path, kind: str) -> dict[str, Any]:
    """Parse the TOML file at ``path`` (size-limited); errors read ``"<kind> <path>: ..."``."""
    p = Path(path)
    if p.is_file():
        check_file_size(p, kind, "max_config_bytes")
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InvalidParameterError(f"{kind} {p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"{kind} {p}: cannot read: {exc}") from exc
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise InvalidParameterError(f"{kind} {p}: not valid TOML: {type(exc).__name__}: {exc}") from None


def load_builtin(package: str, folder: str, loader: Callable[[Path], T]) -> dict[str, T]:
    """Every ``*.toml`` shipped in ``package/folder``, loaded with ``loader`` and keyed by its ``name``
    (sorted)."""
    out: dict[str, T] = {}
    for entry in sorted(resources.files(package).joinpath(folder).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as f:
                item = loader(f)
            out[item.name] = item  # type: ignore[attr-defined]
    return out
