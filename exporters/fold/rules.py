"""One fold rule per neuron type, in a registry keyed by module type (resolved along the MRO).

A rule maps a neuron module (and, optionally, its calibration data) to a ``LIFSpec`` and a ``LayerFold``
record. Derivations: ``docs/folding.md``. Summary (β = 1 − 1/τ, θ = V_th):

- LIF (hard or soft): the spec *is* the neuron (same charge, fire and reset operations): exact, bit for bit.
- KLIF: F = ReLU(k·H) is the state; without the ReLU, F = k·charge(V, X) — a LIF with decay k·β, gain k/τ (k),
  threshold θ and hard reset V_r (in F units; H units: threshold θ/k, reset V_r/k). Exact whenever k·H ≥ 0;
  k ≤ 0 or k·β ≥ 1 is refused.
- CLIF: soft reset subtracting c = θ + σ(1) is exact up to and including each neuron's second spike (σ(m) =
  σ(1) at the first reset); or hard reset to V_r. Calibration picks c (from a grid) or V_r per layer, or —
  with ``LayerData.granularity`` "channel"/"neuron" — one value per channel/neuron from a finer grid
  (``calibration.choose_per_neuron``; never more mismatches on the calibration data than the per-layer
  choice).
- ILIF: drop the inhibition trace (γ·…), replace σ(m) by a constant: soft reset by θ + c, or hard reset; per
  layer, channel or neuron as for CLIF.
- IAF and CubaLIF (the chip-faithful neurons): already a deployable form, kept as they are (exact
  pass-through, rules ``iaf.identity`` / ``cubalif.identity``). They cannot become a ``LIFSpec``: IAF has
  decay 1 and spike counts, CubaLIF a second state (the synaptic current), an order of operations and, with
  ``lsb``, integer rounding that ``H = a·V + b·X + c`` does not express. Their exporters read the neuron
  module itself (``exporters.nir``: ``nir.IF`` / ``nir.CubaLIF``; ``exporters.onnx``: the neuron's own step).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from snndeploy.errors import ExportError
from snndeploy.neurons import CLIF, IAF, ILIF, KLIF, LIF, CubaLIF
from snndeploy.neurons.dynamics import charge, hard_reset
from snndeploy.registry import Registry

from ..lifspec import FoldedLIF, LIFSpec, format_value
from .calibration import LayerData, choose_per_neuron, mismatch_counts
from .report import LayerFold

__all__ = [
    "FoldRule",
    "FOLD_RULES",
    "register_fold_rule",
    "get_fold_rule",
    "CLIF_SIGMA_GRID",
    "ILIF_SIGMA_GRID",
]

FoldRule = Callable[[nn.Module, str, "LayerData | None"], tuple[nn.Module, LayerFold]]
FOLD_RULES: Registry[type[nn.Module], FoldRule] = Registry("fold rule", ExportError)

#: σ(m) candidates tried for CLIF's effective reset c = θ + σ(m) (σ(1) first: the exact-to-second-spike
#: value).
CLIF_SIGMA_GRID = (1.0, 0.5, 0.75, 1.25, 1.5, 2.0, 3.0, 5.0)
#: constant replacing ILIF's σ(m) (m ≥ 0 after the first spike, so σ(m) ≥ 0.5).
ILIF_SIGMA_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0)
#: hard-reset values tried, in units of θ (a CLIF/ILIF reset leaves u ≈ overshoot − σ(m) ≈ −0.5…−0.7·θ).
HARD_RESET_GRID = (0.0, -0.25, -0.5, -0.75)
#: extra σ values (c = θ + σ) tried only by per-channel/per-neuron calibration: σ(m) ∈ (0.5, 1) for m ≥ 0.
FINE_SIGMA_GRID = tuple(round(0.5 + 0.025 * i, 3) for i in range(21))
#: extra hard-reset values (units of θ) tried only by per-channel/per-neuron calibration.
FINE_HARD_RESET_GRID = tuple(round(-0.1 * i, 1) for i in range(11))


@dataclasses.dataclass(frozen=True)
class _Candidate:
    """A candidate spec; ``per_layer`` False: tried only by per-channel/per-neuron calibration."""

    name: str
    spec: LIFSpec
    per_layer: bool = True

    @property
    def value(self) -> float:
        """The calibrated parameter: the soft-reset amount or the hard-reset value."""
        return float(self.spec.reset_amount if self.spec.reset == "soft" else self.spec.v_reset)


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


def _pick(
    candidates: list[_Candidate], data: LayerData | None, family: str
) -> tuple[str, LIFSpec, list[dict], dict | None]:
    """(rule name, spec, candidate table, per-neuron record or None).

    No data: the first candidate. Per layer: the ``per_layer`` candidate with the fewest spike mismatches
    (ties: first). Per channel/neuron (``data.granularity``): for each reset kind, every neuron takes its best
    candidate (``calibration.choose_per_neuron``, anchored at that kind's per-layer best); the kind with fewer
    mismatches wins (ties: the per-layer choice's kind), so the total never exceeds the per-layer choice's.
    """
    if data is None:
        return candidates[0].name, candidates[0].spec, [], None
    tried = [c for c in candidates if c.per_layer or data.granularity != "layer"]
    counts = mismatch_counts([c.spec for c in tried], data)
    totals = [int(n) for n in counts.flatten(1).sum(1)]
    table = [
        {"rule": c.name, "mismatches": n, **c.spec.to_dict()}
        for c, n in zip(tried, totals, strict=True)
        if c.per_layer
    ]
    layer_best = min((i for i, c in enumerate(tried) if c.per_layer), key=lambda i: totals[i])
    best = tried[layer_best]
    if data.granularity == "layer":
        return best.name, best.spec, table, None
    choices = []
    for kind in ("soft", "hard"):
        idx = [i for i, c in enumerate(tried) if c.spec.reset == kind]
        if not idx:
            continue
        anchor = min((i for i in idx if tried[i].per_layer), key=lambda i: totals[i], default=idx[0])
        index, total = choose_per_neuron(
            counts[idx], [tried[i].value for i in idx], idx.index(anchor), data.granularity
        )
        choices.append((total, kind != best.spec.reset, kind, idx, anchor, index))
    total, _, kind, idx, anchor, index = min(choices, key=lambda c: (c[0], c[1]))
    values = torch.tensor([tried[i].value for i in idx], dtype=torch.float32)[index].numpy()
    changed = int((index != idx.index(anchor)).sum())
    record = {
        "granularity": data.granularity,
        "layer_choice": best.name,
        "layer_mismatches": totals[layer_best],
        "anchor": tried[anchor].name,
        "mismatches": total,
        "changed": changed,
        "choices": int(index.numel()),
    }
    if changed == 0:
        return tried[anchor].name, tried[anchor].spec, table, record
    field = "reset_amount" if kind == "soft" else "v_reset"
    spec = dataclasses.replace(tried[anchor].spec, **{field: np.ascontiguousarray(values)})
    symbol = "c" if kind == "soft" else "V_r"
    record["values"] = format_value(spec.reset_amount if kind == "soft" else spec.v_reset)
    return f"{family}.{kind}({symbol} per {data.granularity})", spec, table, record


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
def fold_lif(module: nn.Module, path: str, data: LayerData | None) -> tuple[FoldedLIF, LayerFold]:
    """LIF → LIFSpec with the same τ, decay_input, V_rest, θ and reset: exact bit for bit."""
    p = module.params()
    if p.hard:
        spec = LIFSpec(p.tau, p.decay_input, p.v_rest, p.v_threshold, "hard", v_reset=p.v_reset)
        rule = "lif.hard"
    else:
        spec = LIFSpec(p.tau, p.decay_input, 0.0, p.v_threshold, "soft", reset_amount=p.v_threshold)
        rule = "lif.soft"
    agree, local = _agreement(spec, data)
    rec = LayerFold(
        path,
        "LIF",
        rule,
        True,
        "always (same operations in the same order)",
        spec.to_dict(),
        agree,
        {"local_agreement": local, "source_params": _params_dict(module)},
    )
    return FoldedLIF(spec, p.surrogate, {"source": "LIF", "rule": rule, "exact": True}), rec


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
def fold_klif(module: nn.Module, path: str, data: LayerData | None) -> tuple[FoldedLIF, LayerFold]:
    """KLIF → LIF on the scaled membrane F = k·H (decay k·β, gain k/τ or k, threshold θ, hard reset V_r)."""
    p = module.params()
    k = _f32(p.k.detach())
    if not k > 0:
        raise ExportError(
            f"layer {path}: KLIF k = {k:.6g} must be > 0 to fold (ReLU(k·H) = k·ReLU(H) needs k > 0)"
        )
    beta_k = k * (1.0 - 1.0 / p.tau)
    if beta_k >= 1.0:
        kind = "an IF neuron (no leak)" if math.isclose(beta_k, 1.0) else "an unstable neuron"
        raise ExportError(
            f"layer {path}: KLIF decay k·(1 − 1/τ) = {beta_k:.6g} ≥ 1 (k={k:.6g}, τ={p.tau}) would fold into "
            f"{kind}; not a LIF"
        )
    spec = LIFSpec(p.tau, p.decay_input, p.v_reset, p.v_threshold, "hard", v_reset=p.v_reset, scale=k)
    agree, local = _agreement(spec, data)
    floor = _klif_floor_rate(module, data.x) if data is not None else None
    rec = LayerFold(
        path,
        "KLIF",
        "klif.rescale",
        False,
        "exact while k·H ≥ 0 (the ReLU floor never acts); the floor has no NIR form",
        {
            **spec.to_dict(),
            "decay": spec.decay,
            "input_gain": spec.input_gain,
            "h_units": {
                "threshold": p.v_threshold / k,
                "v_reset": p.v_reset / k,
                "input_gain": spec.input_gain / k,
            },
        },
        agree,
        {
            "local_agreement": local,
            "relu_floor_rate": floor,
            "exact_on_calibration": floor == 0.0 if floor is not None else None,
            "source_params": _params_dict(module),
        },
    )
    return FoldedLIF(spec, p.surrogate, {"source": "KLIF", "rule": "klif.rescale", "exact": False}), rec


def _grid(family: str, p, soft: list[tuple[str, float]], fine_sigma: tuple[float, ...]) -> list[_Candidate]:
    """Per-layer candidates (``soft`` (name, c) pairs, then ``HARD_RESET_GRID``), then the fine per-neuron
    ones."""
    theta = p.v_threshold
    out = [_Candidate(name, LIFSpec(p.tau, False, 0.0, theta, "soft", reset_amount=c)) for name, c in soft]
    out += [
        _Candidate(
            f"{family}.hard(V_r={f * theta:g})", LIFSpec(p.tau, False, 0.0, theta, "hard", v_reset=f * theta)
        )
        for f in HARD_RESET_GRID
    ]
    seen = {(c.spec.reset, c.value) for c in out}
    fine = [("soft", _f32(theta + sg)) for sg in fine_sigma] + [
        ("hard", _f32(f * theta)) for f in FINE_HARD_RESET_GRID
    ]
    for kind, v in fine:
        if (kind, v) not in seen:
            seen.add((kind, v))
            spec = LIFSpec(
                p.tau, False, 0.0, theta, kind, **({"reset_amount": v} if kind == "soft" else {"v_reset": v})
            )
            out.append(
                _Candidate(f"{family}.{kind}({'c' if kind == 'soft' else 'V_r'}={v:.6g})", spec, False)
            )
    return out


def _calibrated(
    module: nn.Module,
    path: str,
    source: str,
    rule: str,
    spec: LIFSpec,
    cond: str,
    agree: Any,
    local: Any,
    table: Any,
    per_neuron: Any,
) -> tuple[FoldedLIF, LayerFold]:
    """The folded layer and its record for a rule picked by calibration (approximate by construction)."""
    extra = {
        "local_agreement": local,
        "candidates": table,
        "per_neuron": per_neuron,
        "source_params": _params_dict(module),
    }
    rec = LayerFold(path, source, rule, False, cond, spec.to_dict(), agree, extra)
    info = {"source": source, "rule": rule, "exact": False, "layer": path}
    return FoldedLIF(spec, module.params().surrogate, info), rec


def _clif_candidates(p) -> list[_Candidate]:
    theta32 = torch.tensor(p.v_threshold, dtype=torch.float32)
    soft = [
        (f"clif.soft(c=θ+σ({m:g}))", _f32(theta32 + torch.sigmoid(torch.tensor(m, dtype=torch.float32))))
        for m in CLIF_SIGMA_GRID
    ]  # c exactly as the kernel computes θ + σ(m) in float32
    return _grid("clif", p, soft, FINE_SIGMA_GRID)


@register_fold_rule(CLIF)
def fold_clif(module: nn.Module, path: str, data: LayerData | None) -> tuple[FoldedLIF, LayerFold]:
    """CLIF → soft-reset LIF subtracting c = θ + σ(m*) or hard reset to V_r, picked by calibration."""
    p = module.params()
    rule, spec, table, per_neuron = _pick(_clif_candidates(p), data, "clif")
    agree, local = _agreement(spec, data)
    cond = (
        "exact up to and including each neuron's second spike (σ(m) = σ(1) at the first reset)"
        if rule.startswith("clif.soft(c=θ+σ(1))")
        else "approximate: CLIF's reset θ + σ(m) varies with spike history"
    )
    return _calibrated(module, path, "CLIF", rule, spec, cond, agree, local, table, per_neuron)


def _ilif_candidates(p) -> list[_Candidate]:
    soft = [(f"ilif.soft(σ(m)→{c:g})", _f32(p.v_threshold + c)) for c in ILIF_SIGMA_GRID]
    return _grid("ilif", p, soft, FINE_SIGMA_GRID)


@register_fold_rule(ILIF)
def fold_ilif(module: nn.Module, path: str, data: LayerData | None) -> tuple[FoldedLIF, LayerFold]:
    """ILIF → LIF: drop the inhibition trace, σ(m) → calibrated constant (soft reset θ + c) or hard reset."""
    p = module.params()
    rule, spec, table, per_neuron = _pick(_ilif_candidates(p), data, "ilif")
    agree, local = _agreement(spec, data)
    cond = (
        f"approximate: the current-inhibition trace (γ = {p.inhibition}) is dropped and σ(m) is a constant; "
        "exact until the first spike when γ = 0"
    )
    return _calibrated(module, path, "ILIF", rule, spec, cond, agree, local, table, per_neuron)


@register_fold_rule(FoldedLIF)
def fold_spec(module: nn.Module, path: str, data: LayerData | None) -> tuple[FoldedLIF, LayerFold]:
    """An already folded layer stays as it is."""
    info = dict(module.fold_info)
    rec = LayerFold(
        path,
        info.get("source", "FoldedLIF"),
        info.get("rule", "identity"),
        bool(info.get("exact", True)),
        "already folded",
        module.spec.to_dict(),
        _agreement(module.spec, data)[0],
    )
    return module, rec


def _keep(module: nn.Module, path: str, data: LayerData | None, source: str) -> tuple[nn.Module, LayerFold]:
    """A neuron that is already in its deployable form: the module itself, exact (module docstring)."""
    agree = None
    if data is not None:
        agree = 1.0 - int((data.local_target != data.target).sum()) / max(data.target.numel(), 1)
    rec = LayerFold(
        path,
        source,
        f"{source.lower()}.identity",
        True,
        "always (the neuron is kept: its exporters read it directly)",
        {"neuron": source.lower(), **_params_dict(module)},
        agree,
        {"local_agreement": 1.0 if data is not None else None},
    )
    return module, rec


@register_fold_rule(IAF)
def fold_iaf(module: nn.Module, path: str, data: LayerData | None) -> tuple[nn.Module, LayerFold]:
    """IAF stays IAF (exact pass-through; no ``LIFSpec`` has decay 1 or spike counts)."""
    return _keep(module, path, data, "IAF")


@register_fold_rule(CubaLIF)
def fold_cubalif(module: nn.Module, path: str, data: LayerData | None) -> tuple[nn.Module, LayerFold]:
    """CubaLIF stays CubaLIF (exact pass-through; a ``LIFSpec`` has no synaptic current)."""
    return _keep(module, path, data, "CubaLIF")
