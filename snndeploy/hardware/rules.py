"""The per-layer rules of a hardware check: neuron model, reset and decay; weight and threshold ranges; layer
types, biases, pooling and convolution limits; size limits. Each rule adds ``Violation`` records naming the
layer, the fix and the rule's source (see ``check.py`` for the order in which ``check_model`` applies them).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .report import CheckReport, limit_check
from .targets import CurrentSynapse, HardwareTarget
from .views import BATCHNORM, SYNAPTIC, NeuronView, kernel_of, neuron_view

__all__ = [
    "check_neuron", "check_decay", "check_ranges", "check_layer", "check_conv", "check_sizes",
]


def check_neuron(rep: CheckReport, t: HardwareTarget, name: str, mod: nn.Module) -> None:
    view = neuron_view(mod)
    src = t.neuron_source
    if not t.leak:  # an IAF chip (Speck): its own neuron passes; a LIF with no measurable leak is approximate
        # a leak-free neuron (IAF): only its reset to check
        if view.decay == 1.0 and view.current_decay is None:
            _check_reset(rep, t, name, view)
            return
        if view.kind in t.neuron_models:
            return
        if (view.kind == "lif" and view.reset == "subtract" and view.decay is not None
                and view.decay >= 1 - 1e-6):
            rep.add(name, "neuron.model", "warning",
                    f"LIF with tau = {1 / max(1 - view.decay, 1e-300):.3g} steps "
                    f"runs as {t.name}'s IAF: its leak is dropped and the chip may fire several spikes "
                    "per step",
                    "train with the chip's IAF neuron, or re-verify spikes on the integer chip model", src)
            return
        rep.add(name, "neuron.model", "error",
                f"{t.name} runs {t.on_chip_neuron}; a {view.kind.upper()} layer would lose its leak",
                "train with an integrate-and-fire neuron (no leak), or accept the approximation and "
                "re-verify spikes",
                src)
        return
    if view.kind not in t.neuron_models or view.decay is None:
        rep.add(name, "neuron.model", "error",
                f"{view.kind.upper()} is not a {t.name} neuron (on chip: {t.on_chip_neuron})",
                "fold it into LIF with exporters.fold (CLIF/KLIF/ILIF rules) or retrain with LIF", src)
        return
    _check_reset(rep, t, name, view)
    check_decay(rep, t, name, view.decay)
    if view.kind == "cubalif" and t.current is not None:
        _check_current(rep, t, name, view, t.current)


def _check_reset(rep: CheckReport, t: HardwareTarget, name: str, view: NeuronView) -> None:
    if view.reset not in t.resets:
        want = " or ".join("hard reset to 0 (v_reset=0.0)" if r == "zero"
                           else "soft reset by V_th (v_reset=None)"
                           for r in t.resets)
        rep.add(name, "neuron.reset", "error", f"reset '{view.reset}' is not supported; {t.name} supports "
                f"{', '.join(t.resets)}", f"retrain or fine-tune with {want}", t.neuron_source)


def _check_current(rep: CheckReport, t: HardwareTarget, name: str, view: NeuronView,
                   chip: CurrentSynapse) -> None:
    """A CubaLIF on a chip with a synaptic current: its order of operations, threshold and current decay."""
    flavour, strict, source = chip.order, chip.strict, chip.source
    if view.flavour != flavour:
        rep.add(name, "neuron.order", "error", f"CubaLIF flavour {view.flavour!r} is not {t.name}'s order of "
                f"operations ({flavour!r})", f"use CubaLIF(flavour={flavour!r})", source)
    if view.strict != strict:
        cmp = "v > threshold (strict)" if strict else "v >= threshold"
        rep.add(name, "neuron.threshold", "warning",
                f"{t.name} fires at {cmp}; this layer uses strict={view.strict}",
                f"use CubaLIF(strict={strict})", source)
    if view.current_decay is not None:
        check_decay(rep, t, name, view.current_decay)


def check_decay(rep: CheckReport, t: HardwareTarget, name: str, a: float) -> None:
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
                    "choose tau with 4096/tau an integer (tau = 2, 4, 8, ...) or accept and re-verify",
                    t.decay_source)
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


def check_ranges(rep: CheckReport, t: HardwareTarget, wname: str, wmod: nn.Module, nname: str,
                 neuron: nn.Module) -> None:
    """Scale max|W| to the grid's qmax: weights that round to 0 and thresholds beyond the threshold range."""
    w = wmod.weight.detach()
    wmax = float(w.abs().max()) if w.numel() else 0.0
    if wmax == 0.0:
        rep.add(wname, "weights.zero", "error", "all weights are zero",
                "train the layer (toolchains crash on all-zero "
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
            # the chips' mappers then lower the weight scale until the threshold fits (Loihi 2: vth capped,
            # "weights use x of the grid"): legal, at the cost of weight resolution, unless no weight survives
            coarse = theta / t.threshold.max
            survive = torch.round(nonzero / coarse / step) != 0
            kept = float(survive.float().mean()) if nonzero.numel() else 0.0
            what = (f"threshold {theta:g} is {q:.4g} weight LSBs > {t.threshold.max:g} "
                    f"({t.threshold.bits}-bit): with the threshold at its maximum the weights use "
                    f"{t.threshold.max / q:.3g} of the {t.weights.bits}-bit grid and {1 - kept:.0%} of the "
                    "non-zero weights round to 0")
            rep.add(nname, "threshold.range", "error" if kept == 0.0 else "warning", what,
                    "lower the threshold relative to the weights (rescale both), or quantisation-aware "
                    "training (`train --target`), and re-verify spikes (`hw-check --quantize`)",
                    t.threshold.source)
        elif round(q) < 1:
            rep.add(nname, "threshold.range", "error",
                    f"threshold {theta:g} is {q:.3g} weight LSBs: it rounds to 0",
                    "raise the threshold relative to the weights", t.threshold.source)


def check_layer(rep: CheckReport, t: HardwareTarget, name: str, mod: nn.Module) -> None:
    tname = type(mod).__name__
    if isinstance(mod, BATCHNORM):
        rep.add(name, "layer.batchnorm", "error", f"{tname} has no on-chip equivalent on {t.name}",
                "fold BatchNorm into the preceding Conv/Linear (exporters.fold) before the hand-off",
                t.layers_source)
        return
    if tname not in t.allowed_layers:
        fix = {
            "Conv2d": "unroll the convolution into dense weights (Linear) or pick a target with convolutions",
            "AvgPool2d": "replace AvgPool2d by a strided convolution, or fold the pool into the next "
                         "layer's weights",
        }.get(tname, f"use only {', '.join(t.allowed_layers)}")
        rep.add(name, "layer.type", "error", f"{tname} is not supported on {t.name}", fix, t.layers_source)
        return
    if isinstance(mod, SYNAPTIC) and getattr(mod, "bias", None) is not None and bool((mod.bias != 0).any()):
        if t.bias == "dropped":
            rep.add(name, "layer.bias", "warning",
                    f"{tname} bias is not transferred to {t.name} (it is dropped)",
                    "train with bias=False, or move the bias into the neurons' membrane bias",
                    t.layers_source)
        elif t.bias == "discouraged":
            rep.add(name, "layer.bias", "warning", f"{tname} bias acts as a constant leak on {t.name}",
                    "train with bias=False", t.layers_source)
    if isinstance(mod, nn.Conv2d):
        check_conv(rep, t, name, mod)
    if isinstance(mod, nn.AvgPool2d):
        k, s = kernel_of(mod, "kernel_size"), kernel_of(mod, "stride")
        if k[0] != k[1] or k[0] not in t.pooling_kernels or s != k:
            rep.add(name, "layer.pool", "error",
                    f"AvgPool2d kernel={k} stride={s}; {t.name} sum-pools square kernels "
                    f"{list(t.pooling_kernels)} with stride = kernel",
                    f"use kernel_size = stride in {list(t.pooling_kernels)}", t.layers_source)


def check_conv(rep: CheckReport, t: HardwareTarget, name: str, mod: nn.Conv2d) -> None:
    """Convolution limits the target declares (``max_kernel_size`` with square kernels, ``cores.strides``,
    ``max_padding``, ``max_channels``); a target that declares none of them accepts any Conv2d it allows."""
    k, s, p = kernel_of(mod, "kernel_size"), kernel_of(mod, "stride"), kernel_of(mod, "padding")
    lim = t.limits
    if "max_kernel_size" in lim and (k[0] != k[1] or k[0] > lim["max_kernel_size"].value):
        kmax = lim["max_kernel_size"].value
        rep.add(name, "conv.kernel", "error", f"kernel {k}: {t.name} needs square kernels <= {kmax:g}",
                f"use a square kernel of at most {kmax:g}x{kmax:g}", lim["max_kernel_size"].source)
    strides = list(t.cores.strides) if t.cores is not None else []
    if strides and (s[0] != s[1] or s[0] not in strides):
        rep.add(name, "conv.stride", "error", f"stride {s}: {t.name} allows {strides}",
                f"use a stride in {strides}", t.cores.source)
    if "max_padding" in lim and max(p) > lim["max_padding"].value:
        rep.add(name, "conv.padding", "error", f"padding {p} > {lim['max_padding'].value:g}",
                f"use padding <= {lim['max_padding'].value:g}", lim["max_padding"].source)
    if "max_channels" in lim and max(mod.in_channels, mod.out_channels) > lim["max_channels"].value:
        rep.add(name, "conv.channels", "error", f"{mod.in_channels}->{mod.out_channels} channels > "
                f"{lim['max_channels'].value:g}", f"use at most {lim['max_channels'].value:g} channels",
                lim["max_channels"].source)


def check_sizes(rep: CheckReport, t: HardwareTarget, neurons: list, synaptic: list, shapes: dict,
                 readout_is_weight: bool = False) -> None:
    """Size limits. When the model ends with a weight layer (read off-chip), every neuron layer is hidden and
    the readout size is that layer's output; else the last neuron layer is the output layer."""
    if shapes:
        total = sum(n for _, _, n in neurons)
        limit_check(rep, t, "max_neurons_total", total, "model", "neurons",
                    "use a smaller model or split it over chips")
        synapses = sum(int(math.prod(shapes[id(m)][1])) * int(m.weight[0].numel()) for _, m in synaptic
                       if id(m) in shapes)
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
        limit_check(rep, t, "max_hidden_neurons", sum(n for _, _, n in hidden_layers), "model",
                    "hidden neurons", "use fewer hidden neurons")
        limit_check(rep, t, "max_output_neurons", last_n, last_name, "output neurons",
                    "use fewer output classes")
        limit_check(rep, t, "max_readout_classes", last_n, last_name, "readout classes",
                    "use at most {limit} classes")
        if hidden_layers:
            limit_check(rep, t, "max_input_targets", hidden_layers[0][2], hidden_layers[0][0],
                        "neurons fed by the input", "make the first hidden layer at most {limit} neurons")
            limit_check(rep, t, "max_output_sources", hidden_layers[-1][2], hidden_layers[-1][0],
                        "neurons read by the output", "make the last hidden layer at most {limit} neurons")
        for name, mod in synaptic:
            if id(mod) not in shapes:
                continue
            in_shape, out_shape = shapes[id(mod)]
            if isinstance(mod, nn.Conv2d):
                limit_check(rep, t, "max_input_size", max(in_shape[-2:]), name, "input feature map side",
                            "downsample the input")
                limit_check(rep, t, "max_output_feature_map", max(out_shape[-2:]), name,
                            "output feature map side",
                       "add stride or pooling")
    if synaptic:
        first = synaptic[0][1]
        n_in = first.in_features if isinstance(first, nn.Linear) else first.in_channels
        limit_check(rep, t, "max_input_channels", n_in, synaptic[0][0], "input channels",
                    "reduce the input to {limit} channels")
        for name, mod in synaptic[1:]:
            if isinstance(mod, nn.Linear):
                fan_out = int((mod.weight != 0).sum(0).max())
                limit_check(rep, t, "max_fan_out", fan_out, name, "max fan-out of a source neuron",
                       "prune outgoing weights or use fewer neurons in this layer")
