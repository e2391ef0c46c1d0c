"""Per-peer NIR export profiles: the NIR dialect each peer simulator's importer runs with snndeploy's
semantics.

``export_for(folded, input_shape, "norse")`` (or ``snndeploy export --for norse``) writes the graph for one
peer; ``PROFILES`` holds one profile per peer, each in its own module (``norse``, ``spikingjelly``,
``snntorch``, ``sinabs``, ``rockpool``, ``spyx``). See ``base.NIRProfile`` for what a profile decides and
``docs/interop.md`` for what each one measures.
"""

from . import norse, rockpool, sinabs, snntorch, spikingjelly, spyx  # noqa: F401  (each registers its profile)
from .base import PROFILES, Approximation, NIRProfile, get_profile, profile_names, register_profile
from .export import ProfileExport, export_for, measure_cost, write_for
from .rewrites import fold_r_into_weights

__all__ = [
    "PROFILES",
    "NIRProfile",
    "Approximation",
    "get_profile",
    "profile_names",
    "register_profile",
    "ProfileExport",
    "export_for",
    "write_for",
    "measure_cost",
    "fold_r_into_weights",
]
