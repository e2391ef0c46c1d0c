"""LIFSpec: the Euler discretisation round trip, the ≥ → > threshold rule, and bit-exact equality with LIF."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.lifspec import FoldedLIF, LIFSpec, from_euler, nir_threshold, spec_seq, to_euler
from snndeploy.errors import ExportError
from snndeploy.neurons import LIF
from snndeploy.neurons.lif import lif_seq


@settings(max_examples=60, deadline=None)
@given(
    tau=st.floats(1.05, 50.0),
    decay_input=st.booleans(),
    v_rest=st.floats(-1.0, 0.5),
    scale=st.floats(0.2, 1.0),
    dt=st.sampled_from([1e-4, 1e-3, 1.0]),
)
def test_euler_round_trip_recovers_the_discrete_coefficients(tau, decay_input, v_rest, scale, dt):
    spec = LIFSpec(tau, decay_input, v_rest, 1.0, "hard", v_reset=-1.0, scale=scale)
    e = to_euler(spec, dt)
    a, b, c = from_euler(e.tau, e.r, e.v_leak, dt)
    np.testing.assert_allclose([a, b, c], [spec.decay, spec.input_gain, spec.leak], rtol=1e-9, atol=1e-12)


def test_euler_values_for_plain_lif_match_the_textbook_mapping():
    e = to_euler(LIFSpec(2.0, False, 0.0, 1.0), dt=1e-3)  # tau_nir = τ·dt, r = τ
    assert e.tau == pytest.approx(2e-3) and e.r == pytest.approx(2.0) and e.v_leak == 0.0
    e = to_euler(LIFSpec(4.0, True, -0.5, 1.0, v_reset=-0.5), dt=1e-3)  # r = 1, v_leak = V_rest
    assert e.tau == pytest.approx(4e-3) and e.r == pytest.approx(1.0) and e.v_leak == pytest.approx(-0.5)


@pytest.mark.parametrize("theta", [1.0, 0.7, 0.3, 1e-3, 123.456])
def test_nir_threshold_turns_ge_into_gt_for_float32(theta):
    t32 = np.float32(theta)
    vals = np.array(
        [np.nextafter(t32, np.float32(-np.inf)), t32, np.nextafter(t32, np.float32(np.inf))], dtype=np.float32
    )
    ours = (torch.from_numpy(vals) - theta) >= 0  # how snndeploy.neurons fire (θ cast to float32)
    nir_rule = vals > nir_threshold(theta)
    assert ours.tolist() == nir_rule.tolist() == [False, True, True]


@pytest.mark.parametrize("v_reset", [None, 0.0, -0.3])
@pytest.mark.parametrize("decay_input", [False, True])
def test_spec_of_lif_reproduces_its_spikes_bit_for_bit(v_reset, decay_input):
    from exporters.fold.rules import fold_lif

    lif = LIF(tau=3.0, v_threshold=0.7, v_reset=v_reset, decay_input=decay_input)
    spec_module, _ = fold_lif(lif, "l", None)
    x = torch.randn(30, 64, 17) * (2.0 if decay_input else 0.8) + 0.3
    s_ref, v_ref = lif_seq(x, lif.params())
    s, v = spec_seq(x, spec_module.spec)
    assert torch.equal(s, s_ref) and torch.equal(v, v_ref.v)
    assert s_ref.sum() > 0


def test_inputs_hitting_the_threshold_exactly_fire():
    lif = LIF(tau=2.0, v_threshold=1.0)  # H = V − V/2 + X: X = 1 from V = 0 gives H = 1.0 exactly
    x = torch.tensor([[1.0], [0.5], [0.75]]).unsqueeze(-1)
    s_ref, _ = lif_seq(x, lif.params())
    spec = LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=1.0)
    assert torch.equal(spec_seq(x, spec)[0], s_ref) and s_ref[0].item() == 1.0


def test_spec_validation_names_the_field():
    with pytest.raises(ExportError, match="decay"):
        LIFSpec(2.0, False, 0.0, 1.0, scale=2.5)  # a = 2.5·0.5 ≥ 1
    with pytest.raises(ExportError, match="reset"):
        LIFSpec(2.0, False, 0.0, 1.0, reset="zero")
    with pytest.raises(ExportError, match="v_threshold"):
        LIFSpec(2.0, False, 0.0, float("nan"))
    with pytest.raises(ExportError, match="dt"):
        to_euler(LIFSpec(2.0, False, 0.0, 1.0), 0.0)


def test_spec_module_has_surrogate_gradient():
    m = FoldedLIF(LIFSpec(2.0, False, 0.0, 1.0, "soft", reset_amount=1.0))
    x = (torch.rand(5, 3, 4) * 2).requires_grad_()
    m(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
