"""The deploy rewrites: a folded model (``exporters.fold``: BatchNorm in the weights, LIF-form ``FoldedLIF``
neurons) becomes the form its target runs. Each rewrite is recorded with whether it is exact.

Rewrites (``rewrite_for_target``), in this order; "exact" means equal in real arithmetic (float32 rounding
aside):

- **input scale** (Speck: digits pixels k/16 arrive as k events): the first weight layer is multiplied by
  1/scale. Exact.
- **AvgPool → SumPool** (Speck): ``AvgPool2d(k)`` becomes a sum pool (``divisor_override=1``) and the next
  weight
  layer is multiplied by 1/k² (sinabs does the same, ``extract_pooling_from_module``). Exact.
- **AvgPool → the next layer's weights** (Loihi 2, SpiNNaker2: no pooling layer): an average pool p×p followed
  by a convolution (kernel K, stride s, padding P) is one convolution with kernel p·K, stride p·s, padding p·P
  and weights W'[m] = W[⌊m/p⌋]/p²; followed by Flatten → Linear, it is a Linear on the unpooled map with
  W'[o, c, y, x] = W[o, c, ⌊y/p⌋, ⌊x/p⌋]/p². Exact (maps whose side p divides).
- **BatchNorm** is folded into the weights by ``exporters.fold`` (exact); the **biases** it leaves are kept
  where the chip adds them with the input (SpiNNaker2 ``i_offset``) and removed elsewhere (approximate; the
  fine-tune re-learns without them): on Speck a bias is a leak driven by the slow clock, not a per-step input;
  on Loihi 2 and Xylo a bias acts from the chip's first step while the layer's input arrives one step per
  layer later (measured on Loihi 2: the pre-charge makes spikes at t = 0 that the float model does not have).
- **reset**: a soft reset that subtracts c ≠ θ (folded CLIF/ILIF) becomes
  - on chips with recurrent weights (SpiNNaker2): a reset subtracting θ plus a self-inhibitory recurrent
    weight
    w_r = −a·(c − θ)/b on each neuron's own spike (``SelfInhibitedLIF``). Exact: with H[t+1] = a·V[t] +
    b·X[t+1], a·(H − θ·S) + b·(X + w_r·S) = a·(H − c·S) + b·X;
  - on Loihi 2 (reset to 0 only): a hard reset to 0; on Xylo and Speck (subtraction of θ only): a reset by θ.
    Approximate.
- **leak** (Speck runs IAF neurons): τ → 1e7 steps (no measurable leak). Approximate.
- **output neurons** (Speck and Xylo read spikes): a neuron layer after the last Linear, the prediction
  becoming
  its spike count. Approximate (the distillation fine-tune trains it); on Loihi 2 and SpiNNaker2 the last
  Linear stays on the host, reading the last neuron layer's spikes (exact).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from exporters.lifspec import FoldedLIF, LIFSpec, spec_step

from ..errors import ExportError
from ..models.layers import Residual, TimeDistributed
from ..models.tree import walk
from ..neurons import NEURONS
from ..neurons.base import is_neuron
from .recipes import TargetRecipe

__all__ = [
    "Rewrite",
    "SelfInhibitedLIF",
    "rewrite_for_target",
    "fold_avgpool",
    "sum_pool_rewrite",
    "target_neuron",
    "IAF_TAU",
]

#: τ of the LIF stand-in for an IAF (Speck's mapper accepts τ ≥ 1e6 as leak-free).
IAF_TAU = 1e7


@dataclass(frozen=True)
class Rewrite:
    """One rewrite: its name, the layer, whether it is exact, what it did."""

    name: str
    layer: str
    exact: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class SelfInhibitedLIF(FoldedLIF):
    """A soft reset by θ plus a self-inhibitory recurrent weight: the chip form of a reset by c ≠ θ.

    ``spec`` subtracts θ; each neuron's spike adds ``self_weight`` (w_r, per layer or per neuron) to its own
    input at the next step: X'[t] = X[t] + w_r·S[t−1]. With w_r = −a·(c − θ)/b the spikes equal those of the
    reset by c (module docstring). ``forward``: ``[T, B, *]`` → spikes.
    """

    def __init__(
        self,
        spec: LIFSpec,
        self_weight: float | np.ndarray,
        surrogate: Any = None,
        fold_info: dict[str, Any] | None = None,
    ):
        super().__init__(spec, surrogate, fold_info)
        self.self_weight = self_weight

    def forward(self, x_seq: Tensor) -> Tensor:
        if x_seq.dim() < 2:
            raise ExportError(f"SelfInhibitedLIF: input must be [T, B, *], got shape {tuple(x_seq.shape)}")
        x32 = x_seq.float()
        w = self.self_weight
        w_t = (
            torch.as_tensor(w, dtype=torch.float32, device=x32.device)
            if isinstance(w, np.ndarray)
            else float(w)
        )
        surrogate = self.surrogate if torch.is_grad_enabled() and x_seq.requires_grad else None
        v = torch.zeros_like(x32[0])
        s = torch.zeros_like(x32[0])
        out = []
        for t in range(x32.shape[0]):
            s, v = spec_step(x32[t] + w_t * s, v, self.spec, surrogate, self.detach_reset)
            out.append(s)
        return torch.stack(out).to(x_seq.dtype)

    def extra_repr(self) -> str:
        w = self.self_weight
        text = f"{w:.6g}" if not isinstance(w, np.ndarray) else f"array{list(w.shape)}"
        return f"{super().extra_repr()}, self_weight={text}"


def _td(layer: nn.Module) -> TimeDistributed:
    return TimeDistributed(layer)


def _units(model: nn.Sequential) -> list[tuple[int, nn.Module]]:
    """(index, inner module) of a flat model: TimeDistributed layers unwrapped."""
    out = []
    for i, m in enumerate(model):
        if isinstance(m, Residual):
            raise ExportError(f"layer {i}: residual blocks cannot be deployed (no chip target merges here)")
        if isinstance(m, nn.Sequential):
            raise ExportError(f"layer {i}: nested Sequential; deploy takes the flat models snndeploy builds")
        out.append((i, m.layer if isinstance(m, TimeDistributed) else m))
    return out


def _input_shapes(model: nn.Module, x: Tensor) -> dict[int, tuple[int, ...]]:
    shapes: dict[int, tuple[int, ...]] = {}
    hooks = [
        m.register_forward_hook(lambda mod, a, o: shapes.__setitem__(id(mod), tuple(a[0].shape)))
        for _, m in walk(model)
    ]
    try:
        with torch.no_grad():
            model.eval()(x[:1, :1])
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _pool_k(pool: nn.AvgPool2d, where: str) -> int:
    k = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
    ks = pool.kernel_size if isinstance(pool.kernel_size, tuple) else (k, k)
    st = pool.stride if isinstance(pool.stride, tuple) else (pool.stride or k,) * 2
    pd = pool.padding if isinstance(pool.padding, tuple) else (pool.padding,) * 2
    if ks != (k, k) or st != (k, k) or pd != (0, 0) or pool.ceil_mode:
        raise ExportError(
            f"layer {where}: pooling must be square with stride = kernel, no padding, floor mode"
        )
    return int(k)


def _next_weight(units: list[tuple[int, nn.Module]], start: int) -> tuple[int, nn.Module, bool]:
    """(index, layer, flatten_between) of the weight layer after unit ``start`` (only Flatten/Identity/Dropout
    between), else ``ExportError``."""
    flat = False
    for i, m in units[start + 1 :]:
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            return i, m, flat
        if isinstance(m, nn.Flatten):
            flat = True
        elif not isinstance(m, (nn.Identity, nn.Dropout)):
            raise ExportError(f"layer {i}: {type(m).__name__} between a pool and the next weight layer")
    raise ExportError(f"layer {units[start][0]}: a pool with no weight layer after it")


def fold_avgpool(model: nn.Sequential, x: Tensor) -> tuple[nn.Sequential, list[Rewrite]]:
    """Every ``AvgPool2d`` into the next layer's weights (module docstring); the pool becomes ``Identity``."""
    model = copy.deepcopy(model)
    records = []
    shapes = _input_shapes(model, x)
    units = _units(model)
    for pos, (i, m) in enumerate(units):
        if not (isinstance(m, nn.AvgPool2d) and m.divisor_override is None):
            continue
        p = _pool_k(m, str(i))
        h, w_ = shapes[id(m)][-2:]
        if h % p or w_ % p:
            raise ExportError(
                f"layer {i}: a {p}x{p} average pool on a {h}x{w_} map drops rows; cannot fold it"
            )
        j, nxt, flat = _next_weight(units, pos)
        with torch.no_grad():
            if isinstance(nxt, nn.Conv2d) and not flat:
                if nxt.dilation != (1, 1) or nxt.groups != 1 or isinstance(nxt.padding, str):
                    raise ExportError(f"layer {j}: only plain convolutions absorb a pool")
                k, s, pd = nxt.kernel_size, nxt.stride, nxt.padding
                new = nn.Conv2d(
                    nxt.in_channels,
                    nxt.out_channels,
                    (p * k[0], p * k[1]),
                    (p * s[0], p * s[1]),
                    (p * pd[0], p * pd[1]),
                    bias=nxt.bias is not None,
                )
                wt = nxt.weight.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3) / (p * p)
                new.weight.copy_(wt)
                detail = (
                    f"AvgPool2d({p}) + Conv2d(k={k[0]}, s={s[0]}, p={pd[0]}) → Conv2d(k={p * k[0]}, "
                    f"s={p * s[0]}, p={p * pd[0]}), weights / {p * p}"
                )
            elif isinstance(nxt, nn.Linear) and flat:
                c = shapes[id(m)][-3]
                wl = nxt.weight.reshape(nxt.out_features, c, h // p, w_ // p)
                wt = wl.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3) / (p * p)
                new = nn.Linear(c * h * w_, nxt.out_features, bias=nxt.bias is not None)
                new.weight.copy_(wt.reshape(nxt.out_features, -1))
                detail = (
                    f"AvgPool2d({p}) + Flatten + Linear({nxt.in_features}) → Linear({c * h * w_}), weights / "
                    f"{p * p}"
                )
            else:
                raise ExportError(f"layer {j}: {type(nxt).__name__} after pool {i} cannot absorb it")
            if nxt.bias is not None:
                new.bias.copy_(nxt.bias)
        model[i] = nn.Identity()
        model[j] = _td(new)
        records.append(Rewrite("avgpool→next weights", f"{i}+{j}", True, detail))
    return model, records


