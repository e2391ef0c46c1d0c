"""BatchNorm (eval) folding.

BN(x) = γ·(x − μ)/√(σ² + ε) + β = a·x + b per channel, a = γ/√(σ² + ε), b = β − μ·a (running statistics).

- Into the preceding Linear/Conv2d (W, c):  BN(W∗x + c) = (a·W)∗x + (a·c + b)   — W scaled per output channel.
- Into the following Linear/Conv2d when BN follows a neuron (pre-activation): W∗(a·x + b) + c = (W·a)∗x + (c +
  W∗b), W scaled per input channel; legal only without zero padding (padding would see 0, not b) — checked.
- Otherwise it is kept as a per-channel affine: a diagonal 1×1 Conv2d (BN2d; dense, because NIR 1.0.8's type
  inference mis-reads grouped convolutions) or a diagonal Linear (BN1d), which NIR represents exactly (Conv2d
  / Affine); the zero off-diagonal products add exactly 0.
All are exact in real arithmetic; float32 rounding differs from the BN kernel, so each record reports the max
abs output difference measured on the calibration data's inputs to that layer (or on an N(0, 1) probe).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from snndeploy.errors import ExportError
from snndeploy.models.layers import TimeDistributed

from .report import LayerFold

__all__ = ["bn_affine", "fold_batchnorms"]

_BN = (nn.BatchNorm1d, nn.BatchNorm2d)
_WEIGHTED = (nn.Linear, nn.Conv2d)


def bn_affine(bn: nn.Module, path: str) -> tuple[Tensor, Tensor]:
    """(a, b) in float64 of an eval BatchNorm: BN(x) = a·x + b per channel."""
    if bn.running_mean is None or bn.running_var is None:
        raise ExportError(
            f"layer {path}: BatchNorm without running statistics (track_running_stats=False) cannot fold"
        )
    var = bn.running_var.detach().double()
    a = torch.ones_like(var) if bn.weight is None else bn.weight.detach().double()
    a = a / torch.sqrt(var + bn.eps)
    beta = torch.zeros_like(var) if bn.bias is None else bn.bias.detach().double()
    return a, beta - bn.running_mean.detach().double() * a


def _probe(layer: nn.Module, captured: Tensor | None) -> Tensor:
    if captured is not None:
        return captured
    gen = torch.Generator().manual_seed(0)
    if isinstance(layer, nn.Linear):
        return torch.randn(64, layer.in_features, generator=gen)
    if isinstance(layer, nn.Conv2d):
        return torch.randn(8, layer.in_channels, 8, 8, generator=gen)
    if isinstance(layer, nn.BatchNorm2d):
        return torch.randn(8, layer.num_features, 8, 8, generator=gen)
    return torch.randn(64, layer.num_features, generator=gen)


def _into_previous(w: nn.Module, bn: nn.Module, path: str) -> nn.Module:
    a, b = bn_affine(bn, path)
    new = _clone_weighted(w)
    shape = (-1,) + (1,) * (w.weight.dim() - 1)
    new.weight.data = (w.weight.detach().double() * a.view(shape)).float()
    c = w.bias.detach().double() if w.bias is not None else torch.zeros_like(a)
    new.bias = nn.Parameter((a * c + b).float())
    return new


def _into_next(bn: nn.Module, w: nn.Module, path: str) -> nn.Module | None:
    if isinstance(w, nn.Conv2d):
        pad = w.padding
        no_pad = pad == "valid" if isinstance(pad, str) else all(p == 0 for p in pad)
        if not no_pad:
            return None  # zero padding would see 0 instead of b: not foldable
        if w.groups != 1:
            return None
    a, b = bn_affine(bn, path)
    new = _clone_weighted(w)
    wt = w.weight.detach().double()
    if isinstance(w, nn.Linear):
        if w.in_features != a.numel():
            return None
        new.weight.data = (wt * a.view(1, -1)).float()
        shift = wt @ b
    else:
        new.weight.data = (wt * a.view(1, -1, 1, 1)).float()
        shift = (wt * b.view(1, -1, 1, 1)).sum(dim=(1, 2, 3))
    c = (
        w.bias.detach().double()
        if w.bias is not None
        else torch.zeros(w.weight.shape[0], dtype=torch.float64)
    )
    new.bias = nn.Parameter((c + shift).float())
    return new


def _as_affine(bn: nn.Module, path: str) -> nn.Module:
    a, b = bn_affine(bn, path)
    n = a.numel()
    if isinstance(bn, nn.BatchNorm2d):  # dense (groups=1) diagonal: NIR 1.0.8 mis-types grouped convolutions
        layer: nn.Module = nn.Conv2d(n, n, 1, bias=True)
        layer.weight.data = torch.diag(a).float().view(n, n, 1, 1)
    else:
        layer = nn.Linear(n, n, bias=True)
        layer.weight.data = torch.diag(a).float()
    layer.bias.data = b.float()
    return layer


def _clone_weighted(w: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(w)


@torch.no_grad()
def fold_batchnorms(model: nn.Module, captured: dict[str, Tensor] | None = None) -> list[LayerFold]:
    """Fold every eval BatchNorm of ``model`` (modified in place; folded BNs become ``nn.Identity``).

    Args:
        model: a model tree (already a copy: it is changed in place), in eval mode.
        captured: optional map ``TimeDistributed path → its merged [T·B, *] input`` on calibration data,
            used to measure the max abs output difference of each fold.

    Returns:
        One ``LayerFold`` per BatchNorm, with ``extra["max_abs_diff"]``.
    """
    captured = captured or {}
    records: list[LayerFold] = []
    for seq_path, seq in list(model.named_modules()):
        if not isinstance(seq, nn.Sequential):
            continue
        names = [n for n, _ in seq.named_children()]
        for i, name in enumerate(names):
            td = getattr(seq, name)
            if not (isinstance(td, TimeDistributed) and isinstance(td.layer, _BN)):
                continue
            path = f"{seq_path}.{name}" if seq_path else name
            bn = td.layer
            prev = getattr(seq, names[i - 1]) if i > 0 else None
            nxt = getattr(seq, names[i + 1]) if i + 1 < len(names) else None
            prev_w = (
                prev.layer
                if isinstance(prev, TimeDistributed) and isinstance(prev.layer, _WEIGHTED)
                else None
            )
            next_w = (
                nxt.layer if isinstance(nxt, TimeDistributed) and isinstance(nxt.layer, _WEIGHTED) else None
            )
            if prev_w is not None:
                prev_path = f"{seq_path}.{names[i - 1]}" if seq_path else names[i - 1]
                x = _probe(prev_w, captured.get(prev_path))
                ref = bn(prev_w(x))
                new = _into_previous(prev_w, bn, path)
                diff = float((new(x) - ref).abs().max()) if ref.numel() else 0.0
                prev.layer = new
                setattr(seq, name, nn.Identity())
                rule, where = "bn.into_previous", f"folded into {prev_path} ({type(prev_w).__name__})"
                probe_key = prev_path
            else:
                new_next = _into_next(bn, next_w, path) if next_w is not None else None
                x = _probe(bn, captured.get(path))
                probe_key = path
                if new_next is not None:
                    next_path = f"{seq_path}.{names[i + 1]}" if seq_path else names[i + 1]
                    ref = next_w(bn(x))
                    diff = float((new_next(x) - ref).abs().max()) if ref.numel() else 0.0
                    nxt.layer = new_next
                    setattr(seq, name, nn.Identity())
                    rule, where = (
                        "bn.into_next",
                        f"folded into the following {next_path} ({type(next_w).__name__})",
                    )
                else:
                    layer = _as_affine(bn, path)
                    diff = float((layer(x) - bn(x)).abs().max()) if x.numel() else 0.0
                    td.layer = layer
                    kind = "diagonal 1x1 Conv2d" if isinstance(bn, nn.BatchNorm2d) else "diagonal Linear"
                    rule = "bn.kept_affine"
                    where = (
                        "no Linear/Conv2d before it and none foldable after it (padding or shape): kept as "
                        f"a per-channel affine ({kind})"
                    )
            records.append(
                LayerFold(
                    layer=path,
                    source=type(bn).__name__,
                    rule=rule,
                    exact=True,
                    conditions="exact in real arithmetic; float32 rounding differs from the BatchNorm kernel",
                    params={"where": where},
                    extra={
                        "max_abs_diff": diff,
                        "probe": "calibration" if captured.get(probe_key) is not None else "random",
                    },
                )
            )
    return records
