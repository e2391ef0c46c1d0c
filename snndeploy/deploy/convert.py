"""``snndeploy deploy CKPT --target T``: a trained model (CLIF/KLIF/ILIF/LIF, BatchNorm, average pooling) to a
target-legal, quantised model, with its accuracy at every stage.

``deploy_model(model, recipe, data)`` runs, each step measured on the test split (accuracy = argmax of the
output summed over T; spike agreement = identical neuron-steps against the source model over the neuron layers
both have, ``verify.compare``):

1. **refuse** up front what the target cannot hold (``recipes.check_request``: sizes, classes, inputs,
   convolutions), with the limit and a fix;
2. **fold** (``exporters.fold.fold``, calibrated on training samples): BatchNorm into the weights, each neuron
   into LIF form (``FoldedLIF``);
3. **rewrite** (``rewrite.py``) into what the chip runs, each rewrite stating whether it is exact;
4. **fine-tune** with quantisation in the loop (``qat.ChipQuantizer``), distilling the source model:

       L = CE-or-MSE(output) + w_s·(1/L) Σ_ℓ MSE(S^ℓ, S^ℓ_source) + w_m·(membrane bounds, ``train_target``)

   output term: with output neurons, CE(κ·rate, y) + KL(softmax(teacher mean logits) ‖ softmax(κ·rate));
   with a host readout, MSE(mean_t y, mean_t y_source) + w_ce·CE(mean_t y, y). The epoch kept is the one with
   the best accuracy on held-out training samples (epoch 0, before fine-tuning, included);
5. **quantise**: the weights snapped onto the chip grid (a fixed point of the chip's ``map_model``), the
  integer
   chip model and the vendor's simulator (``target_check.check_on_target``), ``hw-check``;
6. **energy** of the deployed model on the test inputs, priced under the target's profile where one is sourced
   (``snndeploy.energy``), else under the generic 45 nm int8 profile (said in the report).

Baseline (``baseline=True``): the CLIF authors' hard-reset deployment — every neuron replaced by LIF with a
hard reset to 0 and the same weights, no calibration, no fine-tune — evaluated as a float model and, on
targets that reset to 0 (Loihi 2), through the same rewrites and the integer chip model.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from exporters.fold import fold
from exporters.lifspec import FoldedLIF, LIFSpec

from ..checkpoint import load
from ..data import default_dataset
from ..data.view import TargetData, target_data
from ..errors import InvalidParameterError
from ..models.tree import get_module, neuron_paths
from ..verify.compare import compare_spikes
from .qat import ChipQuantizer
from .recipes import TargetRecipe, check_request, get_recipe
from .rewrite import Rewrite, rewrite_for_target
from .target_check import TargetCheck, check_on_target
from .train_target import evaluate_spikes, membrane_penalty, request_of

__all__ = [
    "DeployConfig",
    "Stage",
    "DeployResult",
    "deploy_model",
    "deploy_checkpoint",
    "hard_reset_baseline",
    "target_energy",
    "stage_of",
]


@dataclass(frozen=True)
class DeployConfig:
    """Knobs of ``deploy_model`` (module docstring)."""

    finetune_epochs: int | None = None  # None: the recipe's (TargetRecipe.finetune), else 16
    finetune_samples: int = 1024
    holdout: float = 0.2
    lr: float | None = None  # None: the recipe's, else 3e-3
    batch_size: int = 64
    spike_weight: float = 1.0
    ce_weight: float = 0.5
    membrane_weight: float = 1.0
    rate_scale: float = 8.0
    calibration_samples: int = 256
    test_samples: int | None = None
    vendor_samples: int = 16
    vendor: bool = True
    baseline: bool = True
    energy: bool = True
    energy_samples: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.finetune_epochs is not None and (
            isinstance(self.finetune_epochs, bool)
            or not isinstance(self.finetune_epochs, int)
            or self.finetune_epochs < 0
        ):
            raise InvalidParameterError(f"finetune_epochs must be an int >= 0, got {self.finetune_epochs!r}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and 0 < self.lr < float("inf")):
            raise InvalidParameterError(f"lr must be a number > 0, got {self.lr!r}")
        if not 0.0 < self.holdout < 1.0:
            raise InvalidParameterError(f"holdout must lie in (0, 1), got {self.holdout!r}")
        for name in ("finetune_samples", "batch_size", "calibration_samples", "vendor_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{name} must be an int >= 1, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def for_recipe(self, recipe: TargetRecipe) -> DeployConfig:
        """This config with the unset fine-tune epochs and learning rate taken from ``recipe.finetune``."""
        epochs = (
            self.finetune_epochs if self.finetune_epochs is not None else recipe.finetune.get("epochs", 16)
        )
        lr = self.lr if self.lr is not None else recipe.finetune.get("lr", 3e-3)
        return dataclasses.replace(self, finetune_epochs=int(epochs), lr=float(lr))


@dataclass
class Stage:
    """One row of ``deploy.json``'s ``stages``."""

    name: str
    accuracy: float | None
    spike_agreement_vs_source: float | None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accuracy": self.accuracy,
            "spike_agreement_vs_source": self.spike_agreement_vs_source,
            "detail": self.detail,
        }


