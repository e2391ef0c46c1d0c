"""Bad input to the neuron layers: typed errors of snndeploy.errors whose messages name the argument."""

from __future__ import annotations

import math

import pytest
import torch

from snndeploy.errors import InvalidInputError, InvalidParameterError, SnnDeployError, UnknownNameError
from snndeploy.neurons import (
    CLIFParams,
    CubaLIFParams,
    IAFParams,
    ILIFParams,
    KLIFParams,
    LIFParams,
    available_backends,
    get_impl,
    make_neuron,
)
from snndeploy.neurons.engine import Backend

NAMES = ["lif", "clif", "klif", "ilif", "iaf", "cubalif"]
#: The neurons with a ``tau`` parameter (CubaLIF has ``tau_syn``/``tau_mem``: tests/test_neurons_cubalif.py).
TAU_NAMES = ["lif", "clif", "klif", "ilif"]
#: Every engine registered here that runs CPU tensors ("triton" only in its interpreter:
#: tests/test_kernels.py).
ENGINES = [b.value for b in available_backends("lif") if b is not Backend.TRITON]


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(), (7,)])
def test_multi_step_needs_rank_two(name, backend, shape):
    with pytest.raises(InvalidInputError, match=r"x_seq.*rank >= 2.*\[T, B, \*\]"):
        make_neuron(name, backend=backend)(torch.ones(shape))


@pytest.mark.parametrize("name", NAMES)
def test_single_step_needs_rank_one(name):
    with pytest.raises(InvalidInputError, match=r"x_t.*rank >= 1"):
        make_neuron(name, step_mode="s")(torch.tensor(1.0))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("step_mode", ["m", "s"])
@pytest.mark.parametrize("name", NAMES)
def test_non_finite_input_refused(name, step_mode, bad):
    x = torch.zeros(4, 2, 3)
    x[2, 1, 0] = bad
    layer = make_neuron(name, step_mode=step_mode)
    with pytest.raises(InvalidInputError, match=r"x_(seq|t) has 1 non-finite"):
        if step_mode == "m":
            layer(x)
        else:
            for t in range(x.shape[0]):
                layer(x[t])


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.uint8, torch.bool])
@pytest.mark.parametrize("name", NAMES)
def test_integer_input_refused(name, dtype):
    with pytest.raises(
        InvalidInputError, match=r"x_seq must be a floating tensor.*" + str(dtype).split(".")[-1]
    ):
        make_neuron(name)(torch.ones(3, 2, 4, dtype=dtype))


@pytest.mark.parametrize("name", NAMES)
def test_non_tensor_input_refused(name):
    with pytest.raises(InvalidInputError, match="x_seq must be a torch.Tensor"):
        make_neuron(name)([[1.0, 2.0]])


@pytest.mark.parametrize("tau", [1.0, 0.5, 0.0, -2.0, math.nan, math.inf, "2", True, None])
@pytest.mark.parametrize("name", TAU_NAMES)
def test_bad_tau(name, tau):
    with pytest.raises(InvalidParameterError, match=r"\btau\b"):
        make_neuron(name, tau=tau)


@pytest.mark.parametrize("vth", [0.0, -1.0, math.nan, math.inf])
@pytest.mark.parametrize("name", NAMES)
def test_bad_threshold(name, vth):
    with pytest.raises(InvalidParameterError, match="v_threshold"):
        make_neuron(name, v_threshold=vth)


@pytest.mark.parametrize("v_reset", [1.0, 1.5, math.nan])
@pytest.mark.parametrize("name", ["lif", "klif"])
def test_bad_v_reset(name, v_reset):
    with pytest.raises(InvalidParameterError, match="v_reset"):
        make_neuron(name, v_threshold=1.0, v_reset=v_reset)


@pytest.mark.parametrize("gamma", [-0.1, 1.0, math.nan])
def test_bad_inhibition(gamma):
    with pytest.raises(InvalidParameterError, match="inhibition"):
        make_neuron("ilif", inhibition=gamma)


@pytest.mark.parametrize("k_init", [math.nan, math.inf])
def test_bad_klif_k(k_init):
    with pytest.raises(InvalidParameterError, match="k_init"):
        make_neuron("klif", k_init=k_init)


