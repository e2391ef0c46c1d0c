"""Peer simulators that run NIR graphs: one adapter module per peer, and what was measured about each.

Each adapter (``norse``, ``spikingjelly``, ``snntorch``, ``sinabs``, ``rockpool``) imports a graph with the
peer's own NIR importer, runs it on ``x`` [T, B, *] and returns the output and the spikes of every neuron
node, hooked by NIR node name (``base.hook_nodes``). Adapters rewrite nothing: what a peer needs is written
by the peer's export profile (``exporters.nir_profiles``), and a foreign file runs as the peer reads it.

``KNOWN_DIFFERENCES`` is not written by hand: ``benchmarks/interop_matrix.py`` measures every peer × model
× direction and writes ``findings.json`` beside this file (and ``docs/interop.md``);
``tests/test_interop.py`` re-measures a subset against the installed versions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporters.nir_profiles import fold_r_into_weights

from ...errors import UnknownNameError
from ...registry import Registry
from . import norse, rockpool, sinabs, snntorch, spikingjelly
from .base import PeerAdapter, PeerOutput

__all__ = [
    "PEERS",
    "KNOWN_DIFFERENCES",
    "FINDINGS_PATH",
    "load_findings",
    "fold_r_into_weights",
    "PeerAdapter",
    "PeerOutput",
    "get_peer",
]

PEERS: Registry[str, PeerAdapter] = Registry("peer simulator", UnknownNameError)
for _mod in (norse, spikingjelly, snntorch, sinabs, rockpool):
    PEERS.add(_mod.ADAPTER.name, _mod.ADAPTER)

#: Written by ``benchmarks/interop_matrix.py`` (measured, with the versions it ran).
FINDINGS_PATH = Path(__file__).with_name("findings.json")


def load_findings(path: Path = FINDINGS_PATH) -> dict[str, Any]:
    """The measured interop findings (``{}`` when the file is missing or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _known_differences() -> dict[str, list[str]]:
    findings = load_findings()
    versions = findings.get("versions", {})
    out: dict[str, list[str]] = {}
    for peer, items in findings.get("peers", {}).items():
        tag = f" (measured with {versions[peer]})" if peer in versions else ""
        out[peer] = [f"{item}{tag}" for item in items]
    return out


#: peer → measured differences (one line each), from ``findings.json``.
KNOWN_DIFFERENCES: dict[str, list[str]] = _known_differences()


def get_peer(name: str) -> PeerAdapter:
    return PEERS.get(name, "peer")
