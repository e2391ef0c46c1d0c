"""Hardware hand-off II: target-aware training (``train --target``) and conversion of trained models
(``deploy``) into target-legal, quantised models that keep their accuracy on the chip's integer model."""

from ..data.view import TargetData, target_data
from .qat import ChipQuantizer
from .recipes import RECIPES, DeployRequestError, TargetRecipe, check_request, get_recipe
from .train_target import TargetTrainConfig, TargetTrainResult, train_for_target

__all__ = [
    "TargetData",
    "target_data",
    "ChipQuantizer",
    "RECIPES",
    "DeployRequestError",
    "TargetRecipe",
    "check_request",
    "get_recipe",
    "TargetTrainConfig",
    "TargetTrainResult",
    "train_for_target",
]
