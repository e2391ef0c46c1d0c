"""Per-target training recipes, as data: what ``snndeploy train --target`` builds and what it refuses up
front.

A ``TargetRecipe`` says, for one hardware target (``snndeploy/hardware/targets/*.toml``), which network a chip
runs as it is:

- **neuron**, by registry name (``snndeploy.neurons.NEURONS``), as a preference list: the first registered
  name
  whose keyword arguments its constructor accepts is used. A chip-faithful neuron added later (an IAF for
  Speck, a current-based LIF for Xylo) plugs in by adding its name in front:

  | target | neuron | what the chip runs | exact? |
  |---|---|---|---|
  | Loihi 2 | ``LIF(τ = 2, v_reset = 0)`` | CUBA LIF, du = 4095 (no current), dv = 4096/τ, reset to 0 | yes |
  | SpiNNaker2 | ``LIF(τ = 2)``, soft reset | ``lif_no_delay``, reset by subtraction | (float chip) |
  | Xylo | ``CubaLIF(τ_syn = 2, τ_mem = 2, lsb = 2⁻¹⁰)`` | the same: dash_syn = 1, dash_mem = 1 | yes |
  | Speck | ``IAF(v_min = −θ)``, no spike cap | IAF, floor(v/θ) spikes, subtract θ, v ≥ −θ | yes |

  Fallbacks when those are not registered: ``LIF(τ = 8)`` on Xylo, ``LIF(τ = 1e7)`` on Speck, each with
  the membrane bounds inside which it equals the chip's neuron.

- **reset** and **decay grid**: the decay β = 1 − 1/τ must be exact on the chip's decay register
  (Loihi: dv = 4096/τ an integer; Xylo: τ = 2^dash, 1 ≤ dash ≤ 15; Speck: no leak);
- **layers**: the builder (``chip_mlp``: dense, output neurons, no bias; ``chip_cnn``: conv + sum pooling +
  IAF,
  Speck), pooling, bias policy, output neurons;
- **input encoding** (how the dataset's values become the chip's input events, ``data.py``): ``fixed`` (Loihi:
  8-bit graded events, ``loihi2_encode``), ``xylo`` (≤ 15 events per channel, signed values on two channels,
  ``xylo_encode``), ``events`` (Speck: non-negative integer event counts; digits pixels × 16), ``float``;
- **size limits**, read from the target's TOML (inputs, hidden and output neurons, fan-out, readout classes).

``check_request`` refuses a request the chip cannot take before any training starts, with a
``DeployRequestError`` (exit code 2) naming the limit, the value, the source and a fix (e.g. 10 classes on
Xylo Audio 2's 8 outputs, 64 digits pixels on Xylo's 16 input channels, a τ the decay register cannot hold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameterError, UnknownNameError
from ..hardware.targets import HardwareTarget, get_target
from ..neurons import NEURONS, make_neuron
from ..registry import Registry

__all__ = [
    "DeployRequestError",
    "NeuronChoice",
    "TargetRecipe",
    "RECIPES",
    "get_recipe",
    "check_request",
    "check_tau",
    "TargetRequest",
]


class DeployRequestError(InvalidParameterError):
    """A training or deploy request the target cannot take (exit code 2); the message names the limit, the
    value,
    its source and a fix."""


@dataclass(frozen=True)
class NeuronChoice:
    """One neuron a recipe can use: its registry name, keyword arguments, and what it is on the chip.

    ``membrane_bounds`` (lower, upper, in units of θ, or ``None``): where a stand-in equals the chip's neuron;
    the training loss penalises the membrane for leaving it (``train_target.membrane_penalty``). The chip's
    own
    neuron needs none."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    exact: bool = False
    note: str = ""
    membrane_bounds: tuple[float | None, float | None] | None = None