@dataclass
class DeployResult:
    """Everything ``deploy_model`` measured; ``report.write_deploy`` turns it into files."""

    target: str
    recipe: TargetRecipe
    source: dict[str, Any]
    stages: list[Stage] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)
    check: TargetCheck | None = None
    finetune: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None
    energy: dict[str, Any] | None = None
    model: nn.Module | None = field(default=None, repr=False)
    data: TargetData | None = field(default=None, repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    config: DeployConfig = field(default_factory=DeployConfig)

    @property
    def vendor_agreement(self) -> float | None:
        v = None if self.check is None else self.check.vendor
        return None if v is None or not v.ran else v.spike_agreement

    @property
    def passed(self) -> bool:
        """hw-check without errors and the vendor's simulator identical to the integer model (100 %)."""
        return self.check is not None and self.check.hw_check.ok and self.vendor_agreement == 1.0


def stage_of(
    name: str,
    model: nn.Module,
    source: nn.Module,
    x_model: Tensor,
    x_source: Tensor,
    y: Tensor,
    detail: str = "",
) -> Stage:
    """Accuracy of ``model`` on ``x_model`` and its spike agreement with ``source`` on ``x_source``."""
    acc = evaluate_spikes(model, x_model, y)["acc"]
    return Stage(name, acc, spike_agreement(model, source, x_model, x_source), detail)


@torch.no_grad()
def _spikes(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    from ..models.record import neuron_outputs

    spikes, _ = neuron_outputs(model, x)
    return spikes


def spike_agreement(model: nn.Module, source: nn.Module, x_model: Tensor, x_source: Tensor) -> float | None:
    """Identical neuron-steps over the neuron layers at the same paths in both models (``None``: none
    shared)."""
    a, b = _spikes(model, x_model), _spikes(source, x_source)
    return _agreement(a, b)


def _agreement(a: dict[str, Tensor], b: dict[str, Tensor]) -> float | None:
    same = total = 0
    for path in a:
        if path in b and a[path].numel() == b[path].numel():
            cmp = compare_spikes(b[path], a[path].reshape(b[path].shape), layer=path)
            same += cmp.total - cmp.mismatches
            total += cmp.total
    return None if total == 0 else same / total


def hard_reset_baseline(folded: nn.Module) -> nn.Module:
    """The CLIF authors' deployment: every folded neuron → LIF with a hard reset to 0 (same τ, θ, weights)."""
    model = copy.deepcopy(folded).eval()
    for path, mod in list(neuron_paths(model)):
        spec = getattr(mod, "spec", None)
        if not isinstance(spec, LIFSpec):
            raise InvalidParameterError(f"layer {path}: not folded")
        new = LIFSpec(
            spec.tau, spec.decay_input, 0.0, float(spec.v_threshold), "hard", v_reset=0.0, scale=spec.scale
        )
        parent, _, name = path.rpartition(".")
        setattr(get_module(model, parent), name, FoldedLIF(new))
    return model


def _teacher(source: nn.Module, x: Tensor, batch: int = 256) -> tuple[Tensor, dict[str, Tensor]]:
    outs, spikes = [], {}
    for i in range(0, x.shape[1], batch):
        s = _spikes(source, x[:, i : i + batch])
        with torch.no_grad():
            outs.append(source(x[:, i : i + batch]).float().mean(0))
        for k, v in s.items():
            spikes.setdefault(k, []).append(v)
    return torch.cat(outs), {k: torch.cat(v, dim=1) for k, v in spikes.items()}


def _finetune(
    student: nn.Module,
    recipe: TargetRecipe,
    source: nn.Module,
    x_src: Tensor,
    x_in: Tensor,
    y: Tensor,
    calib: Tensor,
    cfg: DeployConfig,
    spiking_out: bool,
) -> tuple[ChipQuantizer, dict[str, Any]]:
    """Distillation with QAT (module docstring); returns the quantiser (still installed, best epoch
    loaded)."""
    n_val = max(1, int(round(x_in.shape[1] * cfg.holdout)))
    tr, va = slice(0, x_in.shape[1] - n_val), slice(x_in.shape[1] - n_val, x_in.shape[1])
    t_logits, t_spikes = _teacher(source, x_src[:, tr])
    if _ends_with_neurons(
        source
    ):  # the teacher's outputs are spike rates: on the student's logit scale κ·rate
        t_logits = cfg.rate_scale * t_logits
    quant = ChipQuantizer(recipe, student, calib)
    paths = [p for p, _ in neuron_paths(student) if p in t_spikes]
    neurons = dict(neuron_paths(student))
    bounds = recipe.membrane_bounds if cfg.membrane_weight else None
    params = [p for m in student.modules() if isinstance(m, (nn.Linear, nn.Conv2d)) for p in m.parameters()]
    for p in student.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.finetune_epochs, 1))
    gen = torch.Generator().manual_seed(cfg.seed)
    _, v_spikes = _teacher(source, x_src[:, va])

    def score() -> tuple[float, float]:
        """(validation accuracy, spike agreement with the source on it): the second breaks ties."""
        acc = evaluate_spikes(student, x_in[:, va], y[va])["acc"]
        return acc, _agreement(_spikes(student, x_in[:, va]), v_spikes) or 0.0

    first = score()
    history = {"val_acc": [first[0]], "val_spike_agreement": [first[1]], "loss": []}
    best = (first, copy.deepcopy(student.state_dict()), 0)
    n = x_in.shape[1] - n_val
    for epoch in range(cfg.finetune_epochs):
        student.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            seen: dict[str, tuple[Tensor, Tensor]] = {}
            hooks = [
                neurons[p].register_forward_hook(
                    lambda m, a, o, p=p, seen=seen: seen.__setitem__(p, (a[0], o))
                )
                for p in neurons
            ]
            try:
                out = student(x_in[:, idx])
            finally:
                for h in hooks:
                    h.remove()
            teacher = t_logits[idx]
            if spiking_out:
                logits = cfg.rate_scale * out.float().mean(0)
                loss = cfg.ce_weight * F.cross_entropy(logits, y[idx]) + F.kl_div(
                    F.log_softmax(logits, -1), F.softmax(teacher, -1), reduction="batchmean"
                )
            else:
                logits = out.float().mean(0)
                loss = F.mse_loss(logits, teacher) + cfg.ce_weight * F.cross_entropy(logits, y[idx])
            if paths and cfg.spike_weight:
                loss = loss + cfg.spike_weight * sum(
                    F.mse_loss(seen[p][1].float(), t_spikes[p][:, idx].float()) for p in paths
                ) / len(paths)
            if bounds is not None:
                mods = [(p, neurons[p]) for p in neurons if _has_penalty(neurons[p])]
                if mods:
                    pen = sum(membrane_penalty(*seen[p], m, bounds) for p, m in mods) / len(mods)
                    loss = loss + cfg.membrane_weight * pen
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        history["loss"].append(total / n)
        sc = score()
        history["val_acc"].append(sc[0])
        history["val_spike_agreement"].append(sc[1])
        if sc > best[0]:
            best = (sc, copy.deepcopy(student.state_dict()), epoch + 1)
    student.load_state_dict(best[1])
    for p in student.parameters():
        p.requires_grad_(False)
    history.update(best_epoch=best[2], best_val_acc=best[0][0], train_samples=n, val_samples=n_val)
    return quant, history


