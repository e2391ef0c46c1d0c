"""Engine ``eager``: the hand-written BPTT of every neuron as loops of PyTorch ops (any device).

One file per neuron family; importing the package registers ``<neuron>_seq_eager`` under ``Backend.EAGER``.
These loops are the spec of the fused engines (``cpu_loops/`` in numba, ``triton_kernels/`` in Triton): same
float32 operations in the same order, same saved tensors. They run where no fused engine does (``auto`` on a
device other than CPU or CUDA, or without numba / Triton) and are the readable version of the BPTT recursions.
"""

from .clif import clif_seq_eager
from .ilif import ilif_seq_eager
from .klif import klif_seq_eager
from .lif import lif_seq_eager

__all__ = ["lif_seq_eager", "clif_seq_eager", "klif_seq_eager", "ilif_seq_eager"]
