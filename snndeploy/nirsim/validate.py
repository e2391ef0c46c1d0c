"""Validation entry points nirsim uses (re-exported from ``snndeploy.filecheck`` and
``snndeploy.limits``)."""

from __future__ import annotations

from ..filecheck import validate_nir_graph
from ..limits import check_elements, numel

__all__ = ["validate_nir_graph", "check_elements", "numel"]
