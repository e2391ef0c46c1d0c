"""Hardware hand-off: documented target constraints (TOML with sources), model/NIR checks, quantisation.

Targets: Loihi 2, Xylo (Audio 2, Audio 3, IMU), Speck and SpiNNaker2 (see /work/shared/HARDWARE.md and
``snndeploy/hardware/targets/*.toml``). Tensors are time-major ``[T, B, *]``.
"""

from .check import CheckReport, HardwareConstraintError, Violation, check_model, walk_model
from .nir_check import check_nir
from .quantize import (
    LayerActivity,
    LayerQuant,
    QuantizationResult,
    quantize_model,
    quantize_tau,
    weight_scale,
)
from .targets import HardwareTarget, IntFormat, Limit, builtin_targets, get_target, load_target

__all__ = [
    "CheckReport", "HardwareConstraintError", "Violation", "check_model", "check_nir", "walk_model",
    "LayerActivity", "LayerQuant", "QuantizationResult", "quantize_model", "quantize_tau", "weight_scale",
    "HardwareTarget", "IntFormat", "Limit", "builtin_targets", "get_target", "load_target",
]
