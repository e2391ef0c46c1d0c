"""Spike-equivalence verification across runtimes (source, folded, ONNX Runtime, NIR simulators, peers)."""
from .compare import Divergence, SpikeComparison, compare_spikes

__all__ = ["Divergence", "SpikeComparison", "compare_spikes"]
