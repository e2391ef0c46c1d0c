"""Energy estimation: per-layer op counts on real data (hooks), sourced per-op energy profiles, reports.

Tensors are time-major ``[T, B, *]``. See ``docs/energy.md`` for the method, the conventions and the sources.
"""

from .counting import SYNAPTIC_TYPES, LayerCount, OpCounts, count_ops, input_kind
from .estimate import EnergyEstimate, LayerEnergy, estimate_energy
from .neuron_ops import (
    NEURON_OPS,
    OP_KINDS,
    NeuronOpCount,
    is_neuron,
    neuron_ops,
    register_neuron_ops,
    spec_ops,
)
from .nir_counting import NIR_COUNTERS, count_nir_ops
from .profiles import BASES, COST_KEYS, Cost, EnergyProfile, builtin_profiles, get_profile, load_profile
from .report import CAVEATS, SCHEMA_VERSION, build_report, energy_report, to_markdown, write_report

__all__ = [
    "SYNAPTIC_TYPES", "LayerCount", "OpCounts", "count_ops", "input_kind",
    "EnergyEstimate", "LayerEnergy", "estimate_energy",
    "NEURON_OPS", "OP_KINDS", "NeuronOpCount", "is_neuron", "neuron_ops", "register_neuron_ops", "spec_ops",
    "NIR_COUNTERS", "count_nir_ops",
    "BASES", "COST_KEYS", "Cost", "EnergyProfile", "builtin_profiles", "get_profile", "load_profile",
    "CAVEATS", "SCHEMA_VERSION", "build_report", "energy_report", "to_markdown", "write_report",
]
