"""Fused Triton kernels (forward + BPTT backward), one file per neuron family. Importing this package registers
the ``triton`` backend of every neuron; it raises ImportError when Triton is not installed."""

import triton  # noqa: F401  (ImportError here means: no Triton backend)
