"""The neuron engine interface (``snndeploy/neurons/engine.py``): registration, ``auto`` per device, the
deprecated
``bptt`` name, and the one place optional engines are loaded (``engines.py``)."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch

from snndeploy.errors import UnknownNameError
from snndeploy.models import ModelConfig, build_model
from snndeploy.neurons import (
    NEURONS,
    ILIFState,
    LIFParams,
    LIFState,
    available_backends,
    engines,
    get_impl,
    ilif_seq_bptt,
    lif_seq_bptt,
    make_neuron,
    resolve_backend,
    unavailable,
)
from snndeploy.neurons.engine import ENGINES, Backend, register_impl

HAS_NUMBA = Backend.NUMBA not in unavailable()
CPU_BPTT = "numba" if HAS_NUMBA else "eager"


#: The neurons with a hand-written BPTT (the chip-faithful neurons registered besides them have the reference
#: only).
BPTT_NEURONS = ("lif", "clif", "klif", "ilif")


def test_every_neuron_has_the_reference_engine_and_the_bptt_ones_eager_and_numba():
    for name in NEURONS:
        assert Backend.TORCH in available_backends(name), name
    for name in BPTT_NEURONS:
        have = available_backends(name)
        assert have[:2] == [Backend.TORCH, Backend.EAGER], name
        assert (Backend.NUMBA in have) == HAS_NUMBA


def test_every_engine_has_the_same_signature():
    for (name, backend), seq in ENGINES.items():
        params = list(inspect.signature(seq).parameters)
        assert params == ["x_seq", "params", "state"], (name, backend, params)


@pytest.mark.parametrize(
    "device,expected",
    [
        ("cpu", CPU_BPTT),
        (None, CPU_BPTT),
        ("meta", "eager"),  # any other device: the hand-written BPTT in PyTorch ops
    ],
)
def test_auto_resolves_per_device(device, expected):
    for name in BPTT_NEURONS:
        assert resolve_backend(name, "auto", device).value == expected
    for name in NEURONS:  # a neuron without a hand-written BPTT runs its reference
        if Backend.EAGER not in available_backends(name):
            assert resolve_backend(name, "auto", device) is Backend.TORCH


def test_auto_on_cuda_is_triton_when_registered_else_eager():
    want = "triton" if Backend.TRITON in available_backends("lif") else "eager"
    assert resolve_backend("lif", Backend.AUTO, "cuda").value == want


def test_concrete_backends_resolve_to_themselves():
    for b in (Backend.TORCH, Backend.EAGER, Backend.NUMBA, Backend.TRITON):
        assert resolve_backend("clif", b, "cuda") is b


def test_bptt_is_a_deprecated_alias_resolving_like_before():
    """``bptt`` warns and resolves to what it ran before: the numba loops on CPU tensors, eager elsewhere."""
    with pytest.warns(DeprecationWarning, match="'bptt' is deprecated"):
        assert Backend.parse("bptt") is Backend.BPTT
    with pytest.warns(DeprecationWarning):
        assert resolve_backend("lif", "bptt", "cpu").value == CPU_BPTT
    assert resolve_backend("lif", Backend.BPTT, "cuda") is Backend.EAGER
    assert resolve_backend("lif", Backend.BPTT, "meta") is Backend.EAGER


def test_modules_and_models_still_accept_bptt():
    """Public API (constructors, ``--backend``, stored train configs) may still say ``bptt``: it works, with a
    DeprecationWarning, and gives the same spikes as ``auto``."""
    x = torch.randn(6, 2, 9) + 0.8
    with pytest.warns(DeprecationWarning):
        layer = make_neuron("klif", backend="bptt")
    assert layer.backend is Backend.BPTT
    assert torch.equal(layer(x), make_neuron("klif")(x))
    config = ModelConfig(model="mlp", neuron="lif", input_shape=(9,), num_classes=3)
    torch.manual_seed(1)
    with pytest.warns(DeprecationWarning):
        old = build_model(config, backend="bptt").eval()
    torch.manual_seed(1)
    new = build_model(config, backend="auto").eval()
    with torch.no_grad():
        assert torch.equal(old(x), new(x))


def test_deprecated_seq_functions_warn_and_run_the_bptt_engine():
    x = torch.randn(5, 3, 4) + 0.7
    with pytest.warns(DeprecationWarning, match="lif_seq_bptt is deprecated"):
        s, st = lif_seq_bptt(x, LIFParams())
    ref, ref_st = get_impl("lif", "torch")(x, LIFParams())
    assert isinstance(st, LIFState) and torch.equal(s, ref) and torch.equal(st.v, ref_st.v)
    with pytest.warns(DeprecationWarning):
        _, st = ilif_seq_bptt(x, make_neuron("ilif").params())
    assert isinstance(st, ILIFState)


def test_unknown_and_unregistered_backends_are_typed_errors():
    with pytest.raises(UnknownNameError, match="known: torch, eager, numba, triton, auto"):
        get_impl("lif", "fast")
    with pytest.raises(UnknownNameError, match=r"neuron 'adex' has no '\w+' backend here; available: none"):
        get_impl("adex", "auto")


def test_an_engine_registers_once_and_only_under_a_concrete_name():
    with pytest.raises(RuntimeError, match="already registered"):
        register_impl("lif", Backend.EAGER)(lambda x_seq, params, state=None: None)
    with pytest.raises(ValueError, match="resolves to another backend"):
        register_impl("lif", Backend.AUTO)


def test_no_environment_variable_switches_the_engine(monkeypatch):
    """The old SNNDEPLOY_FUSED_CPU switch is gone: the engine is what was asked for."""
    monkeypatch.setenv("SNNDEPLOY_FUSED_CPU", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert resolve_backend("lif", "auto", "cpu").value == CPU_BPTT


def test_an_import_error_of_snndeploy_itself_is_not_an_unavailable_engine():
    err = ImportError("boom", name="snndeploy.neurons.cpu_loops.lif")
    with pytest.raises(ImportError, match="boom"):
        engines._third_party(err, Backend.NUMBA, "numba")


def test_describe_names_the_engine_auto_picks_per_device():
    rows = dict(engines.describe())
    for device in ("cpu", "cuda"):
        # "numba (lif, clif, klif, ilif); torch (iaf, cubalif)": every neuron once, under the engine it gets
        text = rows[f"backend auto on {device}"].split(" (no CUDA")[0]
        picked = {}
        for group in text.split("; "):
            engine, names = group.split(" (", 1)
            picked.update({n: engine for n in names.rstrip(")").split(", ")})
        assert picked == {n: resolve_backend(n, "auto", device).value for n in NEURONS.keys()}
    assert rows["backend auto on cpu"].startswith(CPU_BPTT + " (lif")
    assert "neuron engines loaded" in rows
    if HAS_NUMBA:
        assert rows["numba loop threads"].split(",")[0] in ("openmp", "pool")
        assert "numba cache" in rows and "numba buffer pool" in rows
