"""Bit-accurate integer models of the chips' neurons (Loihi 2, Xylo, Speck), one module per chip (see ``base.py``)."""

from .base import ChipMapping, ChipMappingError, ChipNetwork, ChipRun, ChipSupport, MappingNote, chips, get_chip, register_chip

__all__ = [
    "ChipMapping", "ChipMappingError", "ChipNetwork", "ChipRun", "ChipSupport", "MappingNote", "chips", "get_chip",
    "register_chip",
]
