"""One small registry used by every registry in snndeploy: names or types → entries, duplicate-checked.

``Registry(what)`` maps keys to values. ``register(*keys)`` is a decorator (or ``add(key, value)``);
registering a key twice is an error. ``get(key)`` raises ``UnknownNameError`` listing what is known; for type
keys, ``for_type(cls)`` (or ``for_instance(obj)``) walks the MRO, so a subclass inherits its base's entry.
String keys are matched case-insensitively.

Used by: neuron engines, neuron and model names, datasets, fold rules, NIR mappers, ONNX steps, nirsim
executors, energy neuron-op counters, vendor recipes and chip models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .errors import UnknownNameError

__all__ = ["Registry"]

K = TypeVar("K")
V = TypeVar("V")


def _norm(key: Any) -> Any:
    return key.lower() if isinstance(key, str) else key


def _label(key: Any) -> str:
    return key.__name__ if isinstance(key, type) else str(key)


class Registry(Generic[K, V]):
    """A duplicate-checked mapping from keys (names or types) to entries; see the module docstring."""

    def __init__(self, what: str, error: type[Exception] = UnknownNameError) -> None:
        """``what`` names the entries in messages ("fold rule", "dataset"); ``error`` is raised for a missing
        key."""
        self.what = what
        self.error = error
        self._entries: dict[Any, V] = {}

    def add(self, key: K, value: V) -> V:
        k = _norm(key)
        if k in self._entries:
            raise RuntimeError(f"{self.what}: {_label(key)!r} is already registered ({self._entries[k]!r})")
        self._entries[k] = value
        return value

    def register(self, *keys: K) -> Callable[[V], V]:
        """Decorator: register the decorated object under every key in ``keys``."""

        def deco(value: V) -> V:
            for key in keys:
                self.add(key, value)
            return value

        return deco

    def known(self) -> str:
        return ", ".join(_label(k) for k in self._entries) or "none"

    def get(self, key: K, where: str = "") -> V:
        """The entry of ``key``; a missing key raises ``self.error`` (prefixed by ``where``) listing the known
        keys."""
        try:
            return self._entries[_norm(key)]
        except (KeyError, TypeError):
            prefix = f"{where}: " if where else ""
            raise self.error(f"{prefix}unknown {self.what} {_label(key)!r}; known: {self.known()}") from None

    __getitem__ = get

    def find(self, key: K) -> V | None:
        return self._entries.get(_norm(key))

    def for_type(self, cls: type, where: str = "") -> V:
        """The entry of ``cls`` or of its nearest registered base class (MRO order); else ``self.error``
        (prefixed by ``where``, e.g. the layer path) listing the supported types."""
        found = self.find_type(cls)
        if found is None:
            prefix = f"{where}: " if where else ""
            raise self.error(f"{prefix}no {self.what} for {cls.__name__}; supported: {self.known()}")
        return found

    def find_type(self, cls: type) -> V | None:
        return next((self._entries[b] for b in cls.__mro__ if b in self._entries), None)

    def for_instance(self, obj: Any, where: str = "") -> V:
        return self.for_type(type(obj), where)

    def __contains__(self, key: object) -> bool:
        return _norm(key) in self._entries

    def __iter__(self) -> Iterator[Any]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[Any]:
        return list(self._entries)

    def items(self) -> list[tuple[Any, V]]:
        return list(self._entries.items())

    def values(self) -> list[V]:
        return list(self._entries.values())

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {self.known()})"
