"""One fold rule per neuron type, in a registry keyed by module type (resolved along the MRO).

A rule maps a neuron module (and, optionally, its calibration data) to a ``LIFSpec`` and a ``LayerFold`` record.
Derivations: ``docs/folding.md``. Summary (β = 1 − 1/τ, θ = V_th):

- LIF (hard or soft): the spec *is* the neuron (same charge, fire and reset operations): exact, bit for bit.
- KLIF: F = ReLU(k·H) is the state; without the ReLU, F = k·charge(V, X) — a LIF with decay k·β, gain k/τ (k),
  threshold θ and hard reset V_r (in F units; H units: threshold θ/k, reset V_r/k). Exact whenever k·H ≥ 0;
  k ≤ 0 or k·β ≥ 1 is refused.
- CLIF: soft reset subtracting c = θ + σ(1) is exact up to and including each neuron's second spike (σ(m) = σ(1)
  at the first reset); or hard reset to V_r. Calibration picks c (from a grid) or V_r per layer.
- ILIF: drop the inhibition trace (γ·…), replace σ(m) by a constant: soft reset by θ + c, or hard reset.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from snndeploy.errors import ExportError
from snndeploy.neurons import CLIF, ILIF, KLIF, LIF
from snndeploy.neurons.dynamics import charge, hard_reset
from snndeploy.registry import Registry

from ..lifspec import LIFSpec, SpecLIF
from .calibration import LayerData, score_specs
from .report import LayerFold

__all__ = ["FoldRule", "FOLD_RULES", "register_fold_rule", "get_fold_rule", "CLIF_SIGMA_GRID", "ILIF_SIGMA_GRID"]

FoldRule = Callable[[nn.Module, str, "LayerData | None"], tuple[SpecLIF, LayerFold]]
FOLD_RULES: Registry[type[nn.Module], FoldRule] = Registry("fold rule", ExportError)

#: σ(m) candidates tried for CLIF's effective reset c = θ + σ(m) (σ(1) first: the exact-to-second-spike value).
CLIF_SIGMA_GRID = (1.0, 0.5, 0.75, 1.25, 1.5, 2.0, 3.0, 5.0)
#: constant replacing ILIF's σ(m) (m ≥ 0 after the first spike, so σ(m) ≥ 0.5).
ILIF_SIGMA_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0)
#: hard-reset values tried, in units of θ (a CLIF/ILIF reset leaves u ≈ overshoot − σ(m) ≈ −0.5…−0.7·θ).
HARD_RESET_GRID = (0.0, -0.25, -0.5, -0.75)


def register_fold_rule(cls: type[nn.Module]) -> Callable[[FoldRule], FoldRule]:
    """Decorator: register the fold rule of neuron type ``cls`` (double registration is an error)."""
    return FOLD_RULES.register(cls)


def get_fold_rule(module: nn.Module, path: str) -> FoldRule:
    """The rule for ``module``'s type (first match along its MRO), or an ``ExportError`` naming the layer."""
    return FOLD_RULES.for_instance(module, f"layer {path}")


def _f32(value: float | torch.Tensor) -> float:
    """``value`` rounded to float32, as a Python float (what the float32 kernels actually use)."""
    return float(torch.as_tensor(value, dtype=torch.float32))


def _agreement(spec: LIFSpec, data: LayerData | None) -> tuple[float | None, float | None]:
    """(agreement vs the source model's layer spikes, agreement vs the source neuron on the same input)."""
    if data is None:
        return None, None
    from ..lifspec import spec_seq

    s = spec_seq(data.x, spec)[0]
    n = max(s.numel(), 1)
    return 1.0 - int((s != data.target).sum()) / n, 1.0 - int((s != data.local_target).sum()) / n