def _has_penalty(mod: nn.Module) -> bool:
    """Whether ``membrane_penalty`` can rebuild the membrane of ``mod`` (a LIF form or a ``CubaLIF``)."""
    from ..hardware.chips.loihi2_map import neuron_coefficients
    from ..neurons import CubaLIF

    if isinstance(mod, CubaLIF):
        return True
    try:
        neuron_coefficients("n", mod)
    except InvalidParameterError:
        return False
    return True


def target_energy(model: nn.Module, recipe: TargetRecipe, x: Tensor, out_dir: Path | None) -> dict[str, Any]:
    """Op counts of ``model`` on ``x`` priced under the target's sourced profile (else the generic 45 nm int8
    profile, said in ``note``); with ``out_dir`` the full report goes to ``out_dir/energy``."""
    from ..energy import build_report, count_ops, get_profile, write_report

    name, sourced = (recipe.energy_profile, True) if recipe.energy_profile else ("cmos45_int8", False)
    profile = get_profile(name)
    counts = count_ops(model, [x[:, i : i + 128] for i in range(0, x.shape[1], 128)])
    note = (
        None
        if sourced
        else (
            f"no per-operation energy of {recipe.target} is published: priced under the "
            "generic 45 nm int8 profile for scale only"
        )
    )
    report = build_report(
        counts,
        [profile],
        {"target": recipe.target, "deployed": True, "note": note},
        {"dataset": "test split", "split": "test", "limit": int(x.shape[1])},
    )
    e = report["energy"][0]
    summary = {
        "profile": name,
        "target_profile": sourced,
        "note": note,
        "complete": e["complete"],
        "per_sample_pj": e["per_sample_pj"],
        "totals": {
            k: report["totals"].get(k)
            for k in ("firing_rate", "spikes", "effective_acs", "effective_macs", "state_updates")
        },
    }
    if out_dir is not None:
        paths = write_report(report, out_dir / "energy")
        summary["report"] = str(paths["markdown"])
    return summary


