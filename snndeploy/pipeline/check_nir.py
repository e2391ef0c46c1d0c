"""``check_nir_file``: what ``snndeploy check-nir FILE`` runs on a NIR file someone else wrote.

1. Read: ``exporters.nir.read_nir`` (typed errors); a file that fails NIR's type check (e.g. a batch axis
   in its Input type) is read again without it and the failure is kept as a finding.
2. Units (``snndeploy.nirsim.unit_problems``): τ below dt, norse's τ·dt, batch axes in Input types, 0-dim
   parameters, every one named by node. The step is ``dt``, else the file's ``dt`` metadata, else the
   writer's convention (``snndeploy.nirsim.corrections.WRITERS``, rockpool's inferred from the file), else
   1e-3 s; where it came from is reported.
3. Corrections: only with ``writer``, that writer's known bugs and conventions are corrected, each change
   noted.
4. Runs: nirsim on ``x`` (given, else ``nirsim.random_input``) → spikes of every neuron node; the output
   against ``expected`` (the writer's own forward pass) when given; every requested installed peer on the
   file as written (how that peer reads it), node by node against nirsim.
5. Energy counts of the corrected graph (``snndeploy.energy.count_nir_ops`` + ``build_report``) and
   ``hardware.check_nir`` per target on the file as written (what the chip toolchains read).

Verdict (exit codes as ``verify``): fails (``VerificationError``, 1) when ``expected`` is given and the
output spike agreement is below ``min_agreement``; unusable input raises ``SnnDeployError`` subclasses (2).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor

from exporters.nir import contract_of, read_nir

from ..energy import build_report, builtin_profiles, count_nir_ops
from ..energy.report import missing_text
from ..errors import ExportError, InvalidInputError, SnnDeployError
from ..hardware.nir_check import check_nir
from ..hardware.targets import builtin_targets
from ..io import atomic_write
from ..nirsim import NIRSimulator, NIRUnitWarning, random_input, unit_problems
from ..nirsim.corrections import WRITERS, correct, guess_writer, infer_dt
from ..verify.compare import SpikeComparison, compare_spikes
from ..verify.peers import PEERS
from ..verify.runners import OK, run_peer

__all__ = ["CheckNirReport", "PeerCheck", "check_nir_file", "load_tensor"]


@dataclass
class PeerCheck:
    """One peer on the file: status, detail, per-node comparisons with nirsim, output vs ``expected``."""

    peer: str
    status: str
    detail: str
    nodes: list[SpikeComparison] = field(default_factory=list)
    output_vs_expected: SpikeComparison | None = None

    @property
    def agreement(self) -> float | None:
        total = sum(c.total for c in self.nodes)
        return 1.0 - sum(c.mismatches for c in self.nodes) / total if total else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "status": self.status,
            "detail": self.detail,
            "agreement_vs_nirsim": self.agreement,
            "nodes": [c.to_dict() for c in self.nodes],
            "output_vs_expected": self.output_vs_expected.to_dict() if self.output_vs_expected else None,
        }


@dataclass
class CheckNirReport:
    """Everything ``check_nir_file`` found (see the module docstring)."""

    file: str
    writer: str | None
    dt: float
    dt_source: str
    input_shape: tuple[int, ...]
    T: int
    samples: int
    input_source: str
    findings: list[str] = field(default_factory=list)
    unit_problems: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)
    remaining_problems: list[dict[str, Any]] = field(default_factory=list)
    nodes: dict[str, float] = field(default_factory=dict)
    expected: SpikeComparison | None = None
    peers: list[PeerCheck] = field(default_factory=list)
    energy: dict[str, Any] | None = None
    hardware: dict[str, dict[str, Any]] = field(default_factory=dict)
    min_agreement: float = 0.999

    @property
    def agreement(self) -> float | None:
        """Output spike agreement of nirsim with ``expected`` (None without ``expected``)."""
        return self.expected.agreement if self.expected is not None else None

    @property
    def passed(self) -> bool:
        return self.agreement is None or self.agreement >= self.min_agreement

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "snndeploy-check-nir/1",
            "file": self.file,
            "passed": self.passed,
            "writer": self.writer,
            "dt": self.dt,
            "dt_source": self.dt_source,
            "input_shape": list(self.input_shape),
            "T": self.T,
            "samples": self.samples,
            "input": self.input_source,
            "findings": self.findings,
            "unit_problems": self.unit_problems,
            "corrections": self.corrections,
            "remaining_problems": self.remaining_problems,
            "node_firing_rates": self.nodes,
            "agreement_vs_expected": self.agreement,
            "min_agreement": self.min_agreement,
            "expected": self.expected.to_dict() if self.expected else None,
            "peers": [p.to_dict() for p in self.peers],
            "energy": self.energy,
            "hardware": self.hardware,
        }


def load_tensor(path: str | os.PathLike[str], what: str) -> Tensor:
    """A float tensor from ``.npy`` or ``.pt`` (``weights_only``); typed errors naming the file."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{what} {p}: no such file")
    try:
        if p.suffix == ".npy":
            arr = torch.from_numpy(np.load(p, allow_pickle=False))
        else:
            arr = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # numpy/torch raise many types for corrupted files
        raise InvalidInputError(
            f"{what} {p}: cannot be read as .npy or .pt: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(arr, Tensor) or not (arr.is_floating_point() or arr.dtype in (torch.bool, torch.uint8)):
        raise InvalidInputError(
            f"{what} {p}: expected a float tensor, got {getattr(arr, 'dtype', type(arr))}"
        )
    return arr.float()


def _read(path: Path, findings: list[str]) -> nir.NIRGraph:
    try:
        return read_nir(path)
    except ExportError as exc:
        if "type" not in str(exc).lower():
            raise
        findings.append(
            f"NIR's type check fails on the file as written ({' '.join(str(exc).split())[:240]}); "
            "read without it"
        )
        return read_nir(path, type_check=False)


def _resolve_dt(graph: nir.NIRGraph, dt: float | None, writer: str | None) -> tuple[float, str]:
    if dt is not None:
        return float(dt), "--dt"
    meta = (graph.metadata or {}).get("dt")
    if meta is not None:
        return float(np.asarray(meta)), "the file's dt metadata"
    if writer is not None:
        w = WRITERS.get(writer, "--writer")
        if w.dt is not None:
            return w.dt, f"{writer}'s convention"
        found = infer_dt(graph)
        if found is not None:
            return found, f"inferred from the file ({writer}: r·dt = τ·exp(−dt/τ))"
    return 1e-3, "assumed (no --dt, no dt metadata, no --writer): 1e-3 s"


def _neuron_nodes(graph: nir.NIRGraph) -> list[str]:
    return [n for n, v in graph.nodes.items() if isinstance(v, (nir.LIF, nir.IF, nir.CubaLIF, nir.Threshold))]


def _peer_rows(
    graph: nir.NIRGraph, x: Tensor, peers: list[str], values: dict[str, Tensor], expected: Tensor | None
) -> list[PeerCheck]:
    rows = []
    for peer in peers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # peers' deprecation and unit chatter; their result is the report
            run = run_peer(peer, graph, x)
        row = PeerCheck(peer, run.status, run.detail)
        if run.status == OK:
            for node, s in run.spikes.items():
                ref = values.get(node)
                if ref is not None and ref.numel() == s.numel():
                    row.nodes.append(compare_spikes(ref, s.reshape(ref.shape), node))
            if expected is not None and run.output is not None and run.output.numel() == expected.numel():
                row.output_vs_expected = compare_spikes(
                    expected, run.output.reshape(expected.shape), "output"
                )
        rows.append(row)
    return rows


def _energy(graph: nir.NIRGraph, x: Tensor, dt: float, file: str) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NIRUnitWarning)  # already reported as unit problems
            counts = count_nir_ops(graph, x, dt=dt)
        report = build_report(counts, builtin_profiles().values(), {"nir": file})
    except SnnDeployError as exc:
        return {"error": str(exc)}
    return {
        "totals": report.get("totals"),
        "energy": [
            {"profile": e.get("profile"), "per_sample_pj": e.get("per_sample_pj"),
             "complete": e.get("complete"), "missing": missing_text(e) if not e.get("complete", True) else ""}
            for e in report.get("energy", [])
        ],
    }