def _pick(candidates: list[tuple[str, LIFSpec]], data: LayerData | None) -> tuple[str, LIFSpec, list[dict]]:
    """The first candidate when there is no data, else the one with the fewest spike mismatches (ties: first)."""
    if data is None:
        return candidates[0][0], candidates[0][1], []
    scores = score_specs([spec for _, spec in candidates], data)
    table = [{"rule": name, "mismatches": n, **spec.to_dict()} for (name, spec), (_, n) in zip(candidates, scores, strict=True)]
    best = min(range(len(scores)), key=lambda i: scores[i][1])
    return candidates[best][0], candidates[best][1], table


def _params_dict(module: nn.Module) -> dict:
    p = module.params()
    out = {}
    for k, v in vars(p).items():
        if isinstance(v, torch.Tensor):
            out[k] = float(v.detach())
        elif isinstance(v, (int, float, bool, str)) or v is None:
            out[k] = v
    return out


@register_fold_rule(LIF)
def fold_lif(module: nn.Module, path: str, data: LayerData | None) -> tuple[SpecLIF, LayerFold]:
    """LIF → LIFSpec with the same τ, decay_input, V_rest, θ and reset: exact bit for bit."""
    p = module.params()
    if p.hard:
        spec = LIFSpec(p.tau, p.decay_input, p.v_rest, p.v_threshold, "hard", v_reset=p.v_reset)
        rule = "lif.hard"
    else:
        spec = LIFSpec(p.tau, p.decay_input, 0.0, p.v_threshold, "soft", reset_amount=p.v_threshold)
        rule = "lif.soft"
    agree, local = _agreement(spec, data)
    rec = LayerFold(path, "LIF", rule, True, "always (same operations in the same order)", spec.to_dict(), agree,
                    {"local_agreement": local, "source_params": _params_dict(module)})
    return SpecLIF(spec, p.surrogate, {"source": "LIF", "rule": rule, "exact": True}), rec


@torch.no_grad()
def _klif_floor_rate(module: nn.Module, x: torch.Tensor) -> float:
    """Fraction of neuron-steps where the ReLU floor acts (k·H < 0) when KLIF runs on ``x`` [T, B, *]."""
    p = module.params()
    k = p.k.float()
    v = torch.zeros_like(x[0], dtype=torch.float32)
    hits = 0
    for t in range(x.shape[0]):
        kh = k * charge(v, x[t].float(), p.tau, p.decay_input, p.v_reset)
        hits += int((kh < 0).sum())
        f = torch.relu(kh)
        s = (f - p.v_threshold >= 0).float()
        v = hard_reset(f, s, p.v_reset)
    return hits / max(x.numel(), 1)


@register_fold_rule(KLIF)
def fold_klif(module: nn.Module, path: str, data: LayerData | None) -> tuple[SpecLIF, LayerFold]:
    """KLIF → LIF on the scaled membrane F = k·H (decay k·β, gain k/τ or k, threshold θ, hard reset V_r)."""
    p = module.params()
    k = _f32(p.k.detach())
    if not k > 0:
        raise ExportError(f"layer {path}: KLIF k = {k:.6g} must be > 0 to fold (ReLU(k·H) = k·ReLU(H) needs k > 0)")
    beta_k = k * (1.0 - 1.0 / p.tau)
    if beta_k >= 1.0:
        kind = "an IF neuron (no leak)" if math.isclose(beta_k, 1.0) else "an unstable neuron"
        raise ExportError(
            f"layer {path}: KLIF decay k·(1 − 1/τ) = {beta_k:.6g} ≥ 1 (k={k:.6g}, τ={p.tau}) would fold into {kind}; "
            "not a LIF"
        )
    spec = LIFSpec(p.tau, p.decay_input, p.v_reset, p.v_threshold, "hard", v_reset=p.v_reset, scale=k)
    agree, local = _agreement(spec, data)
    floor = _klif_floor_rate(module, data.x) if data is not None else None
    rec = LayerFold(
        path, "KLIF", "klif.rescale", False,
        "exact while k·H ≥ 0 (the ReLU floor never acts); the floor has no NIR form",
        {**spec.to_dict(), "decay": spec.decay, "input_gain": spec.input_gain,
         "h_units": {"threshold": p.v_threshold / k, "v_reset": p.v_reset / k, "input_gain": spec.input_gain / k}},
        agree, {"local_agreement": local, "relu_floor_rate": floor, "exact_on_calibration": floor == 0.0 if floor is not None else None,
                "source_params": _params_dict(module)},
    )
    return SpecLIF(spec, p.surrogate, {"source": "KLIF", "rule": "klif.rescale", "exact": False}), rec