def test_bad_klif_params_k():
    with pytest.raises(InvalidParameterError, match=r"\bk\b"):
        KLIFParams(torch.ones(2))


@pytest.mark.parametrize(
    "make",
    [
        lambda: LIFParams(tau=1.0),
        lambda: CLIFParams(v_threshold=0.0),
        lambda: ILIFParams(tau=0.9),
        lambda: KLIFParams(torch.tensor(1.0), v_reset=2.0),
    ],
)
def test_params_records_validate(make):
    with pytest.raises(InvalidParameterError):
        make()


@pytest.mark.parametrize("name", NAMES)
def test_unknown_surrogate(name):
    with pytest.raises(UnknownNameError, match=r"surrogate 'gauss'.*known: rectangle"):
        make_neuron(name, surrogate="gauss")


@pytest.mark.parametrize("name", NAMES)
def test_unknown_backend(name):
    with pytest.raises(UnknownNameError, match=r"backend 'cuda'.*known: torch, eager, numba, triton, auto"):
        make_neuron(name, backend="cuda")
    with pytest.raises(UnknownNameError, match="backend"):
        get_impl(name, "numpy")


def test_unknown_neuron():
    with pytest.raises(UnknownNameError, match=r"neuron 'alif'.*known: lif, clif, klif, ilif"):
        make_neuron("alif")
    with pytest.raises(UnknownNameError, match="neuron 'alif'"):
        get_impl("alif", "torch")


def test_unknown_keyword_names_it():
    with pytest.raises(InvalidParameterError, match="v_rest"):
        make_neuron("lif", v_rest=0.0)


def test_bad_step_mode():
    with pytest.raises(InvalidParameterError, match="step_mode"):
        make_neuron("lif", step_mode="x")


def test_errors_are_snndeploy_errors_with_builtin_bases():
    """The CLI maps SnnDeployError to exit code 2; plain ``except ValueError/KeyError`` keeps working."""
    assert issubclass(InvalidParameterError, (SnnDeployError, ValueError))
    assert issubclass(InvalidInputError, ValueError) and issubclass(UnknownNameError, KeyError)
    with pytest.raises(ValueError):
        make_neuron("lif", tau=0.5)


def _params(name):
    return {
        "lif": LIFParams(),
        "clif": CLIFParams(),
        "klif": KLIFParams(torch.tensor(1.0)),
        "ilif": ILIFParams(),
        "iaf": IAFParams(),
        "cubalif": CubaLIFParams(),
    }[name]


@pytest.mark.parametrize(
    "name, backend", [(n, b) for n in NAMES for b in ENGINES if Backend(b) in available_backends(n)]
)
def test_functional_seq_checks_rank_dtype_and_state_shape(name, backend):
    seq = get_impl(name, backend)
    p = _params(name)
    with pytest.raises(InvalidInputError, match=r"x_seq must have rank >= 2"):
        seq(torch.ones(5), p)
    with pytest.raises(InvalidInputError, match=r"T >= 1"):
        seq(torch.ones(0, 3), p)
    with pytest.raises(InvalidInputError, match="floating"):
        seq(torch.ones(4, 3, dtype=torch.int64), p)
    _, st = seq(torch.ones(4, 3), p)
    bad = type(st)(*([torch.zeros(2)] + list(st[1:])))
    with pytest.raises(
        InvalidInputError, match=rf"state\.{st._fields[0]} must have the shape of one step \(3,\)"
    ):
        seq(torch.ones(4, 3), p, bad)


def test_module_empty_sequence_is_a_typed_error():
    with pytest.raises(InvalidInputError, match="T >= 1"):
        make_neuron("lif")(torch.ones(0, 2, 3))


def test_check_inputs_modes_for_nonfinite_values():
    from snndeploy.errors import InvalidInputError
    from snndeploy.neurons import LIF

    x = torch.zeros(3, 2, 4)
    x[1, 0, 2] = float("nan")
    with pytest.raises(InvalidInputError, match="non-finite"):
        LIF()(x)
    with pytest.raises(InvalidInputError, match="non-finite"):
        LIF(check_inputs="full")(x)
    assert LIF(check_inputs=False)(x).shape == x.shape  # the caller opted out of every check
