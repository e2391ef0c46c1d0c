"""Spike-equivalence verification across runtimes (source, fused backend, folded, ONNX Runtime, nirsim,
peers)."""

from .api import APPROXIMATE, EXACT, INFORMATIONAL, RuntimeReport, VerifyReport, verify
from .compare import Divergence, SpikeComparison, compare_spikes

__all__ = ["verify", "VerifyReport", "RuntimeReport", "EXACT", "APPROXIMATE", "INFORMATIONAL",
           "Divergence", "SpikeComparison", "compare_spikes"]
