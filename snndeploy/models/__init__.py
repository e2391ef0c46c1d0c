"""Model builders (MLP, VGG, spiking ResNet), their registry and config, and the building blocks in
``layers``."""
from . import chipnet, mlp, resnet, vgg  # noqa: F401  (register the builders)
from .config import ModelConfig
from .layers import Residual, TimeDistributed
from .registry import MODELS, build_model, register_model

__all__ = ["TimeDistributed", "Residual", "ModelConfig", "MODELS", "build_model", "register_model"]