@dataclass(frozen=True)
class TargetRecipe:
    """What a chip runs as it is (module docstring); the numbers come from the target's TOML."""

    target: str
    neurons: tuple[NeuronChoice, ...]
    reset: str  # "zero" | "subtract"
    decay_grid: str  # "fraction_4096" | "bitshift" | "none" | "float"
    models: tuple[str, ...]  # builders, default first
    pooling: str  # "sum" | "none"
    bias: bool
    output_neurons: bool
    input_encoding: str  # "fixed" | "xylo" | "events" | "float"
    datasets: dict[str, dict[str, Any]]  # per dataset: T, width, depth, classes, input scale
    recurrence: bool
    chip_model: bool  # an integer chip model exists (hardware.chips)
    map_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to the chip's map_model
    #: the chip adds a per-neuron bias every step (deploy keeps folded biases) or not (deploy removes them)
    bias_on_chip: bool = True
    #: a Linear after the last neuron layer may run on the host (deploy keeps it) instead of output neurons
    readout_on_host: bool = False
    #: the sourced per-operation energy profile of the chip (``snndeploy/energy/profiles``), if any
    energy_profile: str | None = None
    #: ``deploy``'s fine-tune defaults where measured for this target (``epochs``, ``lr``; else 16, 3e-3)
    finetune: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def membrane_bounds(self) -> tuple[float | None, float | None] | None:
        """The bounds of the neuron in use (``NeuronChoice.membrane_bounds``)."""
        return self.neuron().membrane_bounds

    @property
    def hardware(self) -> HardwareTarget:
        return get_target(self.target)

    def limit(self, key: str) -> tuple[float, str] | None:
        lim = self.hardware.limit(key)
        return None if lim is None else (lim.value, lim.source)

    def choice(self, name: str) -> NeuronChoice | None:
        """The recipe's entry for neuron ``name`` (a neuron the chip runs as it is), or ``None``."""
        return next((c for c in self.neurons if c.name == name and c.name in NEURONS), None)

    def neuron(self) -> NeuronChoice:
        """The first registered neuron of ``neurons`` whose constructor takes its keyword arguments."""
        tried = []
        for choice in self.neurons:
            if choice.name not in NEURONS:
                tried.append(f"{choice.name} (not registered)")
                continue
            try:
                make_neuron(choice.name, backend="torch", **choice.kwargs)
            except (InvalidParameterError, TypeError) as exc:
                tried.append(f"{choice.name} ({exc})")
                continue
            return choice
        raise UnknownNameError(f"{self.target}: no usable neuron; tried {', '.join(tried)}")

    def dataset_defaults(self, dataset: str) -> dict[str, Any]:
        """T, width, depth, classes, input scale (and lr, epochs) for ``dataset``: the recipe's measured
        settings,
        else generic ones (the target's limits then decide, ``check_request``)."""
        key = dataset.lower().replace("-", "_")
        generic = {"T": None, "width": 0.5, "depth": 2, "classes": None, "input_scale": 1.0}
        return {**generic, **self.datasets.get(key, {})}

    def to_dict(self) -> dict[str, Any]:
        n = self.neuron()
        return {
            "target": self.target,
            "neuron": {"name": n.name, "kwargs": n.kwargs, "exact": n.exact, "note": n.note},
            "reset": self.reset,
            "decay_grid": self.decay_grid,
            "models": list(self.models),
            "pooling": self.pooling,
            "bias": self.bias,
            "output_neurons": self.output_neurons,
            "input_encoding": self.input_encoding,
            "recurrence": self.recurrence,
            "chip_model": self.chip_model,
            "notes": list(self.notes),
        }


RECIPES: Registry[str, TargetRecipe] = Registry("target recipe")

_DIGITS_FIXED = {"T": 8, "width": 0.5, "depth": 2, "classes": 10, "input_scale": 1.0}
_MNIST1D = {"T": 40, "width": 0.5, "depth": 2, "classes": 10, "input_scale": 1.0}

