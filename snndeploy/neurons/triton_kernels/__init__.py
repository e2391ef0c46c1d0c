"""Fused Triton kernels (forward + BPTT backward), one file per neuron family. Importing this package
registers the ``triton`` backend of every neuron; it raises ImportError when Triton is not installed.

CPU tensors run only in Triton's interpreter (``TRITON_INTERPRET=1`` set before ``triton`` is imported); see
``docs/kernels.md`` for the design and the bytes moved per neuron-step.
"""

import triton  # noqa: F401  (ImportError here means: no Triton backend)

from .clif import CLIFTritonFunction, clif_seq_triton
from .ilif import ILIFTritonFunction, ilif_seq_triton
from .klif import KLIFTritonFunction, klif_seq_triton
from .lif import LIFTritonFunction, lif_seq_triton

__all__ = [
    "lif_seq_triton",
    "clif_seq_triton",
    "klif_seq_triton",
    "ilif_seq_triton",
    "LIFTritonFunction",
    "CLIFTritonFunction",
    "KLIFTritonFunction",
    "ILIFTritonFunction",
]
