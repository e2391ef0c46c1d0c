"""``verify_checkpoint``: load → fold (calibrated on the train split) → export → verify → write the report.

Peers get the file their own export profile writes (``exporters.nir_profiles``), saved as ``model_<peer>.nir``
beside the report, so that a peer row can be reproduced with the peer alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from exporters.nir import read_nir, write_nir
from exporters.nir_profiles import PROFILES, export_for

from ..checkpoint import model_from_checkpoint, read_checkpoint
from ..data import evaluation_inputs
from ..verify import VerifyReport
from ..verify import verify as run_verify
from ..verify.report import write_report
from .export import export_all

__all__ = ["verify_checkpoint"]


def verify_checkpoint(
    checkpoint: Path,
    out: Path,
    *,
    nir_file: Path | None = None,
    onnx_files: Sequence[Path] = (),
    data: str | None = None,
    samples: int = 200,
    T: int | None = None,
    peers: Sequence[str] = (),
    seed: int = 0,
    min_spike_agreement: float = 0.995,
    max_accuracy_drop: float = 0.5,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[VerifyReport, dict[str, Path]]:
    """Verify a training checkpoint across every runtime; returns ``(report, written paths)``.

    The checkpoint is read once (model and training config from the same file); inputs come from
    ``snndeploy.data.evaluation_inputs``; the exports (``model.nir``, ``model_flat.nir``,
    ``model_step.onnx``) and the report (``verify.json``, ``verify.md``, plots) land in ``out``.
    ``nir_file`` / ``onnx_files`` verify given files instead of fresh exports. ``on_batch(done, total)``
    reports progress.
    """
    obj = read_checkpoint(checkpoint)
    model, config = model_from_checkpoint(obj, checkpoint)
    x, y, calib = evaluation_inputs(data, samples, T, config.input_shape, obj.get("train_config") or {}, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        art = export_all(model, config.input_shape, calib, out, T=x.shape[0])
    graph = read_nir(nir_file) if nir_file is not None else art.nir_graph
    onnx_paths = [str(p) for p in onnx_files] or [str(art.onnx_path)]
    peer_graphs = _peer_files(art, config.input_shape, peers, calib, out, T=x.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_verify(
            model, x, y, folded=art.folded, fold_exact=art.fold_report.exact, nir_graph=graph,
            peer_graphs=peer_graphs, onnx_paths=onnx_paths, peers=list(peers),
            min_spike_agreement=min_spike_agreement, max_accuracy_drop=max_accuracy_drop, on_batch=on_batch,
        )
    return report, write_report(report, out)


def _peer_files(art, input_shape, peers: Sequence[str], calib, out: Path, T: int) -> dict[str, object]:
    """Each requested peer's profile export of the folded model, written to ``OUT/model_<peer>.nir``
    (a peer without a profile maps to the reason, and its row is reported unavailable)."""
    graphs: dict[str, object] = {}
    for peer in peers:
        if peer not in PROFILES:
            graphs[peer] = f"no export profile for {peer!r} (known: {PROFILES.known()})"
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = export_for(art.folded, input_shape, peer, T=T, report=art.fold_report, calibration=calib)
        write_nir(Path(out) / f"model_{peer}.nir", exp.graph)
        graphs[peer] = exp.graph
    return graphs
