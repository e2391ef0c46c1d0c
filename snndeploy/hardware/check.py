"""Check a model against a hardware target's documented constraints, before any vendor SDK call (NIR graphs:
``nir_check.py``).

Every ``Violation`` names the layer (or NIR node), what is wrong, what to change, and the source of the rule.
``error``: the toolchain refuses it or the chip cannot run it; ``warning``: it maps, but approximately, or the
limit is only secondarily sourced. Tensors are time-major ``[T, B, *]``; shape-dependent checks (neuron counts,
feature-map sizes, Speck core memory) need ``example_input``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import HardwareConstraintError
from ..models.layers import Residual
from ..models.tree import walk as walk_model
from ..neurons import LIF
from ..neurons.base import is_neuron
from .targets import HardwareTarget, get_target

__all__ = [
    "HardwareConstraintError", "Violation", "CheckReport", "NeuronView", "neuron_view", "walk_model", "check_model",
    "threshold_of", "limit_check",
]

_SYNAPTIC = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NOOP = ("Flatten", "Dropout", "Identity")
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class Violation:
    """One broken constraint: where, what, how to fix it, and the rule's source."""

    layer: str
    rule: str
    severity: str  # "error" | "warning"
    message: str
    fix: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return dict(vars(self))


@dataclass
class CheckReport:
    """All violations of one model against one target."""

    target: str
    violations: list[Violation] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    @property
    def ok(self) -> bool:
        """True when nothing would stop the hand-off (warnings allowed)."""
        return not self.errors

    def add(self, layer: str, rule: str, severity: str, message: str, fix: str, source: str) -> None:
        self.violations.append(Violation(layer, rule, severity, message, fix, source))

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.violations) - len(self.errors),
            "checked": self.checked,
            "not_checked_unsourced": self.not_checked,
            "violations": [v.to_dict() for v in self.violations],
        }


@dataclass(frozen=True)
class NeuronView:
    """What a hardware check needs to know of a neuron layer.

    ``decay`` is a in H = a·V + b·X + c (``None`` for non-LIF neurons); ``reset`` is ``"zero"`` (hard to 0),
    ``"value"`` (hard to V_r ≠ 0), ``"subtract"`` (subtract V_th) or ``"subtract_other"`` (subtract another amount).
    """

    kind: str
    decay: float | None
    reset: str | None
    threshold: float | None


def neuron_view(mod: nn.Module) -> NeuronView:
    """``NeuronView`` of an snndeploy neuron or a folded ``SpecLIF`` (read from its ``LIFSpec``)."""
    if isinstance(mod, LIF):
        p = mod.params()
        reset = "subtract" if not p.hard else ("zero" if p.v_reset == 0.0 else "value")
        return NeuronView("lif", 1.0 - 1.0 / p.tau, reset, p.v_threshold)
    spec = getattr(mod, "spec", None)
    if spec is not None and hasattr(spec, "reset_amount"):
        if spec.reset == "hard":
            reset = "zero" if spec.v_reset == 0.0 else "value"
        else:
            reset = "subtract" if spec.reset_amount == spec.v_threshold else "subtract_other"
        return NeuronView("lif", float(spec.decay), reset, float(spec.v_threshold))
    return NeuronView(getattr(mod, "neuron_name", type(mod).__name__.lower()), None, None, threshold_of(mod))


def threshold_of(neuron: nn.Module) -> float | None:
    """The firing threshold of a neuron module (every snndeploy neuron's params record has ``v_threshold``)."""
    params = neuron.params() if hasattr(neuron, "params") else None
    return float(params.v_threshold) if params is not None and hasattr(params, "v_threshold") else None


def _shapes(model: nn.Module, units: list[tuple[str, nn.Module]], x: Tensor) -> dict[int, tuple[tuple, tuple]]:
    """(input shape, output shape) per unit, per single sample and step, from one forward on ``x[:, :1]``."""
    shapes: dict[int, tuple[tuple, tuple]] = {}
    handles = []
    for _, mod in units:
        def hook(m: nn.Module, args: tuple, out: Any, key: int = id(mod)) -> None:
            if args and isinstance(args[0], Tensor) and isinstance(out, Tensor):
                shapes[key] = (tuple(args[0].shape[1:]), tuple(out.shape[1:]))
        handles.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x[:, :1])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return shapes


