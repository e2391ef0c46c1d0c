"""Bit-accurate integer models of the chips' neurons (Loihi 2, Xylo, Speck): one family of modules per chip,
each registered by its ``<chip>_support.py`` (see ``base.py``)."""

from .base import (
    ChipAgreement,
    ChipMapping,
    ChipMappingError,
    ChipNetwork,
    ChipRun,
    ChipSupport,
    LayerMatch,
    MappingNote,
    chips,
    get_chip,
    register_chip,
)

__all__ = [
    "ChipAgreement", "ChipMapping", "ChipMappingError", "ChipNetwork", "ChipRun", "ChipSupport", "LayerMatch",
    "MappingNote", "chips", "get_chip", "register_chip",
]
