"""Unroll a float model into (dense affine segment, neuron layer) pairs: the structure ``map_model`` maps.

``split_segments(model, probe)`` walks ``snndeploy.models.tree.walk`` units in execution order: the affine
stateless layers between two neuron layers (``AFFINE``: Linear, Conv1d/2d, AvgPool1d/2d, Flatten, Unflatten,
Dropout in eval, Identity) form one segment, and ``unroll`` turns a segment into one dense matrix and bias,
evaluated in float64 on the basis vectors (W = f(I) − f(0), β = f(0); exact for affine layers). Layers after
the last neuron layer are the (host-side) readout segment. Residual blocks, BatchNorm (fold it first) and any
other layer raise ``ChipMappingError`` naming the layer. Shapes come from one forward of a [2, 2,
*input_shape] zero probe (T, B ≥ 2 make every layer's time/batch dimensions unambiguous: ``TimeDistributed``
layers see T·B rows, top-level layers [T, B, ...]).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ...models.layers import Residual
from ...models.tree import walk
from ...neurons.base import is_neuron
from .base import ChipMappingError

__all__ = ["AFFINE", "split_segments", "unroll", "probe_input"]

AFFINE = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Identity,
)
_MAX_ENTRIES = 1 << 26  # largest unrolled matrix (N_out·N_in) map_model builds


def layer_shapes(
    model: nn.Module, units: list[tuple[str, nn.Module]], probe: Tensor
) -> dict[int, tuple[str, tuple, tuple]]:
    """Per unit: ("td" | "tb", per-sample input shape, per-sample output shape) (one forward of ``probe``)."""
    t_steps, batch = probe.shape[:2]
    found: dict[int, tuple[str, tuple, tuple]] = {}

    def strip(shape: tuple) -> tuple[str, tuple]:
        if shape[:2] == (t_steps, batch):
            return "tb", shape[2:]
        if shape[0] == t_steps * batch:
            return "td", shape[1:]
        raise ChipMappingError(f"cannot tell the time/batch dimensions of a layer input of shape {shape}")

    def hook(mod: nn.Module, args: tuple, out: Any) -> None:
        kind, s_in = strip(tuple(args[0].shape))
        found[id(mod)] = (kind, s_in, tuple(out.shape[2:] if kind == "tb" else out.shape[1:]))

    handles = [m.register_forward_hook(hook) for _, m in units]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(probe)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return found


def unroll(seg: list[tuple[str, nn.Module]], shapes: dict, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense (W [N_out, N_in], β [N_out]) of the affine segment, evaluated in float64 on the basis vectors."""
    mods = [(copy.deepcopy(m).double().eval(), shapes[id(m)]) for _, m in seg]
    in_shape = mods[0][1][1]

    def f(z: Tensor) -> Tensor:
        for mod, (kind, _, _) in mods:
            z = mod(z) if kind == "td" else mod(z.unsqueeze(0)).squeeze(0)
        return z.reshape(z.shape[0], -1)

    with torch.no_grad():
        beta = f(torch.zeros(1, *in_shape, dtype=torch.float64))[0]
        n_out = beta.numel()
        if n_out * n_in > _MAX_ENTRIES:
            raise ChipMappingError(
                f"layer {seg[-1][0]!r}: unrolled to {n_out} x {n_in} weights, more than "
                f"{_MAX_ENTRIES} (limit of this mapper)"
            )
        w = np.empty((n_out, n_in))
        for lo in range(0, n_in, 1024):
            hi = min(lo + 1024, n_in)
            basis = torch.zeros(hi - lo, n_in, dtype=torch.float64)
            basis[torch.arange(hi - lo), torch.arange(lo, hi)] = 1.0
            w[:, lo:hi] = (f(basis.reshape(hi - lo, *in_shape)) - beta).numpy().T
    return w, beta.numpy()


def split_segments(
    model: nn.Module, probe: Tensor
) -> tuple[list[tuple[list, tuple[str, nn.Module], int]], list, dict]:
    """Split the model into (affine segment, neuron layer, N_in) pairs plus the trailing readout segment."""
    units = walk(model)
    shapes = layer_shapes(model, units, probe)
    pairs: list[tuple[list, tuple[str, nn.Module], int]] = []
    seg: list[tuple[str, nn.Module]] = []
    n_in = int(math.prod(probe.shape[2:]))
    for name, mod in units:
        if isinstance(mod, Residual):
            raise ChipMappingError(
                f"layer {name!r}: residual/skip connections cannot be loaded on Loihi 2 (netx "
                "has no concat/add layer); use a plain chain"
            )
        if is_neuron(mod):
            pairs.append((seg, (name, mod), n_in))
            n_in = int(math.prod(shapes[id(mod)][2]))
            seg = []
        elif isinstance(mod, AFFINE):
            if id(mod) in shapes:
                seg.append((name, mod))
        else:
            raise ChipMappingError(
                f"layer {name!r}: {type(mod).__name__} has no Loihi 2 mapping; allowed between "
                f"neuron layers: {', '.join(c.__name__ for c in AFFINE)} (fold BatchNorm first)"
            )
    if not pairs:
        raise ChipMappingError("model has no neuron layer to map onto Loihi 2")
    return pairs, seg, shapes


def probe_input(model: nn.Module, x: Tensor | None) -> Tensor:
    """A [2, 2, *input_shape] zero input (T, B ≥ 2 make every layer's time/batch dimensions unambiguous)."""
    if x is not None:
        if x.dim() < 3:
            raise ChipMappingError(f"calibration_x must be [T, B, *input_shape], got shape {tuple(x.shape)}")
        return torch.zeros(2, 2, *x.shape[2:])
    first = next((m for _, m in walk(model) if not isinstance(m, (nn.Dropout, nn.Identity))), None)
    if not isinstance(first, nn.Linear):
        raise ChipMappingError(
            "pass calibration_x: the input shape cannot be inferred (first layer is "
            f"{type(first).__name__}, not Linear)"
        )
    return torch.zeros(2, 2, first.in_features)
