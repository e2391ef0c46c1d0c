"""Exporters: fold to LIF-equivalent form (``exporters.fold``), NIR (``exporters.nir``), ONNX
(``exporters.onnx``).

Typical use (time-major ``[T, B, *]`` inputs)::

    folded, report = fold(model, calibration_x)               # FoldReport: rule/exactness/agreement per layer
    write_nir("model.nir", to_nir(folded, input_shape, dt=1e-3, report=report))
    export_onnx_step(model, "model_step.onnx", input_shape)   # any T in onnxruntime, neurons exact
"""

from .fold import FoldReport, finetune, fold, fold_checkpoint
from .from_checkpoint import FORMATS, export_checkpoint
from .lifspec import FoldedLIF, LIFSpec
from .nir import read_nir, to_nir, write_nir
from .onnx import export_onnx_step, export_onnx_unrolled, run_onnx_step

__all__ = [
    "LIFSpec", "FoldedLIF", "fold", "fold_checkpoint", "export_checkpoint", "FORMATS", "finetune",
    "FoldReport",
    "to_nir", "write_nir", "read_nir", "export_onnx_step", "export_onnx_unrolled", "run_onnx_step",
]


def __getattr__(name: str) -> object:
    """``exporters.SpecLIF``: deprecated alias of ``FoldedLIF`` (``exporters.lifspec.__getattr__`` warns)."""
    if name == "SpecLIF":
        from . import lifspec

        return lifspec.SpecLIF
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
