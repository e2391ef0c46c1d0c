"""Spiking neuron layers: LIF, CLIF, KLIF, ILIF. Time-major ``[T, B, *]`` in, binary spikes out.

Each neuron has a frozen ``*Params`` record, a ``*State`` NamedTuple, a reference ``*_step``/``*_seq`` (autograd
through a loop), a hand-written BPTT ``*Function`` (``*_seq_bptt``) and a thin ``nn.Module``.
"""

from .base import Backend, NeuronModule, available_backends, get_impl
from .clif import CLIF, CLIFParams, CLIFState, clif_seq, clif_seq_bptt, clif_step
from .ilif import ILIF, ILIFParams, ILIFState, ilif_seq, ilif_seq_bptt, ilif_step
from .klif import KLIF, KLIFParams, KLIFState, klif_seq, klif_seq_bptt, klif_step
from .lif import LIF, LIFParams, LIFState, lif_seq, lif_seq_bptt, lif_step
from .registry import NEURONS, make_neuron
from .surrogate import ATan, Rectangle, Sigmoid, Surrogate, Triangle, get_surrogate

__all__ = [
    "LIF", "CLIF", "KLIF", "ILIF",
    "LIFParams", "CLIFParams", "KLIFParams", "ILIFParams",
    "LIFState", "CLIFState", "KLIFState", "ILIFState",
    "lif_step", "lif_seq", "lif_seq_bptt",
    "clif_step", "clif_seq", "clif_seq_bptt",
    "klif_step", "klif_seq", "klif_seq_bptt",
    "ilif_step", "ilif_seq", "ilif_seq_bptt",
    "Surrogate", "Rectangle", "Sigmoid", "ATan", "Triangle", "get_surrogate",
    "Backend", "NeuronModule", "get_impl", "available_backends",
    "NEURONS", "make_neuron",
]
