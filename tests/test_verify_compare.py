"""The shared exact comparison helper: counts, first divergence ordering, NaN parity, bad shapes."""

import pytest
import torch

from snndeploy.errors import InvalidInputError
from snndeploy.verify import compare_spikes


def test_identical_tensors_agree_fully():
    x = (torch.rand(5, 3, 7) > 0.5).float()
    r = compare_spikes(x, x.clone(), "l")
    assert r.identical and r.mismatches == 0 and r.agreement == 1.0 and r.first is None


@pytest.mark.parametrize("shape", [(6, 2), (6, 2, 5), (6, 2, 3, 4)])
def test_first_divergence_is_earliest_time_then_sample_then_neuron(shape):
    a = torch.zeros(shape)
    b = a.clone()
    late = (5, 0) + (0,) * (len(shape) - 2)
    early_hi = (2, 1) + tuple(s - 1 for s in shape[2:])
    early_lo = (2, 1) + (0,) * (len(shape) - 2)
    for pos in (late, early_hi, early_lo):
        b[pos] = 1.0
    margin = torch.arange(a.numel(), dtype=torch.float32).reshape(shape)
    r = compare_spikes(a, b, "fc", margin=margin)
    assert r.mismatches == len({late, early_hi, early_lo})
    assert (r.first.t, r.first.sample) == (2, 1)
    assert r.first.neuron == early_lo[2:]
    assert r.first.margin == float(margin[early_lo])
    assert r.agreement == pytest.approx(1 - r.mismatches / a.numel())


def test_nan_parity():
    a = torch.zeros(3, 2, 4)
    b = a.clone()
    b[1, 0, 2] = float("nan")
    r = compare_spikes(a, b)
    assert r.mismatches == 1 and r.nonfinite_mismatches == 1
    both = a.clone()
    both[0, 0, 0] = float("nan")
    assert compare_spikes(both, both.clone()).identical  # NaN on both sides is parity, not a divergence


def test_shape_mismatch_names_layer():
    with pytest.raises(InvalidInputError, match="conv3"):
        compare_spikes(torch.zeros(2, 2, 3), torch.zeros(2, 2, 4), "conv3")
