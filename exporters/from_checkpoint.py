"""``export_checkpoint``: a training checkpoint → NIR (folded, calibrated) or ONNX (step / unrolled) file.

``peer`` (``snndeploy export --for norse|spikingjelly|snntorch|sinabs|rockpool|spyx``) writes the NIR
dialect that peer's importer runs with snndeploy's semantics (``exporters.nir_profiles``), with the
approximations it needs recorded in the file's contract and their cost measured on the calibration data.
"""

from __future__ import annotations

from pathlib import Path

from snndeploy.checkpoint import load
from snndeploy.data import calibration_inputs
from snndeploy.errors import InvalidParameterError

from .fold import FoldReport, fold
from .nir import to_nir, write_nir
from .nir_profiles import ProfileExport, write_for
from .onnx import export_onnx_step, export_onnx_unrolled

__all__ = ["FORMATS", "export_checkpoint"]

#: Export formats: NIR (folded to LIF form), ONNX step model (any T), ONNX unrolled (fixed T).
FORMATS = ("nir", "onnx", "onnx-unrolled")


def export_checkpoint(
    checkpoint: Path,
    out: Path,
    format: str = "nir",
    *,
    dt: float = 1e-3,
    time_steps: int | None = None,
    flat: bool = False,
    soft_reset: str = "exact",
    data: str | None = None,
    data_dir: Path | None = None,
    limit: int = 256,
    peer: str | None = None,
) -> FoldReport | ProfileExport | None:
    """Write ``checkpoint`` to ``out`` in ``format`` (``FORMATS``); returns the fold report for NIR, the
    ``ProfileExport`` for a peer profile, else None.

    NIR: folded, calibrated on ``limit`` training samples of ``data`` (default: the embedded dataset
        matching the
    input shape), ``T`` recorded from ``time_steps`` or the data. ONNX unrolled needs ``time_steps``.
    ``peer``: the NIR dialect of that peer (``format`` must be ``nir``; ``flat``/``soft_reset`` are the
    profile's).
    """
    fmt = format.lower()
    if fmt not in FORMATS:
        raise InvalidParameterError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if peer is not None and fmt != "nir":
        raise InvalidParameterError(f"--for {peer} writes NIR; it cannot be combined with --format {format}")
    if fmt == "onnx-unrolled" and time_steps is None:
        raise InvalidParameterError("--format onnx-unrolled needs --time-steps (the fixed T)")
    model, config = load(checkpoint)
    if fmt == "onnx":
        export_onnx_step(model, out, config.input_shape)
        return None
    if fmt == "onnx-unrolled":
        export_onnx_unrolled(model, out, config.input_shape, T=time_steps)
        return None
    cal = calibration_inputs(config.input_shape, data, data_dir, limit)
    x = cal[0] if cal is not None else None
    folded, report = fold(model, x)
    T = time_steps or (int(x.shape[0]) if x is not None else None)
    if peer is not None:
        return write_for(out, folded, config.input_shape, peer, dt=dt, T=T, report=report, calibration=x)
    write_nir(
        out, to_nir(folded, config.input_shape, dt=dt, T=T, flat=flat, soft_reset=soft_reset, report=report)
    )
    return report