def _clif_candidates(p) -> list[tuple[str, LIFSpec]]:
    theta32 = torch.tensor(p.v_threshold, dtype=torch.float32)
    out = []
    for m in CLIF_SIGMA_GRID:  # c exactly as the kernel computes θ + σ(m) in float32
        c = _f32(theta32 + torch.sigmoid(torch.tensor(m, dtype=torch.float32)))
        out.append((f"clif.soft(c=θ+σ({m:g}))", LIFSpec(p.tau, False, 0.0, p.v_threshold, "soft", reset_amount=c)))
    for f in HARD_RESET_GRID:
        vr = f * p.v_threshold
        out.append((f"clif.hard(V_r={vr:g})", LIFSpec(p.tau, False, 0.0, p.v_threshold, "hard", v_reset=vr)))
    return out


@register_fold_rule(CLIF)
def fold_clif(module: nn.Module, path: str, data: LayerData | None) -> tuple[SpecLIF, LayerFold]:
    """CLIF → soft-reset LIF subtracting c = θ + σ(m*) or hard reset to V_r, picked by calibration."""
    p = module.params()
    rule, spec, table = _pick(_clif_candidates(p), data)
    agree, local = _agreement(spec, data)
    cond = ("exact up to and including each neuron's second spike (σ(m) = σ(1) at the first reset)"
            if rule.startswith("clif.soft(c=θ+σ(1))") else "approximate: CLIF's reset θ + σ(m) varies with spike history")
    rec = LayerFold(path, "CLIF", rule, False, cond, spec.to_dict(), agree,
                    {"local_agreement": local, "candidates": table, "source_params": _params_dict(module)})
    return SpecLIF(spec, p.surrogate, {"source": "CLIF", "rule": rule, "exact": False}), rec


def _ilif_candidates(p) -> list[tuple[str, LIFSpec]]:
    out = [(f"ilif.soft(σ(m)→{c:g})", LIFSpec(p.tau, False, 0.0, p.v_threshold, "soft",
                                             reset_amount=_f32(p.v_threshold + c))) for c in ILIF_SIGMA_GRID]
    out += [(f"ilif.hard(V_r={f * p.v_threshold:g})",
             LIFSpec(p.tau, False, 0.0, p.v_threshold, "hard", v_reset=f * p.v_threshold)) for f in HARD_RESET_GRID]
    return out


@register_fold_rule(ILIF)
def fold_ilif(module: nn.Module, path: str, data: LayerData | None) -> tuple[SpecLIF, LayerFold]:
    """ILIF → LIF: drop the inhibition trace, σ(m) → calibrated constant (soft reset θ + c) or hard reset."""
    p = module.params()
    rule, spec, table = _pick(_ilif_candidates(p), data)
    agree, local = _agreement(spec, data)
    cond = (f"approximate: the current-inhibition trace (γ = {p.inhibition}) is dropped and σ(m) is a constant; exact "
            "until the first spike when γ = 0")
    rec = LayerFold(path, "ILIF", rule, False, cond, spec.to_dict(), agree,
                    {"local_agreement": local, "candidates": table, "source_params": _params_dict(module)})
    return SpecLIF(spec, p.surrogate, {"source": "ILIF", "rule": rule, "exact": False}), rec


@register_fold_rule(SpecLIF)
def fold_spec(module: nn.Module, path: str, data: LayerData | None) -> tuple[SpecLIF, LayerFold]:
    """An already folded layer stays as it is."""
    info = dict(module.fold_info)
    rec = LayerFold(path, info.get("source", "SpecLIF"), info.get("rule", "identity"), bool(info.get("exact", True)),
                    "already folded", module.spec.to_dict(), _agreement(module.spec, data)[0])
    return module, rec