def sum_pool_rewrite(model: nn.Sequential) -> tuple[nn.Sequential, list[Rewrite]]:
    """Every ``AvgPool2d(k)`` → sum pool, the next weight layer × 1/k² (Speck; module docstring)."""
    model = copy.deepcopy(model)
    records = []
    units = _units(model)
    for pos, (i, m) in enumerate(units):
        if not (isinstance(m, nn.AvgPool2d) and m.divisor_override is None):
            continue
        k = _pool_k(m, str(i))
        j, nxt, _ = _next_weight(units, pos)
        model[i] = _td(nn.AvgPool2d(k, stride=k, divisor_override=1))
        with torch.no_grad():
            nxt.weight.mul_(1.0 / (k * k))
        records.append(
            Rewrite(
                "avgpool→sumpool",
                f"{i}+{j}",
                True,
                f"AvgPool2d({k}) → SumPool2d({k}); layer {j} weights × 1/{k * k}",
            )
        )
    return model, records


def _cubalif(recipe: TargetRecipe, spec: LIFSpec, readout: bool) -> tuple[nn.Module, str, bool]:
    """Xylo's own neuron in place of a folded LIF ``spec``: the membrane decay β = a rounded to a bit shift,
    the
    fastest synapse (α = 1/2: Xylo always filters its input), reset by θ, ≤ 31 spikes (1 on the readout)."""
    from ..neurons.cubalif import xylo_dash, xylo_decay

    kw = dict(recipe.neuron().kwargs)
    theta = float(spec.v_threshold)
    a = float(spec.decay)
    dash = xylo_dash(a)
    beta = a if dash is not None else xylo_decay(min(max(round(-math.log2(1.0 - a)), 1), 15))
    lsb = kw.get("lsb")
    if lsb is not None and (theta / lsb != round(theta / lsb)):
        lsb = None
    new = NEURONS["cubalif"](
        alpha=0.5, beta=beta, v_threshold=theta, flavour="xylo", lsb=lsb, max_spikes=1 if readout else 31
    )
    what = (
        f"LIF (a = {a:.4g}) → Xylo CubaLIF: synaptic current added (alpha = 1/2), beta = {beta:.4g}, "
        f"reset by theta, up to {1 if readout else 31} spike(s) per step"
    )
    return new, what, False


