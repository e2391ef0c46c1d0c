"""Is a model ready for its target? ``hw-check``, the integer chip model and the vendor's simulator in one
call.

``check_on_target(model, recipe, calibration_x, x, y)``:

1. ``hardware.check_model`` against the target's documented constraints (``errors``, ``warnings``);
2. the chip's ``map_model`` on ``calibration_x`` (the data the recipe's input convention and QAT used), with
  the
   recipe's ``map_kwargs``; then ``compare``: float model vs integer chip model on ``x`` (per neuron layer,
   exact spike agreement; with ``y`` both accuracies);
3. the vendor's simulator on the first ``vendor_samples`` samples (``hardware.handoff.vendor_check``): the
  number of
   spike counts where it differs from the integer model (trusted only at 0), or why it did not run;
4. SpiNNaker2 (no integer chip model or simulator here): the float quantiser (``hardware.quantize_model``,
  int8 per
   population) stands in for the integer accuracy and says so.

A model the chip cannot represent is reported (``chip_error``), not raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from ..errors import SnnDeployError
from ..hardware import CheckReport, check_model, quantize_model
from ..hardware.chips import ChipAgreement, chips
from ..hardware.handoff import VendorCheck, vendor_check
from .recipes import TargetRecipe
from .train_target import evaluate_spikes

__all__ = ["TargetCheck", "check_on_target"]


@dataclass
class TargetCheck:
    """The result of ``check_on_target`` (module docstring)."""

    target: str
    hw_check: CheckReport
    float_accuracy: float | None = None
    chip_accuracy: float | None = None
    agreement: ChipAgreement | None = None
    vendor: VendorCheck | None = None
    chip_model: str | None = None
    chip_error: str | None = None
    mapping: Any = field(default=None, repr=False)
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def spike_agreement(self) -> float | None:
        return None if self.agreement is None else self.agreement.spike_agreement

    @property
    def passed(self) -> bool:
        """No hw-check error, and the vendor's simulator ran and agrees on every spike count."""
        vendor_ok = self.vendor is not None and self.vendor.ran and self.vendor.mismatches == 0
        return self.hw_check.ok and vendor_ok

    def hw_dict(self) -> dict[str, Any]:
        errors = [v.to_dict() for v in self.hw_check.errors]
        warnings = [v.to_dict() for v in self.hw_check.violations if v.severity != "error"]
        return {"errors": len(errors), "warnings": len(warnings), "violations": errors + warnings}

    def vendor_dict(self) -> dict[str, Any]:
        if self.vendor is None:
            return {"simulator": None, "reason": self.chip_error or "no vendor simulator for this target"}
        return self.vendor.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "hw_check": self.hw_dict(),
            "chip_model": self.chip_model,
            "chip_error": self.chip_error,
            "float_accuracy": self.float_accuracy,
            "chip_accuracy": self.chip_accuracy,
            "spike_agreement": self.spike_agreement,
            "float_vs_integer": None if self.agreement is None else self.agreement.to_dict(),
            "vendor_check": self.vendor_dict(),
            "notes": self.notes,
        }


def check_on_target(
    model: nn.Module,
    recipe: TargetRecipe,
    calibration_x: Tensor,
    x: Tensor,
    y: Tensor | None,
    *,
    vendor: bool = True,
    vendor_samples: int = 16,
) -> TargetCheck:
    """Check ``model`` for ``recipe``'s target (module docstring); ``x`` ``[T, N, *]``, ``y`` ``[N]``."""
    name = recipe.hardware.name
    result = TargetCheck(name, check_model(model, recipe.hardware, x[:, :8]))
    if y is not None:
        result.float_accuracy = evaluate_spikes(model, x, y)["acc"]
    support = chips().get(name)
    if support is None:
        result.chip_error = (
            f"no integer chip model or vendor simulator for {name} installs here; the float "
            "quantiser (int8 per population, hardware.quantize_model) stands in"
        )
        q = quantize_model(model, recipe.hardware, x, y)
        if q.accuracy is not None:
            result.chip_accuracy = q.accuracy[1]
        result.notes.append(
            {"layer": "model", "field": "chip", "message": result.chip_error, "severity": "warning"}
        )
        return result
    result.chip_model = support.name
    try:
        mapping = support.map_model(model, calibration_x, name, **recipe.map_kwargs)
    except SnnDeployError as exc:
        result.chip_error = f"cannot map onto {name}: {exc}"
        return result
    result.mapping = mapping
    result.notes = [n.to_dict() for n in mapping.notes]
    result.agreement = support.compare(mapping, model, x, y)
    if result.agreement.accuracy is not None:
        result.float_accuracy, result.chip_accuracy = result.agreement.accuracy
    if vendor:
        result.vendor = vendor_check(support, mapping.network, mapping.encode(x[:, :vendor_samples]))
    return result