def _hardware(graph: nir.NIRGraph, dt: float) -> dict[str, dict[str, Any]]:
    out = {}
    for name in builtin_targets():
        rep = check_nir(graph, name, dt=dt)
        out[name] = {
            "errors": len(rep.errors),
            "warnings": len(rep.violations) - len(rep.errors),
            "first": [f"{v.layer} [{v.rule}] {v.message}" for v in rep.violations[:3]],
        }
    return out


def check_nir_file(
    path: str | os.PathLike[str],
    *,
    dt: float | None = None,
    writer: str | None = None,
    peers: list[str] | None = None,
    x: Tensor | None = None,
    expected: Tensor | None = None,
    T: int = 16,
    samples: int = 64,
    seed: int = 0,
    min_agreement: float = 0.999,
    energy: bool = True,
    hardware: bool = True,
    out: str | os.PathLike[str] | None = None,
) -> CheckNirReport:
    """Check a foreign NIR file (module docstring); ``peers=None`` runs every registered peer that imports.

    Args:
        path: the ``.nir`` file. dt: seconds per step (default: see the module docstring).
        writer: the tool that wrote the file (``WRITERS``): its dt convention and corrections are applied.
        x: input [T, B, *input_shape] (default: ``random_input`` with ``T``, ``samples``, ``seed``).
        expected: the writer's own output spikes on ``x`` [T, B, *]; nirsim's output is compared with it.
        min_agreement: the pass threshold on the output agreement with ``expected``.
        out: directory for ``check_nir.json`` (nothing written when None).
    """
    file = Path(path)
    findings: list[str] = []
    graph = _read(file, findings)
    if contract_of(graph) is not None:
        findings.append(
            "the file carries an snndeploy contract: `snndeploy verify` checks it against its model"
        )
    step, dt_source = _resolve_dt(graph, dt, writer)
    problems = unit_problems(graph, step)
    guess = guess_writer(graph, step)
    if writer is None and guess is not None:
        findings.append(
            f"looks like a {guess} file ({WRITERS.get(guess).summary}): rerun with --writer {guess} "
            "to apply its conventions and corrections"
        )
    corrections: list[str] = []
    fixed = graph
    if writer is not None:
        fixed, corrections = correct(graph, writer, step)
    remaining = unit_problems(fixed, step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the problems are reported above, not as warnings
        sim = NIRSimulator(fixed, dt=step, convention="euler")
    shape = sim.input_shape
    if x is None:
        x = random_input(shape, T=T, batch=samples, seed=seed)
        source = f"random uniform [0, 2), seed {seed}"
    else:
        source = "given"
    if x.dim() < 3 or tuple(x.shape[2:]) != shape:
        raise InvalidInputError(
            f"--input: shape {tuple(x.shape)} does not fit the graph's input [T, B, "
            f"{', '.join(map(str, shape))}]"
        )
    with torch.no_grad():
        y, values = sim(x.float(), record=True)
    if not isinstance(y, Tensor):
        raise InvalidInputError(f"{file}: the graph has several outputs; check-nir compares one")
    rep = CheckNirReport(
        str(file),
        writer,
        step,
        dt_source,
        shape,
        int(x.shape[0]),
        int(x.shape[1]),
        source,
        findings,
        [p.to_dict() for p in problems],
        corrections,
        [p.to_dict() for p in remaining],
        min_agreement=min_agreement,
    )
    rep.nodes = {n: float(values[n].float().mean()) for n in _neuron_nodes(fixed) if n in values}
    if expected is not None:
        if expected.numel() != y.numel():
            raise InvalidInputError(
                f"--expected: {tuple(expected.shape)} does not match the output {tuple(y.shape)}"
            )
        rep.expected = compare_spikes(expected.reshape(y.shape), y, "output")
    names = list(PEERS) if peers is None else peers
    rep.peers = _peer_rows(
        graph, x, names, values, expected.reshape(y.shape) if expected is not None else None
    )
    if energy:
        rep.energy = _energy(fixed, x, step, str(file))
    if hardware:  # the chip toolchains read the file as written
        rep.hardware = _hardware(graph, step)
    if out is not None:
        with atomic_write(Path(out) / "check_nir.json") as fh:
            json.dump(rep.to_dict(), fh, indent=2, default=float)
    return rep
