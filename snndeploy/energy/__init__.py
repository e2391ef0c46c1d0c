"""Energy estimation: per-layer op counts on real data (hooks), sourced per-op energy profiles, reports.

Tensors are time-major ``[T, B, *]``. See ``docs/energy.md`` for the method, the conventions and the sources.
"""

from .counting import (
    ROW_KINDS,
    SYNAPTIC_TYPES,
    LayerCount,
    OpCounts,
    count_ops,
    fanout_maps,
    input_kind,
    record_synaptic,
)
from .estimate import (
    OK_STATUSES,
    TERMS,
    EnergyEstimate,
    LayerEnergy,
    ScenarioEnergy,
    TermEnergy,
    estimate_energy,
    memory_traffic,
)
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
from .profiles import (
    BASES,
    COST_KEYS,
    DATAFLOWS,
    MEMORY_COMPONENTS,
    Cost,
    EnergyProfile,
    MemoryModel,
    MemoryPrice,
    MemoryScenario,
    builtin_profiles,
    get_profile,
    load_profile,
)
from .report import (
    CAVEATS,
    SCHEMA_VERSION,
    build_report,
    data_text,
    energy_cells,
    energy_report,
    fold_for_counting,
    missing_text,
    pj_text,
    range_text,
    to_markdown,
    write_report,
)

__all__ = [
    "ROW_KINDS", "SYNAPTIC_TYPES", "LayerCount", "OpCounts", "count_ops", "fanout_maps", "input_kind",
    "record_synaptic",
    "OK_STATUSES", "TERMS", "EnergyEstimate", "LayerEnergy", "ScenarioEnergy", "TermEnergy",
    "estimate_energy", "memory_traffic",
    "NEURON_OPS", "OP_KINDS", "NeuronOpCount", "is_neuron", "neuron_ops", "register_neuron_ops", "spec_ops",
    "NIR_COUNTERS", "count_nir_ops",
    "BASES", "COST_KEYS", "DATAFLOWS", "MEMORY_COMPONENTS", "Cost", "EnergyProfile", "MemoryModel",
    "MemoryPrice", "MemoryScenario", "builtin_profiles", "get_profile", "load_profile",
    "CAVEATS", "SCHEMA_VERSION", "build_report", "data_text", "energy_cells", "energy_report",
    "fold_for_counting", "missing_text", "pj_text", "range_text", "to_markdown", "write_report",
]
