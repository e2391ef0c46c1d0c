"""``NIRProfile``: the NIR dialect one peer simulator's importer runs with snndeploy's semantics.

A profile says, for one peer (norse, spikingjelly, snntorch, sinabs, rockpool, spyx):

- which folded neurons (``LIFSpec``) the peer's importer can represent, and for the others the closest spec
  it can (``approximate``: e.g. a soft reset exported as a hard reset), with the reason;
- how one neuron becomes NIR nodes for that importer (``neuron_node``: the dt/τ convention, where the input
  gain r goes, the threshold value for the peer's comparison, a CubaLIF for rockpool);
- which graph rewrites the importer needs (``rewrites``: residual junctions as plain edges, batch-safe
  Flatten dimensions, AvgPool as SumPool with 1/k² in the next weights, ...);
- ``emulate``: a torch module that runs a spec with the peer's neuron semantics in snndeploy's float order,
  so the export can *measure* the cost of what the peer cannot represent (spike agreement on calibration
  data).

Profiles live in a registry (``PROFILES``), one small module per peer;
``exporters.nir_profiles.export_for`` applies one to a folded model. Facts about each importer are read
from the peers' own code (versions named in each module) and measured by ``benchmarks/interop_matrix.py``
(``docs/interop.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor, nn

from snndeploy.errors import ExportError
from snndeploy.neurons.dynamics import charge
from snndeploy.registry import Registry

from ..lifspec import LIFSpec

__all__ = [
    "NIRProfile",
    "NeuronNodes",
    "Rewrite",
    "PROFILES",
    "register_profile",
    "get_profile",
    "profile_names",
    "Approximation",
    "MultiSpikeLIF",
    "float32_solving",
]


@dataclass(frozen=True)
class Approximation:
    """A spec the peer can represent in place of one it cannot, and why (``spec`` is None: nothing close)."""

    spec: LIFSpec | None
    reason: str


@dataclass
class NeuronNodes:
    """What ``neuron_node`` returns: the node, the factor to fold into the incoming weights, notes, and
    problems (what the importer will get wrong or refuse for this node)."""

    node: nir.NIRNode
    input_scale: float = 1.0
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


#: A graph rewrite: (nodes, edges, context) → notes; edits ``nodes``/``edges`` in place.
Rewrite = Callable[[dict[str, nir.NIRNode], list[tuple[str, str]], dict[str, Any]], list[str]]


@dataclass(frozen=True)
class NIRProfile:
    """One peer's NIR dialect (see the module docstring).

    Attributes:
        name: the peer (``--for`` value).
        versions: the peer versions whose importer the profile was written against.
        reader: how to import the file in the peer (shown in the contract).
        dt: the export dt the importer assumes (``None``: the caller's dt, which the reader is given).
        time_unit: unit of dt and τ in the file (``"s"``, or ``"step"`` when the importer reads τ in
            steps).
        nir_semantics: True when the file means the same under NIR's own definition (standard readers and
        nirsim
            run it as the peer does); False for dialects (e.g. τ in steps with exponential decay).
        threshold_op: the peer's spike comparison (``">"`` or ``">="``); the threshold is written to match.
        supports: spec → None when the peer represents it, else an ``Approximation``.
        neuron_node: (spec, shape, dt) → ``NeuronNodes`` (the spec is always one ``supports`` accepts).
        rewrites: graph rewrites applied in order after the neurons are written.
        emulate: spec → torch module with the peer's neuron semantics (cost measurement), or None
            (FoldedLIF).
        float_order: one line on how the peer's float operations differ from snndeploy's.
        node_types: the NIR node types the importer maps (others are reported as not importable).
        summary: one line for ``--for`` help and the contract.
    """

    name: str
    versions: str
    reader: str
    dt: float | None
    time_unit: str
    nir_semantics: bool
    threshold_op: str
    supports: Callable[[LIFSpec], Approximation | None]
    neuron_node: Callable[[LIFSpec, tuple[int, ...], float], NeuronNodes]
    rewrites: tuple[Rewrite, ...] = ()
    emulate: Callable[[LIFSpec], nn.Module] | None = None
    float_order: str = ""
    node_types: frozenset[str] = frozenset()
    summary: str = ""

    def threshold_value(self, v_threshold: float) -> np.float32:
        """The threshold to write so that the peer's comparison fires exactly where ours (``h ≥ θ``) does."""
        th = np.float32(v_threshold)
        return th if self.threshold_op == ">=" else np.nextafter(th, np.float32(-np.inf))


PROFILES: Registry[str, NIRProfile] = Registry("NIR export profile", ExportError)


def register_profile(profile: NIRProfile) -> NIRProfile:
    """Add ``profile`` to ``PROFILES`` under its name (a second profile with the same name is an error)."""
    return PROFILES.add(profile.name, profile)


def get_profile(name: str | NIRProfile) -> NIRProfile:
    """The profile of peer ``name`` (``ExportError`` listing the known ones)."""
    return name if isinstance(name, NIRProfile) else PROFILES.get(name, "--for")


def profile_names() -> list[str]:
    return [p.name for p in PROFILES.values()]


class MultiSpikeLIF(nn.Module):
    """A ``LIFSpec`` with the multi-spike subtractive reset of sinabs' ``MultiSpike`` and rockpool's
    ``StepPWL``: n[t] = ⌊H[t]/θ⌋ where H[t] ≥ θ (else 0), V[t] = H[t] − n[t]·c_r. ``forward``: [T, B, *] →
    counts [T, B, *].

    Charge in snndeploy's float order (``dynamics.charge``); used only to measure what a peer's semantics
    cost.
    """

    def __init__(self, spec: LIFSpec):
        super().__init__()
        self.spec = spec

    def forward(self, x_seq: Tensor) -> Tensor:
        sp = self.spec
        x32 = x_seq.float()
        v = torch.zeros_like(x32[0])
        out = []
        for t in range(x32.shape[0]):
            h = charge(v, x32[t], sp.tau, sp.decay_input, sp.v_rest)
            if sp.scale != 1.0:
                h = sp.scale * h
            n = torch.where(h >= sp.v_threshold, torch.floor(h / sp.v_threshold), torch.zeros_like(h))
            v = h - n * sp.reset_amount
            out.append(n)
        return torch.stack(out)


def float32_solving(f: Callable[[np.float32], Any], x0: float, target: Any, max_ulps: int = 64) -> np.float32:
    """The float32 nearest ``x0`` (within ``max_ulps``) for which ``f(x) == target`` exactly, else
    float32(x0).

    Peers recompute derived constants from what the file stores (sinabs: α = exp(−1/τ) in float32);
    searching the stored value's neighbours makes the peer's constant bit-equal to snndeploy's where one
    exists.
    """
    base = np.float32(x0)
    up, down = base, base
    for _ in range(max_ulps + 1):
        for cand in (up, down):
            if f(cand) == target:
                return cand
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(-np.inf))
    return base
