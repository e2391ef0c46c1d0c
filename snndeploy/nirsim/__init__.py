"""nirsim: a discrete-time, batched torch interpreter of NIR graphs (explicit dt and cycle semantics)."""

from .graph import flatten_graph, schedule
from .inputs import input_shape_of, random_input
from .nodes import EXECUTORS, register_executor
from .sim import NIRSimulator, from_nir, layer_spikes, simulate
from .units import NIRUnitWarning, UnitProblem, unit_problems, warn_unit_problems

__all__ = [
    "NIRSimulator",
    "from_nir",
    "simulate",
    "layer_spikes",
    "flatten_graph",
    "schedule",
    "EXECUTORS",
    "register_executor",
    "random_input",
    "input_shape_of",
    "unit_problems",
    "UnitProblem",
    "NIRUnitWarning",
    "warn_unit_problems",
]