def target_neuron(recipe: TargetRecipe, spec: LIFSpec, readout: bool = False) -> tuple[nn.Module, str, bool]:
    """The neuron the target runs in place of a folded ``spec``: (module, what changed, exact); ``readout``:
    an
    output neuron layer (Xylo's fire once per step)."""
    theta = float(spec.v_threshold)
    if recipe.neuron().name == "cubalif" and recipe.neuron().kwargs.get("flavour", "xylo") == "xylo":
        return _cubalif(recipe, spec, readout)
    if recipe.reset == "zero":
        new = LIFSpec(spec.tau, spec.decay_input, 0.0, theta, "hard", v_reset=0.0, scale=spec.scale)
        exact = spec.reset == "hard" and bool(np.all(np.asarray(spec.v_reset) == 0.0)) and spec.v_rest == 0.0
        return FoldedLIF(new), "reset → hard reset to 0", exact
    if recipe.decay_grid == "none":
        if recipe.neuron().name == "iaf":
            iaf = NEURONS["iaf"](v_threshold=theta, v_min=-theta)
            return iaf, "leak dropped (IAF), reset → subtract θ, multi-spike, v >= -θ", False
        new = LIFSpec(IAF_TAU, False, 0.0, theta, "soft", reset_amount=theta)
        return FoldedLIF(new), f"leak dropped (tau {spec.tau:g} → {IAF_TAU:g}), reset → subtract θ", False
    soft_theta = spec.reset == "soft" and spec.subtracts_threshold
    new = LIFSpec(
        spec.tau, spec.decay_input, spec.v_rest, theta, "soft", reset_amount=theta, scale=spec.scale
    )
    if soft_theta:
        return FoldedLIF(new), "unchanged (soft reset by θ)", True
    if spec.reset == "soft" and recipe.recurrence and recipe.target == "spinnaker2":
        c = spec.reset_amount
        w_r = -spec.decay * (np.asarray(c, dtype=np.float64) - theta) / spec.input_gain
        w_r = float(w_r) if np.ndim(w_r) == 0 else w_r.astype(np.float32)
        return SelfInhibitedLIF(new, w_r), "reset c → subtract θ + self-inhibitory recurrent weight", True
    return FoldedLIF(new), "reset → subtract θ", False


