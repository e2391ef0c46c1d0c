"""Engine ``numba``: the hand-written BPTT of every neuron as fused CPU loops compiled with numba.

One file per neuron family (kernels, their ``*_forward`` / ``*_backward`` wrappers and the registration of
``<neuron>_seq_numba`` under ``Backend.NUMBA``), plus:

- ``_common.py``: the charge, surrogates and a sigmoid equal to PyTorch's bit for bit, its scalar tails;
- ``_compile.py``: numba options, the on-disk cache (``CACHE_DIR``) and the C entry points that run a kernel
  over neuron ranges from any number of threads;
- ``_threads.py``: which threads run them (``threading_choice()``: PyTorch's OpenMP team or a thread pool);
- ``_buffers.py``: the pool that recycles large output and saved buffers (``pool_stats()``,
  ``release_buffers()``, ``set_pool_limit()``).

Importing this package imports numba (``snndeploy/neurons/engines.py`` does it when numba is installed). The
loops compute the same float32 operations in the same order as the ``eager`` engine and save the same tensors;
see ``docs/kernels.md`` for the design.
"""

from ._buffers import PoolStats, pool_stats, release_buffers, set_pool_limit
from ._compile import CACHE_DIR
from ._threads import Threading, set_threading, threading_choice
from .clif import clif_seq_numba
from .ilif import ilif_seq_numba
from .klif import klif_seq_numba
from .lif import lif_seq_numba

__all__ = [
    "CACHE_DIR",
    "Threading",
    "threading_choice",
    "set_threading",
    "PoolStats",
    "pool_stats",
    "release_buffers",
    "set_pool_limit",
    "lif_seq_numba",
    "clif_seq_numba",
    "klif_seq_numba",
    "ilif_seq_numba",
]
