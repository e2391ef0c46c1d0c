"""``snndeploy train --target T``: train a network the target runs as it is, quantisation-aware.

``train_for_target(target, dataset, ...)``:

1. the target's recipe (``recipes.py``) gives the builder (``chip_mlp`` / ``chip_cnn``: no BatchNorm, no
  biases,
   sum pooling, output neurons), the neuron by name, τ, T, width and the dataset view (class subset, input
   scale; ``data.py``); the request is checked against the target's limits before anything is trained
   (``check_request``: ``DeployRequestError``, exit code 2, naming the limit and a fix);
2. training with quantisation in the loop (``qat.ChipQuantizer``: weights on the chip's integer grid with
   straight-through gradients, inputs rounded to the chip's input events), AdamW, cosine schedule;
3. the loss on the output neurons' spikes S ``[T, B, C]`` (the prediction is argmax_c Σ_t S_c):

       L = CE(κ · (1/T) Σ_t S[t], y)          (κ = ``rate_scale``, 8: spike rates in [0, 1] become logits)

4. a checkpoint (``checkpoint.pt``, the float master weights, loadable by ``snndeploy.load``) and
   ``metrics.jsonl`` (one line per epoch: loss, train/test accuracy with the chip grid in the loop, firing
   rates).

Whether the result is legal and keeps its accuracy on the chip is measured by ``handoff.hand_off`` (hw-check,
the integer chip model, the vendor's simulator).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoint import save_checkpoint
from ..data.view import TargetData, target_data
from ..errors import InvalidParameterError
from ..io import atomic_write
from ..models import ModelConfig, build_model
from ..models.record import record_neurons
from ..models.tree import neuron_paths
from ..neurons import CubaLIF
from .qat import ChipQuantizer
from .recipes import DeployRequestError, TargetRecipe, TargetRequest, check_request, check_tau, get_recipe

__all__ = [
    "TargetTrainConfig",
    "TargetTrainResult",
    "train_for_target",
    "request_of",
    "spike_accuracy",
    "rate_loss",
    "build_target_model",
]


@dataclass(frozen=True)
class TargetTrainConfig:
    """Hyper-parameters of ``train_for_target`` (``None``: the recipe's default for the dataset)."""

    epochs: int | None = None  # None: the recipe's for the dataset (20 unless it says otherwise)
    batch_size: int = 64
    lr: float | None = None  # None: the recipe's for the dataset (3e-3 unless it says otherwise)
    seed: int = 0
    qat: bool = True
    rate_scale: float = 8.0
    weight_decay: float = 0.0
    calibration_samples: int = 1024
    membrane_weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "calibration_samples"):
            v = getattr(self, name)
            if v is None and name == "epochs":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{name} must be an int >= 1, got {v!r}")
        for name in ("lr", "rate_scale"):
            v = getattr(self, name)
            if v is None and name == "lr":
                continue
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InvalidParameterError(f"{name} must be a finite number > 0, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class TargetTrainResult:
    """The trained model (float master weights, eval mode), its config, recipe, data and per-epoch history."""

    model: nn.Module
    config: ModelConfig
    recipe: TargetRecipe
    data: TargetData
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None
    metrics: Path | None = None
    calibration_x: Tensor | None = None
    init_rates: dict[str, float] = field(default_factory=dict)

    @property
    def train_record(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def membrane_penalty(
    x_in: Tensor, s: Tensor, neuron: nn.Module, bounds: tuple[float | None, float | None]
) -> Tensor:
    """Mean squared excursion of a LIF layer's membrane beyond ``bounds`` (units of θ), from its input X and
    spikes S ``[T, B, *]``: H[t] = a·V[t−1] + b·X[t] + c, V[t] = H[t] − θ·S[t] (soft) or (1 − S[t])·H[t] +
    S[t]·V_r (hard), as ``neurons.dynamics``; penalty (relu(H − hi·θ)² + relu(lo·θ − V)²)/θ², averaged.
    Differentiable in
    X and in S (through the surrogate)."""
    from ..hardware.chips.loihi2_map import neuron_coefficients
    from ..neurons import CubaLIF

    if isinstance(neuron, CubaLIF):
        return _cubalif_penalty(x_in, s, neuron, bounds)
    co = neuron_coefficients("neuron", neuron)
    a, b, c, theta = co["a"], co["b"], co["c"], co["theta"]
    lo, hi = bounds
    v = torch.zeros_like(x_in[0])
    pen = x_in.new_zeros(())
    for t in range(x_in.shape[0]):
        h = a * v + b * x_in[t] + c
        if hi is not None:
            pen = pen + F.relu(h - hi * theta).square().mean()
        v = h - theta * s[t] if co["reset"] == "subtract" else (1.0 - s[t]) * h + s[t] * co["v_reset"]
        if lo is not None:
            pen = pen + F.relu(lo * theta - v).square().mean()
    return pen / (x_in.shape[0] * theta * theta)


def _cubalif_penalty(
    x_in: Tensor, s: Tensor, neuron: nn.Module, bounds: tuple[float | None, float | None]
) -> Tensor:
    """``membrane_penalty`` of a Xylo ``CubaLIF``: I[t] = α·(I[t−1] + X[t]), H = β·V + I + b, V = H − θ·N;
    both the current and the membrane are kept within [lo·θ, hi·θ] (Xylo's int16 states saturate at ±32767
    LSB, and
    its saturating additions, done one event at a time, only equal the float sum below that)."""
    p = neuron.params()
    lo, hi = bounds
    theta = p.v_threshold
    i = torch.zeros_like(x_in[0])
    v = torch.zeros_like(x_in[0])
    pen = x_in.new_zeros(())
    for t in range(x_in.shape[0]):
        pre = i + x_in[t] if p.flavour == "xylo" else p.alpha * i + x_in[t]  # Xylo saturates I + X
        i = p.alpha * pre if p.flavour == "xylo" else pre
        h = p.beta * v + i + p.bias
        for z in (pre, h):
            if hi is not None:
                pen = pen + F.relu(z - hi * theta).square().mean()
            if lo is not None:
                pen = pen + F.relu(lo * theta - z).square().mean()
        v = h - theta * s[t]
    return pen / (x_in.shape[0] * theta * theta)


def rate_loss(out: Tensor, y: Tensor, rate_scale: float) -> Tensor:
    """CE(κ·mean_t S, y) on output spikes ``[T, B, C]`` (module docstring)."""
    return F.cross_entropy(rate_scale * out.float().mean(0), y)


def spike_accuracy(out: Tensor, y: Tensor) -> float:
    """Fraction of samples whose largest output spike count Σ_t S (first class on ties) is the label."""
    return float((out.float().sum(0).argmax(-1) == y).float().mean())


def _hidden_sizes(model: nn.Module, x: Tensor) -> list[int]:
    with torch.no_grad(), record_neurons(model) as (spikes, _):
        model.eval()(x[:1, :1])
    return [int(math.prod(s.shape[2:])) for s in spikes.values()]


def request_of(
    model: nn.Module, config: ModelConfig, recipe: TargetRecipe, x: Tensor, *, readout_neurons: bool = True
) -> TargetRequest:
    """What ``model`` asks of the target (per-step sizes of one sample), for ``check_request``. With
    ``readout_neurons`` the last neuron layer is the output (``chip_*`` builders), else every neuron layer is
    hidden and the output is the last Linear (a model to deploy); the model name is checked only then."""
    sizes = _hidden_sizes(model, x)
    features = int(math.prod(x.shape[2:]))
    channels = 2 * features if recipe.input_encoding == "xylo" and float(x.min()) < 0 else features
    hidden = tuple(sizes[:-1]) if readout_neurons else tuple(sizes)
    targets = [*sizes[1:], config.num_classes] if not readout_neurons else sizes[1:]
    fan_out = max(targets[: len(hidden)], default=0)
    convolutional = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return TargetRequest(
        features,
        config.num_classes,
        hidden,
        channels,
        convolutional,
        fan_out,
        config.model if readout_neurons else "",
    )


def check_inputs(recipe: TargetRecipe, data: TargetData, x: Tensor) -> None:
    """Refuse inputs the chip's input convention cannot carry (Speck: non-negative integer events)."""
    if recipe.input_encoding == "events":
        bad = (x < 0) | (x != torch.round(x))
        if bool(bad.any()):
            v = float(x[bad][0])
            raise DeployRequestError(
                f"{recipe.target}: input value {v:g} of {data.dataset} (x {data.input_scale:g}) is not a "
                "non-negative integer event count; the chip takes events (sinabs DynapcnnNetwork, "
                "speck_map.encode_events); fix: --dataset digits (pixels x 16 are event counts) or encode "
                "the input as events first"
            )


def build_target_model(
    recipe: TargetRecipe,
    data: TargetData,
    *,
    model: str | None = None,
    neuron: str | None = None,
    neuron_kwargs: dict[str, Any] | None = None,
    width: float | None = None,
    depth: int | None = None,
) -> tuple[nn.Module, ModelConfig]:
    """The recipe's network for ``data`` (with overrides), checked against the target's limits up front."""
    defaults = recipe.dataset_defaults(data.dataset)
    choice = recipe.neuron() if neuron is None else recipe.choice(neuron)  # None: not a neuron the chip runs
    name = neuron or recipe.neuron().name
    kwargs = dict(choice.kwargs) if choice is not None else {}
    kwargs.update(neuron_kwargs or {})
    config = ModelConfig(
        model or recipe.models[0],
        data.bundle.input_shape,
        data.classes,
        name,
        kwargs,
        width if width is not None else defaults["width"],
        depth if depth is not None else defaults["depth"],
        batch_norm=False,
    )
    x, _ = data.split("train", 256)
    if choice is not None:  # another neuron (CLIF, ...) reaches the chip through deploy (it rescales inputs)
        check_inputs(recipe, data, x)
    net = build_model(config)
    check_request(recipe, request_of(net, config, recipe, x[:, :2]))
    for key in ("tau", "tau_mem", "tau_syn"):
        if (
            key in kwargs
            and name in ("lif", "cubalif")
            and not (key == "tau_syn" and recipe.decay_grid == "none")
        ):
            check_tau(recipe, float(kwargs[key]), f"{name} {key}", current=key == "tau_syn")
    return net, config


def _with_layer_params(net: nn.Module, config: ModelConfig) -> ModelConfig:
    """``config`` with the per-layer ``lsb`` QAT chose for chip-integer ``CubaLIF`` layers
    (``qat.adapt_lsb``) as ``neuron_overrides``, so that ``snndeploy.load`` rebuilds the same neurons."""
    overrides = {}
    for path, neuron in neuron_paths(net):
        lsb = getattr(neuron.params(), "lsb", None) if isinstance(neuron, CubaLIF) else None
        if lsb is not None and lsb != config.neuron_kwargs.get("lsb"):
            overrides[path] = {"lsb": lsb}
    return dataclasses.replace(config, neuron_overrides=overrides) if overrides else config


@torch.no_grad()
def rate_init(
    model: nn.Module, x: Tensor, low: float = 0.05, high: float = 0.25, steps: int = 24
) -> dict[str, float]:
    """Data-driven start (in the spirit of LSUV, Mishkin & Matas 2016): layer by layer, scale the weights into
    a neuron layer by 1.5 or 1/1.5 until that layer's firing rate on ``x`` lies in [``low``, ``high``].
    Without BatchNorm or biases the builders' fixed init can leave a layer silent or saturated, depending on
    the input's range (Speck's digits events reach 16 per step): a silent or saturated layer has no surrogate
    gradient.
    Returns the final rate per neuron layer."""
    rates: dict[str, float] = {}
    model.eval()
    for wmod, (nname, _) in _weight_neuron_pairs(model):
        for _ in range(steps):
            with record_neurons(model) as (spikes, _):
                model(x)
            r = float(spikes[nname].float().mean())
            if r < low and wmod.weight.abs().max() > 0:
                wmod.weight.mul_(1.5)
            elif r > high:
                wmod.weight.div_(1.5)
            else:
                break
        rates[nname] = r
    return rates


def _weight_neuron_pairs(model: nn.Module) -> list[tuple[nn.Module, tuple[str, nn.Module]]]:
    from ..models.tree import walk
    from ..neurons.base import is_neuron

    out, pending = [], None
    for name, mod in walk(model):
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            pending = mod
        elif is_neuron(mod) and pending is not None:
            out.append((pending, (name, mod)))
            pending = None
    return out


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    opt: torch.optim.Optimizer,
    cfg: TargetTrainConfig,
    gen: torch.Generator,
    bounds: tuple[float | None, float | None] | None = None,
) -> tuple[float, float]:
    model.train()
    order = torch.randperm(x.shape[1], generator=gen)
    loss_sum = correct = 0.0
    neurons = [(n, m) for _, (n, m) in _weight_neuron_pairs(model)] if bounds and cfg.membrane_weight else []
    seen: dict[str, tuple[Tensor, Tensor]] = {}
    hooks = [
        m.register_forward_hook(lambda mod, a, o, n=n: seen.__setitem__(n, (a[0], o))) for n, m in neurons
    ]
    try:
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            out = model(x[:, idx])
            loss = rate_loss(out, y[idx], cfg.rate_scale)
            if neurons:
                pen = sum(membrane_penalty(*seen[n], m, bounds) for n, m in neurons) / len(neurons)
                loss = loss + cfg.membrane_weight * pen
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += spike_accuracy(out.detach(), y[idx]) * len(idx)
    finally:
        for h in hooks:
            h.remove()
    return loss_sum / len(order), correct / len(order)


@torch.no_grad()
def evaluate_spikes(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 256) -> dict[str, Any]:
    """Accuracy (output spike counts) and per-layer firing rates of ``model`` on ``x``, eval mode."""
    model.eval()
    correct, sums, counts = 0.0, {}, {}
    with record_neurons(model) as (spikes, _):
        for i in range(0, x.shape[1], batch_size):
            out = model(x[:, i : i + batch_size])
            correct += spike_accuracy(out, y[i : i + batch_size]) * out.shape[1]
            for k, v in spikes.items():
                sums[k] = sums.get(k, 0.0) + float(v.float().sum())
                counts[k] = counts.get(k, 0) + v.numel()
    rates = {k: sums[k] / counts[k] for k in sums}
    return {
        "acc": correct / x.shape[1],
        "firing_rate": rates,
        "mean_firing_rate": sum(sums.values()) / max(sum(counts.values()), 1),
    }


def train_for_target(
    target: str,
    dataset: str | None = None,
    *,
    model: str | None = None,
    neuron: str | None = None,
    neuron_kwargs: dict[str, Any] | None = None,
    width: float | None = None,
    depth: int | None = None,
    T: int | None = None,
    classes: int | None = None,
    input_scale: float | None = None,
    limit: int | None = None,
    cfg: TargetTrainConfig | None = None,
    out_dir: str | Path | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TargetTrainResult:
    """Train the recipe's network for ``target`` on ``dataset`` (module docstring).

    Args:
        target: a hardware target name or alias (``loihi2``, ``xylo``, ``speck``, ``spinnaker2``, ...).
        dataset: ``digits`` or ``mnist1d`` (default: the recipe's first).
        model, neuron, neuron_kwargs, width, depth, T, classes, input_scale: overrides of the recipe's
            defaults; a neuron that is not the recipe's trains without the chip grid (its deployed form needs
            ``snndeploy deploy``); ``input_scale`` 1 trains on the dataset's own values (a chip taking events
            then needs ``deploy``, which scales the first layer).
        limit: use only the first ``limit`` samples of each split.
        cfg: hyper-parameters; out_dir: where ``checkpoint.pt`` and ``metrics.jsonl`` go (``None``: nothing).
        on_epoch: called with each epoch's record.
    """
    cfg = cfg or TargetTrainConfig()
    recipe = get_recipe(target)
    dataset = dataset or next(iter(recipe.datasets))
    defaults = recipe.dataset_defaults(dataset)
    data = target_data(
        dataset,
        T=T or defaults["T"],
        classes=classes or defaults["classes"],
        input_scale=defaults["input_scale"] if input_scale is None else input_scale,
        limit=limit,
    )
    _seed(cfg.seed)
    net, config = build_target_model(
        recipe, data, model=model, neuron=neuron, neuron_kwargs=neuron_kwargs, width=width, depth=depth
    )
    x_train, y_train = data.split("train")
    x_test, y_test = data.split("test")
    calib = x_train[:, : cfg.calibration_samples]
    init_rates = rate_init(net, x_train[:, :256])
    chosen = recipe.choice(config.neuron)  # a neuron the chip runs (the recipe's first, or --neuron)
    legal = chosen is not None
    quant = ChipQuantizer(recipe, net, calib) if cfg.qat and legal else None
    lr = cfg.lr if cfg.lr is not None else defaults.get("lr", 3e-3)
    epochs = cfg.epochs if cfg.epochs is not None else defaults.get("epochs", 20)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    out = Path(out_dir) if out_dir is not None else None
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            bounds = chosen.membrane_bounds if chosen is not None else None  # a stand-in neuron's bounds
            loss, acc = _epoch(net, x_train, y_train, opt, cfg, gen, bounds)
            sched.step()
            ev = evaluate_spikes(net, x_test, y_test)
            rec = {
                "epoch": epoch,
                "epochs": epochs,
                "lr": opt.param_groups[0]["lr"],
                "train_loss": loss,
                "train_acc": acc,
                "test_acc": ev["acc"],
                "firing_rate": ev["firing_rate"],
                "mean_firing_rate": ev["mean_firing_rate"],
                "qat": quant is not None,
                "time_s": time.perf_counter() - t0,
            }
            history.append(rec)
            if on_epoch is not None:
                on_epoch(rec)
        if quant is not None:
            quant.snap()
    finally:
        if quant is not None:
            quant.remove()
    net.eval()
    config = _with_layer_params(net, config)
    net.snndeploy_config = config
    result = TargetTrainResult(net, config, recipe, data, history, calibration_x=calib, init_rates=init_rates)
    if out is not None:
        result.metrics = out / "metrics.jsonl"
        with atomic_write(result.metrics) as fh:
            fh.writelines(json.dumps(r) + "\n" for r in history)
        train_config = {
            **cfg.to_dict(),
            "lr": lr,
            "epochs": epochs,
            "dataset": data.dataset,
            "time_steps": data.bundle.time_steps,
            "encoding": data.bundle.encoding,
            "data_dir": None,
            "target": recipe.target,
            "classes": data.classes,
            "input_scale": data.input_scale,
            "input_convention": quant.input_record if quant is not None else None,
        }
        last = {k: v for k, v in history[-1].items() if not isinstance(v, dict)} if history else {}
        result.checkpoint = save_checkpoint(
            out / "checkpoint.pt",
            model=net,
            config=config,
            epoch=len(history) - 1,
            train_config=train_config,
            metrics=last,
        )
    return result
