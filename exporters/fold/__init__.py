"""Folding CLIF/KLIF/ILIF/LIF (+ BatchNorm) into LIF-equivalent form; see ``docs/folding.md``."""

from .api import DEFAULT_GRANULARITY, fold
from .bn import bn_affine, fold_batchnorms
from .calibration import GRANULARITIES, LayerData, layer_agreement, output_agreement, total_agreement
from .finetune import FinetuneResult, finetune
from .from_checkpoint import fold_checkpoint
from .report import FoldReport, LayerFold
from .rules import FOLD_RULES, get_fold_rule, register_fold_rule

__all__ = [
    "fold",
    "DEFAULT_GRANULARITY",
    "GRANULARITIES",
    "fold_checkpoint",
    "FoldReport",
    "LayerFold",
    "FOLD_RULES",
    "register_fold_rule",
    "get_fold_rule",
    "fold_batchnorms",
    "bn_affine",
    "LayerData",
    "layer_agreement",
    "output_agreement",
    "total_agreement",
    "finetune",
    "FinetuneResult",
]