def _kernel(mod: nn.Module, attr: str) -> tuple[int, ...]:
    v = getattr(mod, attr)
    return tuple(v) if isinstance(v, tuple) else (int(v),) * 2


def _check_neuron(rep: CheckReport, t: HardwareTarget, name: str, mod: nn.Module) -> None:
    view = neuron_view(mod)
    src = t.neuron_source
    if not t.leak:
        rep.add(name, "neuron.model", "error",
                f"{t.name} runs {t.on_chip_neuron}; a {view.kind.upper()} layer would lose its leak",
                "train with an integrate-and-fire neuron (no leak), or accept the approximation and re-verify spikes",
                src)
        return
    if view.kind not in t.neuron_models or view.decay is None:
        rep.add(name, "neuron.model", "error",
                f"{view.kind.upper()} is not a {t.name} neuron (on chip: {t.on_chip_neuron})",
                "fold it into LIF with exporters.fold (CLIF/KLIF/ILIF rules) or retrain with LIF", src)
        return
    if view.reset not in t.resets:
        want = " or ".join("hard reset to 0 (v_reset=0.0)" if r == "zero" else "soft reset by V_th (v_reset=None)"
                           for r in t.resets)
        rep.add(name, "neuron.reset", "error", f"reset '{view.reset}' is not supported; {t.name} supports "
                f"{', '.join(t.resets)}", f"retrain or fine-tune with {want}", src)
    _check_decay(rep, t, name, view.decay)


def _check_decay(rep: CheckReport, t: HardwareTarget, name: str, a: float) -> None:
    """Can the decay a (β = 1 − 1/τ) be encoded exactly? Loihi: 1 − dv/4096; Xylo: 1 − 2^−dash."""
    if not 0.0 < a < 1.0:
        return
    tau = 1.0 / (1.0 - a)
    if t.decay_format == "fraction_4096":
        dv = round(4096.0 * (1.0 - a))
        a_q = 1.0 - dv / 4096.0
        if abs(a_q - a) > 1e-9:
            rep.add(name, "decay.format", "warning",
                    f"tau={tau:g} gives beta={a:.6g}; the 12-bit decay dv={dv}/4096 gives beta={a_q:.6g}",
                    "choose tau with 4096/tau an integer (tau = 2, 4, 8, ...) or accept and re-verify", t.decay_source)
    elif t.decay_format == "bitshift":
        dash = -math.log2(1.0 - a)
        dq = max(0, round(dash))
        if dq > t.decay_max:
            rep.add(name, "decay.range", "error",
                    f"tau={tau:g} needs a bit-shift decay of {dash:.3g} > {t.decay_max:g}",
                    f"use tau <= 2**{t.decay_max:g}", t.decay_source)
        elif abs(dash - dq) > 1e-9:
            rep.add(name, "decay.format", "warning",
                    f"tau={tau:g} gives beta={a:.6g}; bit-shift dash={dq} gives beta={1 - 2.0 ** -dq:.6g}",
                    "use tau = 2**k (beta = 1 - 2**-k) or accept and re-verify", t.decay_source)


