"""Model builders (MLP, VGG, spiking ResNet) and the building blocks in ``layers``."""
from .layers import Residual, TimeDistributed

__all__ = ["TimeDistributed", "Residual"]
