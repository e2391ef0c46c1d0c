"""Hardware target profiles: the documented constraints of Loihi 2, Xylo (Audio 2/3, IMU), Speck and
SpiNNaker2.

The numbers live in ``snndeploy/hardware/targets/*.toml`` (from /work/shared/HARDWARE.md), each section with
its ``source``; a limit marked ``secondary = true`` comes from a secondary source and is only warned about.
The schema (sections ``neuron``, ``layers``, ``weights``, ``threshold``, ``decay``, ``limits.*``, ``nir``,
optional ``cores``) is validated on load; a bad file raises ``InvalidParameterError`` naming the file and the
key.

Integer formats are described relative to one weight LSB: a layer's float weights W map to integers
``W / s`` (s the layer's scale) that must lie on ``range(min, max + 1, step)``; its threshold maps to
``θ / s`` rounded to ``threshold.step`` within ``[threshold.min, threshold.max]`` (``step = 0``: a float, not
rounded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError, UnknownNameError
from ..tomlfile import load_builtin, read_toml

__all__ = ["Limit", "IntFormat", "CurrentSynapse", "CoreLayout", "HardwareTarget", "load_target",
           "builtin_targets", "get_target"]

_DECAY_FORMATS = ("fraction_4096", "bitshift", "none", "float")
_RESETS = ("zero", "subtract")
_RESIDUAL = ("yes", "no", "unsourced")
_BIAS = ("yes", "dropped", "discouraged")


@dataclass(frozen=True)
class Limit:
    """A numeric limit with its source; ``secondary`` when only a secondary source states it."""

    value: float
    source: str
    secondary: bool = False


@dataclass(frozen=True)
class IntFormat:
    """An integer grid ``{min, min + step, ..., max}`` in LSB units (``step = 0``: float, unbounded grid)."""

    bits: int
    min: float
    max: float
    step: float
    format: str
    source: str
    scale: str = "any"  # "any" or "power_of_two"

    @property
    def qmax(self) -> float:
        """The largest magnitude on the grid usable symmetrically (what max|W| is scaled to)."""
        m = min(abs(self.min), abs(self.max)) if self.min < 0 else self.max
        return m - (m % self.step) if self.step else m


@dataclass(frozen=True)
class CurrentSynapse:
    """A chip whose neuron has a synaptic current (TOML section ``[neuron.current]``): the order of operations
    (``CubaLIF`` flavour ``"xylo"`` or ``"loihi"``), whether the threshold is strict (``v > θ``), the
    source."""

    order: str
    strict: bool
    source: str


@dataclass(frozen=True)
class CoreLayout:
    """Chips that hold one layer per core (Speck / DYNAP-CNN): per-core kernel and neuron memory (in Ki
    entries), the allowed convolution strides, and the source of both (TOML section ``[cores]``)."""

    weight_memory_ki: tuple[int, ...]
    neuron_memory_ki: tuple[int, ...]
    strides: tuple[int, ...]
    memory_formulas: str
    source: str


@dataclass(frozen=True)
class HardwareTarget:
    """One target's documented constraints (see the module docstring)."""

    name: str
    title: str
    notes: str
    aliases: tuple[str, ...]
    unsourced: tuple[str, ...]
    neuron_models: tuple[str, ...]
    on_chip_neuron: str
    resets: tuple[str, ...]
    leak: bool
    neuron_source: str
    allowed_layers: tuple[str, ...]
    residual: str
    pooling_kernels: tuple[int, ...]
    bias: str
    consecutive_weights: bool
    min_neuron_layers: int
    output_from_neurons: bool
    layers_source: str
    weights: IntFormat
    threshold: IntFormat
    decay_format: str
    decay_bits: int
    decay_max: float
    decay_note: str
    decay_source: str
    limits: dict[str, Limit] = field(default_factory=dict)
    nir: dict[str, Any] = field(default_factory=dict)
    cores: CoreLayout | None = None
    current: CurrentSynapse | None = None
    path: str = ""

    def limit(self, key: str) -> Limit | None:
        return self.limits.get(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "neuron_models": list(self.neuron_models),
            "resets": list(self.resets),
            "weights": vars(self.weights),
            "threshold": vars(self.threshold),
            "decay": {"format": self.decay_format, "bits": self.decay_bits, "max": self.decay_max},
            "limits": {k: vars(v) for k, v in self.limits.items()},
        }