def _check_layer(rep: CheckReport, t: HardwareTarget, name: str, mod: nn.Module) -> None:
    tname = type(mod).__name__
    if isinstance(mod, _BN):
        rep.add(name, "layer.batchnorm", "error", f"{tname} has no on-chip equivalent on {t.name}",
                "fold BatchNorm into the preceding Conv/Linear (exporters.fold) before the hand-off", t.layers_source)
        return
    if tname not in t.allowed_layers:
        fix = {
            "Conv2d": "unroll the convolution into dense weights (Linear) or pick a target with convolutions",
            "AvgPool2d": "replace AvgPool2d by a strided convolution, or fold the pool into the next layer's weights",
        }.get(tname, f"use only {', '.join(t.allowed_layers)}")
        rep.add(name, "layer.type", "error", f"{tname} is not supported on {t.name}", fix, t.layers_source)
        return
    if isinstance(mod, _SYNAPTIC) and getattr(mod, "bias", None) is not None and bool((mod.bias != 0).any()):
        if t.bias == "dropped":
            rep.add(name, "layer.bias", "warning", f"{tname} bias is not transferred to {t.name} (it is dropped)",
                    "train with bias=False, or move the bias into the neurons' membrane bias", t.layers_source)
        elif t.bias == "discouraged":
            rep.add(name, "layer.bias", "warning", f"{tname} bias acts as a constant leak on {t.name}",
                    "train with bias=False", t.layers_source)
    if isinstance(mod, nn.Conv2d) and t.name == "speck":
        _check_speck_conv(rep, t, name, mod)
    if isinstance(mod, nn.AvgPool2d):
        k, s = _kernel(mod, "kernel_size"), _kernel(mod, "stride")
        if k[0] != k[1] or k[0] not in t.pooling_kernels or s != k:
            rep.add(name, "layer.pool", "error",
                    f"AvgPool2d kernel={k} stride={s}; {t.name} sum-pools square kernels {list(t.pooling_kernels)} "
                    "with stride = kernel", f"use kernel_size = stride in {list(t.pooling_kernels)}", t.layers_source)


def _check_speck_conv(rep: CheckReport, t: HardwareTarget, name: str, mod: nn.Conv2d) -> None:
    k, s, p = _kernel(mod, "kernel_size"), _kernel(mod, "stride"), _kernel(mod, "padding")
    lim = t.limits
    if k[0] != k[1] or k[0] > lim["max_kernel_size"].value:
        rep.add(name, "conv.kernel", "error", f"kernel {k}: Speck needs square kernels <= {lim['max_kernel_size'].value:g}",
                "use a square kernel of at most 16x16", lim["max_kernel_size"].source)
    strides = t.extra.get("strides", [])
    if s[0] != s[1] or s[0] not in strides:
        rep.add(name, "conv.stride", "error", f"stride {s}: Speck allows {strides}", f"use a stride in {strides}",
                t.extra.get("source", ""))
    if max(p) > lim["max_padding"].value:
        rep.add(name, "conv.padding", "error", f"padding {p} > {lim['max_padding'].value:g}", "use padding <= 7",
                lim["max_padding"].source)
    if max(mod.in_channels, mod.out_channels) > lim["max_channels"].value:
        rep.add(name, "conv.channels", "error", f"{mod.in_channels}->{mod.out_channels} channels > "
                f"{lim['max_channels'].value:g}", "use at most 1024 channels", lim["max_channels"].source)


def _speck_memory(rep: CheckReport, t: HardwareTarget, layers: list[tuple[str, int, int]]) -> None:
    """Assign each (name, kernel memory, neuron memory) layer to a distinct core whose memories fit (backtracking)."""
    wmem = [int(v) * 1024 for v in t.extra.get("weight_memory_ki", [])]
    nmem = [int(v) * 1024 for v in t.extra.get("neuron_memory_ki", [])]
    src = t.extra.get("source", "")
    for name, k, n in layers:
        if not any(k <= w and n <= m for w, m in zip(wmem, nmem, strict=True)):
            rep.add(name, "speck.memory", "error",
                    f"needs kernel memory {k} and neuron memory {n} entries; no Speck core has both",
                    "reduce channels or feature-map size (memory rounds up to powers of two)", src)
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
        rep.add(layers[0][0], "speck.memory", "error", "the layers fit individually but not all at once on the 9 cores",
                "shrink the largest layers", src)


def limit_check(rep: CheckReport, t: HardwareTarget, key: str, value: float, layer: str, what: str, fix: str) -> None:
    lim = t.limit(key)
    if lim is not None and value > lim.value:
        sev = "warning" if lim.secondary else "error"
        tag = " (secondary source)" if lim.secondary else ""
        rep.add(layer, key, sev, f"{what} = {value:g} > {lim.value:g}{tag}", fix, lim.source)


