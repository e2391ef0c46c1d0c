"""The result of a hardware check: ``Violation`` records collected in a ``CheckReport``, and ``limit_check``.

Every ``Violation`` names the layer (or NIR node), what is wrong, what to change, and the source of the rule.
``error``: the toolchain refuses it or the chip cannot run it; ``warning``: it maps, but approximately, or the
limit is only secondarily sourced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .targets import HardwareTarget

__all__ = ["Violation", "CheckReport", "limit_check"]


@dataclass(frozen=True)
class Violation:
    """One broken constraint: where, what, how to fix it, and the rule's source."""

    layer: str
    rule: str
    severity: str  # "error" | "warning"
    message: str
    fix: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return dict(vars(self))


@dataclass
class CheckReport:
    """All violations of one model against one target."""

    target: str
    violations: list[Violation] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    @property
    def ok(self) -> bool:
        """True when nothing would stop the hand-off (warnings allowed)."""
        return not self.errors

    def add(self, layer: str, rule: str, severity: str, message: str, fix: str, source: str) -> None:
        self.violations.append(Violation(layer, rule, severity, message, fix, source))

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.violations) - len(self.errors),
            "checked": self.checked,
            "not_checked_unsourced": self.not_checked,
            "violations": [v.to_dict() for v in self.violations],
        }


def limit_check(rep: CheckReport, t: HardwareTarget, key: str, value: float, layer: str, what: str,
                fix: str) -> None:
    """Add a violation when the target declares limit ``key`` and ``value`` exceeds it (a warning when only a
    secondary source states the limit). ``{limit}`` in ``fix`` becomes the limit's value."""
    lim = t.limit(key)
    if lim is not None and value > lim.value:
        sev = "warning" if lim.secondary else "error"
        tag = " (secondary source)" if lim.secondary else ""
        rep.add(layer, key, sev, f"{what} = {value:g} > {lim.value:g}{tag}",
                fix.replace("{limit}", f"{lim.value:g}"), lim.source)
