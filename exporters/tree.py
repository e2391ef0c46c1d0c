"""Deprecated location: the model-tree walker lives in ``snndeploy.models.tree`` (core: models define the
tree)."""

from snndeploy.models.tree import (
    STATELESS_LAYERS,
    check_tree,
    get_module,
    neuron_paths,
    path_name,
    set_module,
    walk,
)

__all__ = ["STATELESS_LAYERS", "check_tree", "neuron_paths", "get_module", "set_module", "path_name", "walk"]