def check_model(model: nn.Module, target: str | HardwareTarget, example_input: Tensor | None = None) -> CheckReport:
    """Check ``model`` against ``target``; ``example_input`` [T, B, *] enables the shape-dependent checks."""
    t = get_target(target)
    rep = CheckReport(t.name, not_checked=list(t.unsourced))
    units = walk_model(model)
    shapes = _shapes(model, units, example_input) if example_input is not None else {}
    rep.checked = ["layer types", "neuron model, reset, decay", "weights and threshold range"]
    if shapes:
        rep.checked.append("sizes")
    neurons: list[tuple[str, nn.Module, int]] = []
    synaptic: list[tuple[str, nn.Module]] = []
    last_weight = None
    speck_layers: list[tuple[str, int, int]] = []
    for name, mod in units:
        if is_neuron(mod):
            _check_neuron(rep, t, name, mod)
            n = int(math.prod(shapes[id(mod)][1])) if id(mod) in shapes else 0
            neurons.append((name, mod, n))
            last_weight = None
            if synaptic:
                _check_ranges(rep, t, synaptic[-1][0], synaptic[-1][1], name, mod)
            continue
        if isinstance(mod, Residual):
            if t.residual == "no":
                rep.add(name, "layer.residual", "error", f"residual/skip connections cannot be loaded on {t.name}",
                        "remove the skip connection (plain VGG/MLP) or pick a target with merge support", t.layers_source)
            elif t.residual == "unsourced":
                rep.add(name, "layer.residual", "warning", f"residual support on {t.name} is unsourced",
                        "check with the vendor toolchain before relying on it", t.layers_source)
            continue
        _check_layer(rep, t, name, mod)
        if isinstance(mod, _SYNAPTIC):
            if last_weight is not None and not t.consecutive_weights:
                rep.add(name, "layer.consecutive_weights", "error",
                        f"weight layer {name} follows weight layer {last_weight} with no neurons between",
                        "merge the two weight matrices into one, or put a neuron layer between them", t.layers_source)
            last_weight = name
            synaptic.append((name, mod))
            if t.name == "speck" and id(mod) in shapes:
                speck_layers.append((name, *_speck_mem(mod, shapes[id(mod)])))
    if synaptic and last_weight is not None:
        rep.add(last_weight, "layers.output_from_neurons", "error" if t.output_from_neurons else "warning",
                f"the last weight layer {last_weight} has no neurons after it: its real-valued output must be read "
                "off-chip", "add an output neuron layer (read spike counts) or compute the readout on the host",
                t.layers_source)
    _check_sizes(rep, t, neurons, synaptic, shapes, readout_is_weight=last_weight is not None)
    if t.name == "speck":
        limit_check(rep, t, "max_layers", len(synaptic), synaptic[0][0] if synaptic else "model", "weight layers (cores)",
               "use at most 9 Conv/Linear layers")
        if speck_layers:
            _speck_memory(rep, t, speck_layers)
    if len(neurons) < t.min_neuron_layers:
        rep.add("model", "layers.min_neuron_layers", "error",
                f"{len(neurons)} neuron layer(s); {t.name} needs at least {t.min_neuron_layers} (hidden + output)",
                "add a hidden neuron layer", t.layers_source)
    return rep


def _speck_mem(mod: nn.Module, shape: tuple[tuple, tuple]) -> tuple[int, int]:
    out = shape[1]
    if isinstance(mod, nn.Conv2d):
        kx, ky = _kernel(mod, "kernel_size")
        c_in, c_out, fy, fx = mod.in_channels, mod.out_channels, out[-2], out[-1]
    else:  # Linear → a conv with kernel = input size: kernel memory c_in · 2^ceil(log2 c_out)
        kx = ky = 1
        c_in, c_out, fy, fx = mod.in_features, mod.out_features, 1, 1
    k = c_in * 2 ** (math.ceil(math.log2(kx * ky)) + math.ceil(math.log2(c_out)))
    n = c_out * 2 ** (math.ceil(math.log2(fy)) + math.ceil(math.log2(fx)))
    return int(k), int(n)


