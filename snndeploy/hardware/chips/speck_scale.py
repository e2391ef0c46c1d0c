"""sinabs' discretisation rule for one DYNAP-CNN layer, reproduced operation for operation (float32, torch).

Source: sinabs 3.1.3 ``backend/dynapcnn/discretize.py``: ``_discretize_conv_spk_``,
``determine_discretization_scale``, ``discretize_tensor``. For a tensor ``obj`` and a precision of b bits
(lo = −2^(b−1), hi = 2^(b−1) − 1), in float32 like sinabs:

    scale(obj, b) = |hi / max(obj)|   if |min(obj)| ≤ |max(obj)| · |lo / hi|
                    |lo / min(obj)|   otherwise                       (an all-zero tensor gives +inf)

One scale per layer, shared by weights, bias, threshold and v_mem range:

    s = min(scale(W, 8), scale(b, 8), scale((min_v_mem, θ), 16))      (b = 0 when the layer has no bias)
    q = round(x · s)   for every parameter (torch.round: half to even)

So the largest weight (or bias) lands on 127 (or −128 at the negative end), unless the 16-bit threshold pair
binds first. With ``min_v_mem = None`` sinabs uses −2^15 *before* scaling, which caps s at 1; snndeploy always
passes an explicit ``min_v_mem`` (−θ by default, as ``sinabs.from_nir`` does for NIR ``IF`` nodes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["WEIGHT_BITS", "STATE_BITS", "tensor_scale", "discretization_scale", "discretize"]

WEIGHT_BITS = 8  # discretize.py DYNAPCNN_WEIGHT_PRECISION_BITS
STATE_BITS = 16  # discretize.py DYNAPCNN_STATE_PRECISION_BITS


def _f32(x: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x,
                           dtype=torch.float32)


def tensor_scale(obj: Any, bits: int) -> torch.Tensor:
    """``determine_discretization_scale(obj, bits)``: a 0-d float32 tensor (module docstring)."""
    t = _f32(obj)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    mn, mx = torch.min(t), torch.max(t)
    ratio = abs(lo / hi)
    if abs(mn) <= abs(mx) * ratio:
        return abs(hi / mx)
    return abs(lo / mn)


def discretization_scale(weight: Any, bias: Any | None, threshold: Any, min_v_mem: Any) -> float:
    """The layer scale s = min(scale(W, 8), scale(b, 8), scale((min_v_mem, θ), 16)) as a Python float
    (exactly the float32 value sinabs computes)."""
    w = _f32(weight)
    b = _f32(bias) if bias is not None else torch.zeros(w.shape[0])
    pair = torch.tensor((float(_f32(min_v_mem)), float(_f32(threshold))), dtype=torch.float32)
    scales = (tensor_scale(w, WEIGHT_BITS), tensor_scale(b, WEIGHT_BITS), tensor_scale(pair, STATE_BITS))
    return float(min(scales))


def discretize(x: Any, scale: float) -> np.ndarray:
    """``discretize_tensor(x, scale)``: round(float32(x) · float32(scale)), half to even, as int64."""
    q = torch.round(_f32(x) * torch.tensor(scale, dtype=torch.float32))
    return q.to(torch.int64).numpy()
