"""The integer chip model and the vendor's own simulator behind ``hw-check --quantize`` and ``deploy``.

``chip_check(model, target, x, labels)``:
1. maps the float model onto the chip's integer parameters (``ChipSupport.map_model``; rounding notes kept);
2. compares the float model with the integer network on the same inputs, per neuron layer
   (``ChipSupport.compare``): spike agreement and, with labels, both accuracies;
3. when the vendor's venv is built (``snndeploy vendor setup``), runs the same integer inputs through the
   vendor's simulator (``ChipSupport.vendor_run``) and counts the spikes that differ from the integer model,
   layer by layer: the hand-off is trusted only at 0.

A target without an integer model (SpiNNaker2: nothing installs here) or a model the chip cannot represent
comes back with ``error`` set and says why, instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor, nn

from ..errors import SnnDeployError
from .chips import ChipAgreement, MappingNote, chips
from .targets import HardwareTarget, get_target
from .vendor import VendorError, env_versions, find_env

__all__ = ["VendorCheck", "ChipCheck", "chip_check", "vendor_check"]


@dataclass(frozen=True)
class VendorCheck:
    """The integer model vs the vendor's simulator on the same integer inputs (``reason`` when none ran)."""

    simulator: str
    version: dict[str, str] = field(default_factory=dict)
    samples: int = 0
    spikes: int = 0
    mismatches: int = 0
    reason: str | None = None

    @property
    def ran(self) -> bool:
        return self.reason is None

    @property
    def spike_agreement(self) -> float | None:
        """Fraction of identical spike counts (neuron-steps of every layer); ``None`` when nothing ran."""
        return None if not self.ran else (1.0 - self.mismatches / self.spikes if self.spikes else 1.0)

    def to_dict(self) -> dict[str, Any]:
        if not self.ran:
            return {"simulator": self.simulator, "reason": self.reason}
        return {"simulator": self.simulator, "version": self.version, "samples": self.samples,
                "spike_agreement": self.spike_agreement, "mismatches": self.mismatches,
                "neuron_steps": self.spikes}


@dataclass
class ChipCheck:
    """``chip_check``'s result: the mapping's notes, float-vs-integer agreement, the vendor cross-check."""

    target: str
    chip: str | None
    agreement: ChipAgreement | None = None
    vendor: VendorCheck | None = None
    notes: list[MappingNote] = field(default_factory=list)
    error: str | None = None
    mapping: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "chip_model": self.chip}
        if self.error is not None:
            out["error"] = self.error
        if self.agreement is not None:
            out["float_vs_integer"] = self.agreement.to_dict()
        if self.vendor is not None:
            out["vendor_check"] = self.vendor.to_dict()
        out["notes"] = [n.to_dict() for n in self.notes]
        return out


def vendor_check(support: Any, network: Any, x_int: np.ndarray) -> VendorCheck:
    """Run ``x_int`` through the integer ``network`` and through the vendor's simulator; count differing
    spikes."""
    if find_env(support.vendor_env) is None:
        return VendorCheck(support.simulator, reason=f"vendor venv {support.vendor_env!r} is not built "
                           f"(run `snndeploy vendor setup {support.vendor_env}`)")
    ours = network.run(x_int)
    try:
        theirs = support.vendor_run(network, x_int)
    except VendorError as exc:
        return VendorCheck(support.simulator, reason=f"the vendor simulator failed: {exc}")
    spikes = mismatches = 0
    for a, b in zip(ours.spikes, theirs.spikes, strict=True):
        spikes += int(np.size(a))
        mismatches += int(np.count_nonzero(np.asarray(a) != np.asarray(b)))
    return VendorCheck(support.simulator, env_versions(support.vendor_env), int(x_int.shape[1]), spikes,
                       mismatches)


def chip_check(model: nn.Module, target: str | HardwareTarget, x: Tensor, labels: Tensor | None = None, *,
               vendor: bool = True, vendor_samples: int = 16, **map_kwargs: Any) -> ChipCheck:
    """Map ``model`` onto ``target``'s integer chip model, compare it on ``x`` ``[T, B, *]`` (and ``labels``),
    and cross-check the integer model with the vendor's simulator on the first ``vendor_samples`` samples."""
    t = get_target(target)
    support = chips().get(t.name)
    if support is None:
        return ChipCheck(t.name, None,
                         error=f"no integer chip model for {t.name}: nothing of its toolchain installs "
                         "here (checked against its documented constraints and NIR dialect only)")
    try:
        mapping = support.map_model(model, x, t.name, **map_kwargs)
    except SnnDeployError as exc:
        return ChipCheck(t.name, support.name, error=f"cannot map onto {t.name}: {exc}")
    result = ChipCheck(t.name, support.name, notes=list(mapping.notes), mapping=mapping)
    result.agreement = support.compare(mapping, model, x, labels)
    if vendor:
        result.vendor = vendor_check(support, mapping.network, mapping.encode(x[:, :vendor_samples]))
    return result