class _Reader:
    """Typed access to a parsed TOML dict, raising errors that name the file and the dotted key."""

    def __init__(self, raw: dict[str, Any], path: str):
        self.raw, self.path = raw, path

    def err(self, key: str, msg: str) -> InvalidParameterError:
        return InvalidParameterError(f"hardware target {self.path}: key {key!r}: {msg}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        node: Any = self.raw
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is not ...:
                    return default
                raise self.err(key, "missing")
            node = node[part]
        if isinstance(node, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.err(key, f"expected {kind}, got a boolean")
        if not isinstance(node, kind):
            raise self.err(key,
                           f"expected {getattr(kind, '__name__', kind)}, got {type(node).__name__} {node!r}")
        return node

    def text(self, key: str, default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value is not default and not value.strip():
            raise self.err(key, "empty")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        value = self.text(key, default)
        if value not in options:
            raise self.err(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def number(self, key: str, default: Any = ...) -> float:
        return float(self.get(key, (int, float), default))

    def str_list(self, key: str, options: tuple[str, ...] | None = None,
                 default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if any(not isinstance(v, str) or (options and v not in options) for v in value):
            raise self.err(key,
                           f"must be a list of strings{' from ' + str(list(options)) if options else ''}, "
                           f"got {value!r}")
        return tuple(value)

    def int_list(self, key: str, default: Any = ...) -> tuple[int, ...]:
        value = self.get(key, list, default)
        if any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value):
            raise self.err(key, f"must be a list of positive integers, got {value!r}")
        return tuple(value)

    def current(self) -> CurrentSynapse | None:
        if not isinstance(self.raw.get("neuron"), dict) or "current" not in self.raw["neuron"]:
            return None
        return CurrentSynapse(
            order=self.choice("neuron.current.order", ("xylo", "loihi")),
            strict=bool(self.get("neuron.current.strict", bool)),
            source=self.text("neuron.current.source"),
        )

    def cores(self) -> CoreLayout | None:
        if "cores" not in self.raw:
            return None
        layout = CoreLayout(
            weight_memory_ki=self.int_list("cores.weight_memory_ki"),
            neuron_memory_ki=self.int_list("cores.neuron_memory_ki"),
            strides=self.int_list("cores.strides", []),
            memory_formulas=self.text("cores.memory_formulas", ""),
            source=self.text("cores.source"),
        )
        if len(layout.weight_memory_ki) != len(layout.neuron_memory_ki):
            raise self.err("cores",
                           f"weight_memory_ki ({len(layout.weight_memory_ki)} cores) and neuron_memory_ki "
                           f"({len(layout.neuron_memory_ki)} cores) must list the same cores")
        return layout

    def int_format(self, section: str) -> IntFormat:
        fmt = IntFormat(
            bits=int(self.number(f"{section}.bits")),
            min=self.number(f"{section}.min"),
            max=self.number(f"{section}.max"),
            step=self.number(f"{section}.step"),
            format=self.text(f"{section}.format"),
            source=self.text(f"{section}.source"),
            scale=self.choice(f"{section}.scale", ("any", "power_of_two"), "any"),
        )
        if fmt.max <= fmt.min or fmt.step < 0:
            raise self.err(section,
                           f"needs min < max and step >= 0, got min={fmt.min}, max={fmt.max}, "
                           f"step={fmt.step}")
        return fmt


_TOP_KEYS = ("name", "title", "notes", "aliases", "unsourced", "neuron", "layers", "weights", "threshold",
             "decay", "limits", "nir", "cores")


def _parse(raw: dict[str, Any], path: str) -> HardwareTarget:
    r = _Reader(raw, path)
    for key in raw:
        if key not in _TOP_KEYS:
            raise r.err(key, f"unknown key; allowed: {', '.join(_TOP_KEYS)}")
    limits: dict[str, Limit] = {}
    for key, entry in r.get("limits", dict, {}).items():
        if not isinstance(entry, dict):
            raise r.err(f"limits.{key}", "must be a table with value and source")
        value = r.number(f"limits.{key}.value")
        if value <= 0:
            raise r.err(f"limits.{key}.value", f"must be > 0, got {value}")
        limits[key] = Limit(value, r.text(f"limits.{key}.source"),
                            bool(r.get(f"limits.{key}.secondary", bool, False)))
    pools = r.get("layers.pooling_kernels", list, [])
    if any(isinstance(k, bool) or not isinstance(k, int) for k in pools):
        raise r.err("layers.pooling_kernels", f"must be a list of integers, got {pools!r}")
    decay_format = r.choice("decay.format", _DECAY_FORMATS)
    return HardwareTarget(
        name=r.text("name"),
        title=r.text("title"),
        notes=r.text("notes", "").strip(),
        aliases=r.str_list("aliases", default=[]),
        unsourced=r.str_list("unsourced", default=[]),
        neuron_models=r.str_list("neuron.models"),
        on_chip_neuron=r.text("neuron.on_chip"),
        resets=r.str_list("neuron.reset", _RESETS),
        leak=bool(r.get("neuron.leak", bool)),
        neuron_source=r.text("neuron.source"),
        allowed_layers=r.str_list("layers.allowed"),
        residual=r.choice("layers.residual", _RESIDUAL),
        pooling_kernels=tuple(pools),
        bias=r.choice("layers.bias", _BIAS),
        consecutive_weights=bool(r.get("layers.consecutive_weights", bool, True)),
        min_neuron_layers=int(r.number("layers.min_neuron_layers", 1)),
        output_from_neurons=bool(r.get("layers.output_from_neurons", bool, False)),
        layers_source=r.text("layers.source"),
        weights=r.int_format("weights"),
        threshold=r.int_format("threshold"),
        decay_format=decay_format,
        decay_bits=int(r.number("decay.bits", 0)),
        decay_max=r.number("decay.max", 0),
        decay_note=r.text("decay.format_note", ""),
        decay_source=r.text("decay.source"),
        limits=limits,
        nir=r.get("nir", dict, {}),
        cores=r.cores(),
        current=r.current(),
        path=path,
    )


def load_target(path: str | Path) -> HardwareTarget:
    """Read and validate a hardware target TOML file; errors name the file and the key."""
    return _parse(read_toml(path, "hardware target"), str(Path(path)))


def builtin_targets() -> dict[str, HardwareTarget]:
    """The shipped targets (``snndeploy/hardware/targets/*.toml``) keyed by name."""
    return load_builtin(__package__, "targets", load_target)


def get_target(spec: str | Path | HardwareTarget) -> HardwareTarget:
    """A target by name or alias (``loihi2``, ``xylo``, ``xylo_audio3``, ``xylo_imu``, ``speck``,
    ``spinnaker2``), by TOML path, or passed through."""
    if isinstance(spec, HardwareTarget):
        return spec
    text = str(spec)
    if text.endswith(".toml"):
        return load_target(text)
    targets = builtin_targets()
    key = text.lower().replace("-", "_")
    if key in targets:
        return targets[key]
    for t in targets.values():
        if key in t.aliases:
            return t
    names = sorted(list(targets) + [a for t in targets.values() for a in t.aliases])
    raise UnknownNameError(f"unknown hardware target {text!r}; known: {', '.join(names)}")