def _chip_spikes(check: TargetCheck, x: Tensor) -> dict[str, Tensor]:
    """The integer chip model's spikes per neuron layer (model path), realigned to the float time steps."""
    mapping = check.mapping
    if mapping is None:
        return {}
    if check.chip_model == "loihi2":
        import numpy as np

        from ..hardware.chips.loihi2_agree import chip_outputs

        _, spikes = chip_outputs(mapping, mapping.encode(x))
        return {
            n: torch.from_numpy(s.astype(np.float32))
            for n, s in zip(mapping.neuron_names, spikes, strict=True)
        }
    if check.chip_model == "speck":
        run = mapping.network.run(mapping.encode(x))
        return {
            rec.neuron: torch.from_numpy(s).float() for rec, s in zip(mapping.layers, run.spikes, strict=True)
        }
    if check.chip_model == "xylo":
        run = mapping.network.run(mapping.encode(x))
        return {k: torch.from_numpy(v).float() for k, v in mapping.align(run).items()}
    return {}


def deploy_model(
    model: nn.Module,
    recipe: TargetRecipe,
    data: TargetData,
    *,
    cfg: DeployConfig | None = None,
    out_dir: str | Path | None = None,
    on_step: Callable[[str], None] | None = None,
    source_name: str = "model",
    source_input_scale: float = 1.0,
) -> DeployResult:
    """Deploy ``model`` (a trained snndeploy model) to ``recipe``'s target (module docstring). ``data``'s
    ``input_scale`` is what the chip's inputs are the dataset's values multiplied by; ``source_input_scale``
    the same for the source model (1: it takes the dataset's values; a model trained with ``train --target
    speck`` took events, × 16)."""
    cfg = (cfg or DeployConfig()).for_recipe(recipe)
    step = on_step or (lambda _s: None)
    out = Path(out_dir) if out_dir is not None else None
    torch.manual_seed(cfg.seed)
    source = copy.deepcopy(model).eval()
    scale = data.input_scale / source_input_scale  # chip input = source input × scale
    x_train, y_train = data.split("train", cfg.finetune_samples)
    x_test, y_test = data.split("test", cfg.test_samples)
    xs_train, xs_test = x_train / scale, x_test / scale  # the source's units
    calib_src = xs_train[:, : cfg.calibration_samples]
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    step("refuse")
    config = getattr(model, "snndeploy_config", None)
    req = (
        request_of(source, config, recipe, xs_train[:, :2], readout_neurons=_ends_with_neurons(source))
        if config is not None
        else None
    )
    if req is not None:
        check_request(recipe, dataclasses.replace(req, model=""))  # any builder: the rewrites make it legal
    result = DeployResult(recipe.target, recipe, {"name": source_name}, data=data, config=cfg)
    result.stages.append(
        stage_of(
            "source",
            source,
            source,
            xs_test,
            xs_test,
            y_test,
            f"{getattr(config, 'neuron', '?')} float model",
        )
    )
    result.source.update(
        accuracy=result.stages[0].accuracy, model_config=config.to_dict() if config is not None else None
    )
    step("fold")
    folded, report = fold(source, calib_src)
    result.stages.append(
        stage_of(
            "fold",
            folded,
            source,
            xs_test,
            xs_test,
            y_test,
            "BatchNorm into the weights, neurons in LIF form (calibrated)",
        )
    )
    result.source["fold_rules"] = [e.rule for e in report.layers]
    times["fold"] = time.perf_counter() - t0
    step("rewrite")
    student, result.rewrites = rewrite_for_target(folded, recipe, calib_src, input_scale=scale)
    result.stages.append(
        stage_of(
            "rewrite",
            student,
            source,
            x_test,
            xs_test,
            y_test,
            f"{sum(not r.exact for r in result.rewrites)} approximate rewrite(s)",
        )
    )
    if cfg.baseline:
        result.baseline = _baseline(
            folded, recipe, source, x_train, xs_train, x_test, xs_test, y_test, scale, cfg
        )
    step("fine-tune")
    t1 = time.perf_counter()
    spiking_out = _ends_with_neurons(student)
    quant, result.finetune = _finetune(
        student, recipe, source, xs_train, x_train, y_train, x_train, cfg, spiking_out
    )
    try:
        result.stages.append(
            stage_of(
                "fine-tune",
                student,
                source,
                x_test,
                xs_test,
                y_test,
                f"distillation with the chip grid in the loop, {cfg.finetune_epochs} "
                f"epoch(s), best epoch {result.finetune['best_epoch']}",
            )
        )
        quant.snap()
    finally:
        quant.remove()
    times["finetune"] = time.perf_counter() - t1
    result.stages.append(
        stage_of(
            "quantised",
            student,
            source,
            x_test,
            xs_test,
            y_test,
            "float model with the chip's integer weights (snapped to the grid)",
        )
    )
    step("chip")
    result.check = check_on_target(
        student, recipe, x_train, x_test, y_test, vendor=cfg.vendor, vendor_samples=cfg.vendor_samples
    )
    if result.check.chip_model is not None and result.check.chip_accuracy is not None:
        chip = _agreement(_chip_spikes(result.check, x_test), _spikes(source, xs_test))
        result.stages.append(
            Stage(
                "integer", result.check.chip_accuracy, chip, f"{result.check.chip_model} integer chip model"
            )
        )
    elif result.check.chip_accuracy is not None:
        result.stages.append(
            Stage(
                "integer",
                result.check.chip_accuracy,
                None,
                "no integer chip model: the float quantiser (int8 per population)",
            )
        )
    if cfg.energy:
        step("energy")
        result.energy = target_energy(student, recipe, x_test[:, : cfg.energy_samples], out)
    result.model, result.timings = student, times | {"total": time.perf_counter() - t0}
    return result