RECIPES.add(
    "loihi2",
    TargetRecipe(
        target="loihi2",
        neurons=(
            NeuronChoice(
                "cubalif",
                {"tau_syn": 1.0, "tau_mem": 2.0, "flavour": "loihi", "lsb": 2.0**-15},
                True,
                "Loihi 2's own neuron (lava CUBA LIF) in chip-integer mode: du = 4095 (alpha = 0, no current "
                "memory), dv = 2048 (beta = 1/2), fire at v > theta, v -> 0; QAT sets each layer's lsb to "
                "the power of two that fits its largest weight on the 8-bit grid (qat.adapt_lsb; stored as "
                "neuron_overrides): float == integer == lava",
            ),
            NeuronChoice(
                "lif",
                {"tau": 2.0, "v_reset": 0.0},
                True,
                "--neuron lif: Loihi 2's CUBA LIF with du = 4095 (no current state), dv = 4096/tau = 2048, "
                "reset to 0: the same H = a·V + X, fire at H >= theta, V = 0 (lava's strict > on an integer "
                "grid placed so that it equals >=); float decays where the chip truncates",
            ),
        ),
        reset="zero",
        decay_grid="fraction_4096",
        models=("chip_mlp",),
        pooling="none",
        bias=False,
        output_neurons=True,
        input_encoding="fixed",
        datasets={"digits": _DIGITS_FIXED, "mnist1d": _MNIST1D},
        recurrence=False,
        chip_model=True,
        readout_on_host=True,
        energy_profile="loihi",
        bias_on_chip=False,
        notes=(
            "one step of delay per Dense on chip: realigned exactly by the comparison",
            "a bias acts from chip step 0, l + 1 steps before layer l's first input arrives (measured: the "
            "pre-charge moves spikes at t = 0); deploy removes folded biases and the fine-tune re-learns",
        ),
    ),
)
RECIPES.add(
    "spinnaker2",
    TargetRecipe(
        target="spinnaker2",
        neurons=(
            NeuronChoice(
                "lif",
                {"tau": 2.0},
                True,
                "SpiNNaker2's lif_no_delay with reset_by_subtraction (float parameters)",
            ),
        ),
        reset="subtract",
        decay_grid="float",
        models=("chip_mlp",),
        pooling="none",
        bias=False,
        output_neurons=True,
        input_encoding="float",
        datasets={"digits": _DIGITS_FIXED, "mnist1d": _MNIST1D},
        recurrence=True,
        chip_model=False,
        readout_on_host=True,
        notes=(
            "no integer chip model or simulator installs here (py-spinnaker2 is not public): weights are "
            "quantised to int8 per population as s2_nir's scale_weights does, nothing is cross-checked",
        ),
    ),
)
_XYLO = dict(
    neurons=(
        NeuronChoice(
            "cubalif",
            {"tau_syn": 2.0, "tau_mem": 2.0, "flavour": "xylo", "lsb": 2.0**-10},
            True,
            "Xylo's own neuron in chip-integer mode (lsb = theta/1024): synaptic current (dash_syn = "
            "1), membrane (dash_mem = 1), subtract theta per spike, up to 31 spikes per hidden "
            "neuron and step, 1 per readout neuron; currents and membranes kept within +-2 theta (int16 "
            "states saturate at 32 theta: saturating per-event sums equal the float sum below that)",
            membrane_bounds=(-2.0, 2.0),
        ),
        NeuronChoice(
            "lif",
            {"tau": 8.0},
            False,
            "fallback: plain LIF (tau = 2**3, soft reset); Xylo adds a synaptic current (dash_syn = "
            "1) and lets hidden neurons fire up to 31 spikes per step",
            membrane_bounds=(None, 2.0),
        ),
    ),
    reset="subtract",
    decay_grid="bitshift",
    models=("chip_mlp",),
    pooling="none",
    bias=False,
    output_neurons=True,
    input_encoding="xylo",
    recurrence=True,
    chip_model=True,
    map_kwargs={"synapse": "charge", "input_mode": "auto"},
    bias_on_chip=False,
    notes=(
        "hidden layers are stacked in the recurrent population, one step of delay each: realigned exactly",
        "a bias acts from chip step 0, k steps before hidden layer k's first input: deploy removes biases",
    ),
)
_XYLO_MNIST1D = {**_MNIST1D, "lr": 5e-3, "epochs": 12}
RECIPES.add(
    "xylo_audio2",
    TargetRecipe(target="xylo_audio2", datasets={"mnist1d": {**_XYLO_MNIST1D, "classes": 8}}, **_XYLO),
)
RECIPES.add("xylo_audio3", TargetRecipe(target="xylo_audio3", datasets={"mnist1d": _XYLO_MNIST1D}, **_XYLO))
RECIPES.add("xylo_imu", TargetRecipe(target="xylo_imu", datasets={"mnist1d": _XYLO_MNIST1D}, **_XYLO))
RECIPES.add(
    "speck",
    TargetRecipe(
        target="speck",
        neurons=(
            NeuronChoice(
                "iaf",
                {"v_min": -1.0},
                True,
                "Speck's own neuron: integrate-and-fire, floor(v/theta) spikes per step, subtract theta "
                "per spike, v >= -theta (sinabs IAFSqueeze, MultiSpike, MembraneSubtract)",
            ),
            NeuronChoice(
                "lif",
                {"tau": 1e7},
                False,
                "fallback: LIF with tau = 1e7 (leak 1e-7 per step, dropped) and soft reset by theta; the "
                "chip fires floor(v/theta) spikes per step and clips v at -theta",
                membrane_bounds=(-1.0, 2.0),
            ),
        ),
        reset="subtract",
        decay_grid="none",
        models=("chip_cnn",),
        pooling="sum",
        bias=False,
        output_neurons=True,
        input_encoding="events",
        datasets={"digits": {"T": 8, "width": 0.25, "depth": 2, "classes": 10, "input_scale": 16.0}},
        recurrence=False,
        chip_model=True,
        bias_on_chip=False,
        # measured on the demo CLIF VGG (3 seeds, docs/deploy.md): 16 epochs at 3e-3 → 97.21 % on the chip,
        # 32 at 1e-3 → 98.05 % (the CLIF → IAF rewrite starts the fine-tune at 22–77 %)
        finetune={"epochs": 32, "lr": 1e-3},
        notes=("digits pixels (k/16) are fed as k events per step: Speck takes non-negative integer events",),
    ),
)