def rewrite_for_target(
    folded: nn.Module, recipe: TargetRecipe, x: Tensor, *, input_scale: float = 1.0
) -> tuple[nn.Sequential, list[Rewrite]]:
    """The target-legal form of a folded model (module docstring); ``x`` ``[T, B, *]`` gives the shapes (in
    the
    source's input units). The model is not modified."""
    if not isinstance(folded, nn.Sequential):
        raise ExportError("deploy takes the nn.Sequential models snndeploy builds")
    model = copy.deepcopy(folded).eval()
    records: list[Rewrite] = []
    units = _units(model)
    weights = [(i, m) for i, m in units if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not weights:
        raise ExportError("the model has no weight layer")
    if input_scale != 1.0:
        with torch.no_grad():
            weights[0][1].weight.mul_(1.0 / input_scale)
        records.append(
            Rewrite(
                "input scale",
                str(weights[0][0]),
                True,
                f"inputs arrive × {input_scale:g} as events: weights × 1/{input_scale:g}",
            )
        )
    if recipe.pooling == "sum":
        model, recs = sum_pool_rewrite(model)
    else:
        model, recs = fold_avgpool(model, x)
    records += recs
    units = _units(model)
    host = units[-1][0] if recipe.readout_on_host and isinstance(units[-1][1], nn.Linear) else None
    for i, m in units:
        if i == host:  # the host readout keeps its bias
            continue
        if isinstance(m, (nn.Linear, nn.Conv2d)) and m.bias is not None and not recipe.bias_on_chip:
            m.bias = None
            why = (
                "a bias is a leak driven by the slow clock, not a per-step input"
                if recipe.target == "speck"
                else "a bias acts from the chip's first step, before the layer's delayed input arrives"
            )
            records.append(
                Rewrite(
                    "bias removed",
                    str(i),
                    False,
                    f"{recipe.target}: {why}: dropped, re-learnt by the fine-tune",
                )
            )
    units = _units(model)
    readout = units[-1][0] if is_neuron(units[-1][1]) else None  # a model that already ends with neurons
    for i, m in units:
        if is_neuron(m):
            spec = getattr(m, "spec", None)
            if not isinstance(spec, LIFSpec):
                raise ExportError(f"layer {i}: {type(m).__name__} is not folded (exporters.fold first)")
            new, what, exact = target_neuron(recipe, spec, readout=i == readout)
            model[i] = new
            records.append(Rewrite("neuron", str(i), exact, what))
    last = _units(model)[-1][1]
    if isinstance(last, nn.Linear):
        if recipe.readout_on_host:
            records.append(
                Rewrite(
                    "readout",
                    str(len(model) - 1),
                    True,
                    "the last Linear runs on the host from the last neuron layer's spikes",
                )
            )
        else:
            out_neuron, what, _ = target_neuron(
                recipe, LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=1.0), readout=True
            )
            model.append(out_neuron)
            records.append(
                Rewrite(
                    "output neurons",
                    str(len(model) - 1),
                    False,
                    f"{recipe.target} reads spikes: output neurons after the last Linear "
                    f"({type(out_neuron).__name__}); prediction = spike count",
                )
            )
    model.eval()
    return model, records
