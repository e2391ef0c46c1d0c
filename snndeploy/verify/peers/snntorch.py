"""snntorch adapter: ``snntorch.import_nir.import_from_nir(graph)`` (dt = 1e-4 s inside), stepped with its
state."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from torch import Tensor

from .base import PeerAdapter, PeerOutput, hook_nodes, neuron_nodes, run_stepwise, stack_steps

__all__ = ["ADAPTER"]


def run(graph: Any, x: Tensor) -> PeerOutput:
    import snntorch
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # the importer prints its weight rescaling
        net = import_from_nir(graph)
        with hook_nodes(net, neuron_nodes(graph)) as store:
            out = run_stepwise(net, x)
    return PeerOutput(
        out, stack_steps(store), f"snntorch {snntorch.__version__} import_from_nir (dt = 1e-4 s)"
    )


ADAPTER = PeerAdapter("snntorch", "snntorch", run)
