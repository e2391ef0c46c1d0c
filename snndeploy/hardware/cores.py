"""Core memory of chips that hold one layer per core (Speck / DYNAP-CNN): each layer's kernel and neuron
memory, and whether the layers fit on distinct cores at once. Driven by the target's ``[cores]`` section
(per-core memory sizes and the memory formulas' source), so a chip with another core layout is a data change.
"""

from __future__ import annotations

import math

from torch import nn

from .report import CheckReport
from .targets import HardwareTarget
from .views import kernel_of

__all__ = ["layer_memory", "place_on_cores"]


def layer_memory(mod: nn.Module, out_shape: tuple[int, ...]) -> tuple[int, int]:
    """(kernel memory, neuron memory) entries of a Conv2d/Linear with per-sample output ``out_shape``:
    K = c_in · 2^(⌈log2(kx·ky)⌉ + ⌈log2 c_out⌉), N = c_out · 2^(⌈log2 fy⌉ + ⌈log2 fx⌉) (a Linear is a conv
    whose kernel covers its input)."""
    if isinstance(mod, nn.Conv2d):
        kx, ky = kernel_of(mod, "kernel_size")
        c_in, c_out, fy, fx = mod.in_channels, mod.out_channels, out_shape[-2], out_shape[-1]
    else:
        kx = ky = 1
        c_in, c_out, fy, fx = mod.in_features, mod.out_features, 1, 1
    k = c_in * 2 ** (math.ceil(math.log2(kx * ky)) + math.ceil(math.log2(c_out)))
    n = c_out * 2 ** (math.ceil(math.log2(fy)) + math.ceil(math.log2(fx)))
    return int(k), int(n)


def place_on_cores(rep: CheckReport, t: HardwareTarget, layers: list[tuple[str, int, int]]) -> None:
    """Assign each (name, kernel memory, neuron memory) layer to a distinct core whose memories fit
    (backtracking); violations name the first layer no core can hold, or say the layers do not fit all at
    once."""
    if t.cores is None:
        return
    wmem = [int(v) * 1024 for v in t.cores.weight_memory_ki]
    nmem = [int(v) * 1024 for v in t.cores.neuron_memory_ki]
    for name, k, n in layers:
        if not any(k <= w and n <= m for w, m in zip(wmem, nmem, strict=True)):
            rep.add(name, "cores.memory", "error",
                    f"needs kernel memory {k} and neuron memory {n} entries; no {t.name} core has both",
                    "reduce channels or feature-map size (memory rounds up to powers of two)", t.cores.source)
            return
    used = [False] * len(wmem)

    def place(i: int) -> bool:
        if i == len(layers):
            return True
        _, k, n = layers[i]
        for c in range(len(wmem)):
            if not used[c] and k <= wmem[c] and n <= nmem[c]:
                used[c] = True
                if place(i + 1):
                    return True
                used[c] = False
        return False

    if len(layers) <= len(wmem) and not place(0):
        rep.add(layers[0][0], "cores.memory", "error",
                f"the layers fit individually but not all at once on the {len(wmem)} cores",
                "shrink the largest layers", t.cores.source)