def _check_ranges(rep: CheckReport, t: HardwareTarget, wname: str, wmod: nn.Module, nname: str, neuron: nn.Module) -> None:
    """Scale max|W| to the grid's qmax: weights that round to 0 and thresholds beyond the threshold range."""
    w = wmod.weight.detach()
    wmax = float(w.abs().max()) if w.numel() else 0.0
    if wmax == 0.0:
        rep.add(wname, "weights.zero", "error", "all weights are zero", "train the layer (toolchains crash on all-zero "
                "weights, e.g. lava's exponent search)", t.weights.source)
        return
    scale = wmax / t.weights.qmax
    step = t.weights.step or 1.0
    nonzero = w[w != 0]
    lost = float((torch.round(nonzero / scale / step) == 0).float().mean()) if nonzero.numel() else 0.0
    if lost > 0.05:
        rep.add(wname, "weights.resolution", "warning",
                f"{lost:.0%} of the non-zero weights round to 0 on the {t.weights.bits}-bit grid",
                "quantisation-aware fine-tuning, or prune them and re-verify spikes", t.weights.source)
    theta = neuron_view(neuron).threshold
    if theta is not None and t.threshold.step:
        q = theta / scale
        if q > t.threshold.max:
            rep.add(nname, "threshold.range", "error",
                    f"threshold {theta:g} is {q:.4g} weight LSBs > {t.threshold.max:g} ({t.threshold.bits}-bit)",
                    "lower the threshold relative to the weights (rescale both) or retrain", t.threshold.source)
        elif round(q) < 1:
            rep.add(nname, "threshold.range", "error",
                    f"threshold {theta:g} is {q:.3g} weight LSBs: it rounds to 0",
                    "raise the threshold relative to the weights", t.threshold.source)


def _check_sizes(rep: CheckReport, t: HardwareTarget, neurons: list, synaptic: list, shapes: dict,
                 readout_is_weight: bool = False) -> None:
    """Size limits. When the model ends with a weight layer (read off-chip), every neuron layer is hidden and the
    readout size is that layer's output; else the last neuron layer is the output layer."""
    if shapes:
        total = sum(n for _, _, n in neurons)
        limit_check(rep, t, "max_neurons_total", total, "model", "neurons", "use a smaller model or split it over chips")
        synapses = sum(int(math.prod(shapes[id(m)][1])) * int(m.weight[0].numel()) for _, m in synaptic if id(m) in shapes)
        limit_check(rep, t, "max_synapses_total", synapses, "model", "synapses", "use a smaller model")
        if readout_is_weight and synaptic and id(synaptic[-1][1]) in shapes:
            last_name = synaptic[-1][0]
            last_n = int(math.prod(shapes[id(synaptic[-1][1])][1]))
            hidden_layers = neurons
        elif neurons:
            last_name, _, last_n = neurons[-1]
            hidden_layers = neurons[:-1]
        else:
            last_name, last_n, hidden_layers = "model", 0, []
        limit_check(rep, t, "max_hidden_neurons", sum(n for _, _, n in hidden_layers), "model", "hidden neurons",
                    "use fewer hidden neurons")
        limit_check(rep, t, "max_output_neurons", last_n, last_name, "output neurons", "use fewer output classes")
        limit_check(rep, t, "max_readout_classes", last_n, last_name, "readout classes", "use at most 15 classes")
        if hidden_layers:
            limit_check(rep, t, "max_input_targets", hidden_layers[0][2], hidden_layers[0][0],
                        "neurons fed by the input", "make the first hidden layer at most 128 neurons")
            limit_check(rep, t, "max_output_sources", hidden_layers[-1][2], hidden_layers[-1][0],
                        "neurons read by the output", "make the last hidden layer at most 128 neurons")
        for name, mod in synaptic:
            if id(mod) not in shapes:
                continue
            in_shape, out_shape = shapes[id(mod)]
            if isinstance(mod, nn.Conv2d):
                limit_check(rep, t, "max_input_size", max(in_shape[-2:]), name, "input feature map side", "downsample the input")
                limit_check(rep, t, "max_output_feature_map", max(out_shape[-2:]), name, "output feature map side",
                       "add stride or pooling")
    if synaptic:
        first = synaptic[0][1]
        n_in = first.in_features if isinstance(first, nn.Linear) else first.in_channels
        limit_check(rep, t, "max_input_channels", n_in, synaptic[0][0], "input channels", "reduce the input to 16 channels")
        for name, mod in synaptic[1:]:
            if isinstance(mod, nn.Linear):
                fan_out = int((mod.weight != 0).sum(0).max())
                limit_check(rep, t, "max_fan_out", fan_out, name, "max fan-out of a source neuron",
                       "prune outgoing weights or use fewer neurons in this layer")
