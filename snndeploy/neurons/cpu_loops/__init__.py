"""Fused CPU loops of the BPTT Functions, compiled with numba: one file per neuron family, plus ``_common.py``.

``LIFFunction``, ``CLIFFunction``, ``KLIFFunction`` and ``ILIFFunction`` (backend ``"bptt"``) run these loops for
CPU tensors when numba is installed (``usable``), and their eager PyTorch loops otherwise (CUDA tensors, no numba,
or ``SNNDEPLOY_FUSED_CPU=0``). Both compute the same float32 operations in the same order and save the same
tensors; see ``_common.py`` for the floating-point contract and ``docs/kernels.md`` for the design.

This package imports numba only when a kernel module is first used (``from .cpu_kernels.lif import ...``), so
importing snndeploy stays fast.
"""

from __future__ import annotations

import importlib.util
import os

from torch import Tensor

__all__ = ["AVAILABLE", "ENV_SWITCH", "enabled", "usable", "engine"]

#: numba is installed: the fused CPU loops can run.
AVAILABLE: bool = importlib.util.find_spec("numba") is not None

#: Environment variable that turns the fused CPU loops off (``0``): the BPTT Functions then run their eager loops.
ENV_SWITCH = "SNNDEPLOY_FUSED_CPU"


def enabled() -> bool:
    """True when numba is installed and ``SNNDEPLOY_FUSED_CPU`` is not ``0``."""
    return AVAILABLE and os.environ.get(ENV_SWITCH, "1") != "0"


def usable(x: Tensor) -> bool:
    """True when the fused CPU loops can run on ``x``: enabled, and ``x`` lives on the CPU."""
    return x.device.type == "cpu" and enabled()


def engine(device_type: str = "cpu") -> str:
    """Which loops the BPTT Functions run on ``device_type``: ``"numba"`` (fused) or ``"eager"`` (PyTorch ops)."""
    return "numba" if device_type == "cpu" and enabled() else "eager"