def get_recipe(target: str | HardwareTarget) -> TargetRecipe:
    """The recipe of ``target`` (a name or alias of ``snndeploy.hardware.get_target``)."""
    t = get_target(target)
    return RECIPES.get(t.name, where=f"train --target {t.name}")


def check_tau(recipe: TargetRecipe, tau: float, layer: str = "neuron", current: bool = False) -> None:
    """Refuse a τ whose decay β = 1 − 1/τ the target's decay register cannot hold exactly. ``current``: the
    synaptic current's τ, which Loihi 2 holds as du = 4096/τ − 1 (lava's ``ds_offset`` = 1; τ = 1: du = 4095,
    no current memory)."""
    t = recipe.hardware
    if recipe.decay_grid == "fraction_4096" and current:
        du = 4096.0 / tau - 1.0
        if abs(du - round(du)) > 1e-9 or not 0 <= round(du) <= 4095:
            raise DeployRequestError(
                f"{t.name}: {layer} tau = {tau:g} gives du = 4096/tau - 1 = {du:.6g}; limit: an integer in "
                f"0..4095 (12-bit current decay, {t.decay_source}); fix: tau in 1, 2, 4, 8, ..."
            )
    elif recipe.decay_grid == "fraction_4096":
        dv = 4096.0 / tau
        if abs(dv - round(dv)) > 1e-9 or not 0 <= round(dv) <= 4095:
            raise DeployRequestError(
                f"{t.name}: {layer} tau = {tau:g} gives dv = 4096/tau = {dv:.6g}; limit: an integer in "
                f"0..4095 (12-bit decay, {t.decay_source}); fix: tau in 2, 4, 8, 16, ... (dv = 2048, 1024, …)"
            )
    elif recipe.decay_grid == "bitshift":
        dash = math.log2(tau) if tau > 0 else math.nan
        if not (abs(dash - round(dash)) < 1e-9 and 1 <= round(dash) <= t.decay_max):
            raise DeployRequestError(
                f"{t.name}: {layer} tau = {tau:g} is not 2**dash with 1 <= dash <= {t.decay_max:g} (4-bit "
                f"bit-shift decay, {t.decay_source}); fix: tau in 2, 4, 8, ..., 2**{t.decay_max:g}"
            )
    elif recipe.decay_grid == "none" and tau < 1e6:
        raise DeployRequestError(
            f"{t.name}: {layer} tau = {tau:g} steps leaks; {t.name} runs IAF neurons without leak "
            f"({t.decay_source}); limit tau >= 1e6; fix: --neuron-arg tau=1e7 (or the chip's IAF neuron)"
        )