def _ends_with_neurons(model: nn.Sequential) -> bool:
    from ..neurons.base import is_neuron

    return is_neuron(list(model.children())[-1])


def _baseline(
    folded: nn.Module,
    recipe: TargetRecipe,
    source: nn.Module,
    x_train: Tensor,
    xs_train: Tensor,
    x_test: Tensor,
    xs_test: Tensor,
    y: Tensor,
    scale: float,
    cfg: DeployConfig,
) -> dict[str, Any]:
    """The CLIF authors' hard-reset deployment (module docstring)."""
    hard = hard_reset_baseline(folded)
    out: dict[str, Any] = {
        "name": "hard-reset LIF (CLIF authors' deployment)",
        "float_accuracy": evaluate_spikes(hard, xs_test, y)["acc"],
        "spike_agreement_vs_source": spike_agreement(hard, source, xs_test, xs_test),
    }
    if recipe.reset != "zero":
        out["chip_accuracy"] = None
        out["reason"] = (
            f"{recipe.target} resets by subtraction only: a reset to 0 has no chip form here "
            "(float model only)"
        )
        return out
    # as the authors deploy: weights and biases as trained, mapped directly (no bias removal, no fine-tune)
    keep = dataclasses.replace(recipe, bias_on_chip=True)
    legal, _ = rewrite_for_target(hard, keep, xs_train[:, : cfg.calibration_samples], input_scale=scale)
    quant = ChipQuantizer(recipe, legal, x_train)
    try:
        quant.snap()
    finally:
        quant.remove()
    chk = check_on_target(legal, recipe, x_train, x_test, y, vendor=False)
    out["chip_accuracy"] = chk.chip_accuracy
    out["hw_check_errors"] = len(chk.hw_check.errors)
    return out


