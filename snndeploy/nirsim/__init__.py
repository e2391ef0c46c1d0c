"""nirsim: a discrete-time, batched torch interpreter of NIR graphs (explicit dt and cycle semantics)."""

from .graph import flatten_graph, schedule
from .nodes import EXECUTORS, register_executor
from .sim import NIRSimulator, from_nir, layer_spikes, simulate

__all__ = ["NIRSimulator", "from_nir", "simulate", "layer_spikes", "flatten_graph", "schedule", "EXECUTORS", "register_executor"]