@dataclass(frozen=True)
class TargetRequest:
    """What is asked of a target: the network's sizes per time step (from a model or a recipe)."""

    input_features: int  # values per step entering the first weight layer
    classes: int
    hidden: tuple[int, ...]  # neurons per hidden layer
    input_channels: int | None = None  # chip input channels after the encoding (Xylo signed: 2 per feature)
    convolutional: bool = False
    fan_out: int = 0  # the largest number of targets of one hidden neuron
    model: str = ""


def _limit(recipe: TargetRecipe, key: str, value: float, what: str, fix: str) -> None:
    lim = recipe.limit(key)
    if lim is not None and value > lim[0]:
        raise DeployRequestError(
            f"{recipe.target}: {what} = {value:g} > {lim[0]:g} (limit {key}: {lim[1]}); fix: {fix}"
        )


def _over(recipe: TargetRecipe, hidden: int) -> str:
    lim = recipe.limit("max_hidden_neurons")
    return "" if lim is None or hidden <= lim[0] else f" > {lim[0]:g} (limit max_hidden_neurons: {lim[1]})"


def check_request(recipe: TargetRecipe, req: TargetRequest) -> None:
    """Refuse ``req`` when the target cannot hold it (module docstring): raises ``DeployRequestError``."""
    t = recipe.hardware
    if req.model and req.model not in recipe.models:
        raise DeployRequestError(
            f"{t.name}: model {req.model!r} is not a {t.name} network (allowed: {', '.join(recipe.models)}: "
            f"{'dense layers only' if recipe.models == ('chip_mlp',) else 'conv + sum pooling + IAF'}); "
            f"fix: --model {recipe.models[0]}"
        )
    if req.convolutional and "Conv2d" not in t.allowed_layers:
        raise DeployRequestError(
            f"{t.name}: convolutions are not supported ({t.layers_source}); a conv net would have to be "
            f"unrolled into {sum(req.hidden):,} dense hidden neurons{_over(recipe, sum(req.hidden))}; fix: "
            f"train a dense network with `snndeploy train --target {t.name}`"
        )
    _limit(recipe, "max_output_neurons", req.classes, "output neurons (classes)",
           "train on fewer classes (--classes) or pick a target with more output neurons")
    _limit(recipe, "max_readout_classes", req.classes, "readout classes", "use fewer classes (--classes)")
    channels = req.input_channels if req.input_channels is not None else req.input_features
    _limit(
        recipe,
        "max_input_channels",
        channels,
        "input channels",
        "reduce the input to fewer values per step (e.g. mnist1d: 1 value per step, 2 signed channels)",
    )
    _limit(
        recipe,
        "max_hidden_neurons",
        sum(req.hidden),
        "hidden neurons",
        "a smaller network (--width, --depth); a conv net must be unrolled into dense neurons here",
    )
    if req.hidden:
        _limit(
            recipe,
            "max_input_targets",
            req.hidden[0],
            "neurons of the first hidden layer",
            "make the first hidden layer smaller (--width)",
        )
        _limit(
            recipe,
            "max_output_sources",
            req.hidden[-1],
            "neurons of the last hidden layer",
            "make the last hidden layer smaller (--width)",
        )
    _limit(
        recipe,
        "max_fan_out",
        req.fan_out,
        "the largest fan-out of a hidden neuron",
        "narrower hidden layers (--width): each hidden neuron reaches every neuron of the next layer",
    )
    _limit(recipe, "max_layers", len(req.hidden) + 1, "weight layers (cores)", "use fewer layers (--depth)")