def deploy_checkpoint(
    checkpoint: str | Path,
    target: str,
    out_dir: str | Path | None = None,
    *,
    data: str | None = None,
    T: int | None = None,
    cfg: DeployConfig | None = None,
    limit: int | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DeployResult:
    """``deploy_model`` of a checkpoint on its dataset (``data``: default the checkpoint's embedded
    dataset)."""
    from ..checkpoint import read_checkpoint

    recipe = get_recipe(target)
    model, config = load(checkpoint)
    train_config = read_checkpoint(checkpoint).get("train_config") or {}
    name = data or train_config.get("dataset") or default_dataset(config.input_shape)
    if name is None:
        raise InvalidParameterError(
            f"{checkpoint}: no dataset fits input_shape {config.input_shape}; pass --data"
        )
    defaults = recipe.datasets.get(name, {})
    # the recipe's T where it has one (digits: the image is fed every step, T is free; the source is measured
    # at the same T), else the checkpoint's
    steps = T or defaults.get("T") or train_config.get("time_steps")
    td = target_data(
        name, T=steps, classes=config.num_classes, input_scale=defaults.get("input_scale", 1.0), limit=limit
    )
    src_scale = float(train_config.get("input_scale", 1.0))
    return deploy_model(
        model,
        recipe,
        td,
        cfg=cfg,
        out_dir=out_dir,
        on_step=on_step,
        source_name=str(checkpoint),
        source_input_scale=src_scale,
    )
