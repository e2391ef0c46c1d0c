"""fold → export (NIR nested + flat, ONNX step) in one call: what ``snndeploy verify`` and ``snndeploy demo``
share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from exporters.fold.api import fold
from exporters.nir import to_nir, write_nir
from exporters.onnx import export_onnx_step

__all__ = ["Artifacts", "export_all"]


@dataclass
class Artifacts:
    """The folded model, its fold report and the exported artifacts (paths are inside ``out_dir``)."""

    folded: nn.Module
    fold_report: Any
    nir_graph: Any
    nir_flat_graph: Any
    nir_path: Path
    nir_flat_path: Path
    onnx_path: Path


def export_all(model: nn.Module, input_shape: tuple[int, ...], calibration: Tensor | None,
               out_dir: str | Path, T: int | None = None, dt: float = 1e-3) -> Artifacts:
    """Fold ``model`` (calibrated on ``calibration`` [T, B, *input_shape]) and write ``model.nir``,
    ``model_flat.nir`` (residual blocks inlined, for peers) and ``model_step.onnx`` into ``out_dir``
    (atomically).
    """

    out = Path(out_dir)
    folded, report = fold(model, calibration)
    graph = to_nir(folded, input_shape, dt=dt, T=T, report=report)
    flat = to_nir(folded, input_shape, dt=dt, T=T, report=report, flat=True)
    paths = out / "model.nir", out / "model_flat.nir", out / "model_step.onnx"
    write_nir(paths[0], graph)
    write_nir(paths[1], flat)
    export_onnx_step(model, paths[2], input_shape)
    return Artifacts(folded, report, graph, flat, *paths)
