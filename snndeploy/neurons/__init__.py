"""Spiking neuron layers: LIF, CLIF, KLIF, ILIF, and the chip-faithful IAF (Speck) and CubaLIF (Xylo,
Loihi 2). Time-major ``[T, B, *]`` in, spikes out (binary; IAF/CubaLIF may emit spike counts).

Each neuron has a frozen ``*Params`` record, a ``*State`` NamedTuple, a reference ``*_step``/``*_seq``
(autograd through a loop), a hand-written BPTT ``*Function`` (not IAF/CubaLIF: reference engine only)
and a thin ``nn.Module``. Its time loop runs on one of the registered engines (``engine.py``): ``torch``
(the reference), ``eager`` (the hand-written BPTT in PyTorch ops), ``numba`` (the same as fused CPU loops)
and ``triton`` (fused GPU kernels); ``auto`` picks one per device (``torch`` where a neuron has no
other). The optional engines are loaded by ``engines.py``, imported last below.
"""

from .base import NeuronModule, SpikingModule, is_neuron
from .clif import CLIF, CLIFParams, CLIFState, clif_seq, clif_seq_bptt, clif_step
from .cubalif import CubaLIF, CubaLIFParams, CubaLIFState, cubalif_seq, cubalif_step
from .engine import Backend, available_backends, get_impl, resolve_backend, unavailable
from .iaf import IAF, IAFParams, IAFState, iaf_seq, iaf_step
from .ilif import ILIF, ILIFParams, ILIFState, ilif_seq, ilif_seq_bptt, ilif_step
from .klif import KLIF, KLIFParams, KLIFState, klif_seq, klif_seq_bptt, klif_step
from .lif import LIF, LIFParams, LIFState, lif_seq, lif_seq_bptt, lif_step
from .registry import NEURONS, make_neuron
from .surrogate import ATan, Rectangle, Sigmoid, Surrogate, Triangle, get_surrogate

# isort: split
# Last: the engines, which import the neuron modules above and register themselves.
from . import engines  # noqa: E402
from .eager_loops import clif_seq_eager, ilif_seq_eager, klif_seq_eager, lif_seq_eager  # noqa: E402

__all__ = [
    "LIF",
    "CLIF",
    "KLIF",
    "ILIF",
    "IAF",
    "CubaLIF",
    "LIFParams",
    "CLIFParams",
    "KLIFParams",
    "ILIFParams",
    "IAFParams",
    "CubaLIFParams",
    "LIFState",
    "CLIFState",
    "KLIFState",
    "ILIFState",
    "IAFState",
    "CubaLIFState",
    "iaf_step",
    "iaf_seq",
    "cubalif_step",
    "cubalif_seq",
    "lif_step",
    "lif_seq",
    "lif_seq_eager",
    "clif_step",
    "clif_seq",
    "clif_seq_eager",
    "klif_step",
    "klif_seq",
    "klif_seq_eager",
    "ilif_step",
    "ilif_seq",
    "ilif_seq_eager",
    "lif_seq_bptt",
    "clif_seq_bptt",
    "klif_seq_bptt",
    "ilif_seq_bptt",
    "Surrogate",
    "Rectangle",
    "Sigmoid",
    "ATan",
    "Triangle",
    "get_surrogate",
    "Backend",
    "NeuronModule",
    "SpikingModule",
    "is_neuron",
    "get_impl",
    "resolve_backend",
    "available_backends",
    "unavailable",
    "engines",
    "NEURONS",
    "make_neuron",
]
