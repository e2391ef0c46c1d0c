"""Surrogate gradients: exact Heaviside forward, backward equal to the derivative of a smooth primitive, unit
area."""

from __future__ import annotations

import math

import pytest
import torch

from snndeploy.errors import InvalidParameterError, UnknownNameError
from snndeploy.neurons import ATan, Rectangle, Sigmoid, Triangle, get_surrogate
from snndeploy.neurons.surrogate import SURROGATES, heaviside


def _rect_primitive(z: torch.Tensor, a: float) -> torch.Tensor:
    return torch.clamp(z / a + 0.5, 0.0, 1.0)


def _sigmoid_primitive(z: torch.Tensor, a: float) -> torch.Tensor:
    return torch.sigmoid(a * z)


def _atan_primitive(z: torch.Tensor, a: float) -> torch.Tensor:
    return torch.atan(math.pi / 2 * a * z) / math.pi + 0.5


def _triangle_primitive(z: torch.Tensor, a: float) -> torch.Tensor:
    # ∫ max(0, 1 − |z|/α)/α: 1/2 + z/α − sign(z)·z²/(2α²) on |z| ≤ α, clamped to 0 / 1 outside.
    zc = torch.clamp(z, -a, a)
    return 0.5 + zc / a - torch.sign(zc) * zc**2 / (2 * a * a)


#: surrogate class → (smooth primitive whose derivative is the surrogate, kinks to avoid in the grid)
PRIMITIVES = {
    Rectangle: (_rect_primitive, lambda a: [-a / 2, a / 2]),
    Sigmoid: (_sigmoid_primitive, lambda a: []),
    ATan: (_atan_primitive, lambda a: []),
    Triangle: (_triangle_primitive, lambda a: [-a, 0.0, a]),
}
ALPHAS = [0.5, 1.0, 2.0, 4.0]


def test_every_registered_surrogate_is_covered():
    assert set(SURROGATES.values()) == set(PRIMITIVES)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("cls", list(PRIMITIVES), ids=lambda c: c.__name__)
def test_surrogate_grad_is_derivative_of_smooth_primitive(cls, alpha):
    primitive, kinks = PRIMITIVES[cls]
    z = torch.linspace(-3 * alpha, 3 * alpha, 2001, dtype=torch.float64)
    for k in kinks(alpha):  # autograd at a kink picks one side: stay away from it
        z = z[(z - k).abs() > 1e-6]
    z = z.requires_grad_()
    (expected,) = torch.autograd.grad(primitive(z, alpha).sum(), [z])
    got = cls(alpha=alpha).grad(z.detach())
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("cls", list(PRIMITIVES), ids=lambda c: c.__name__)
def test_surrogate_integrates_to_one(cls, alpha):
    # Dense grid near 0, wide range for ATan's heavy 1/z² tails (its mass beyond |z| = L is ≈ 4/(π²·α·L)).
    L = 1e5
    z = torch.cat(
        [
            -torch.logspace(-6, math.log10(L), 200001, dtype=torch.float64).flip(0),
            torch.zeros(1, dtype=torch.float64),
            torch.logspace(-6, math.log10(L), 200001, dtype=torch.float64),
        ]
    )
    area = torch.trapezoid(cls(alpha=alpha).grad(z), z)
    assert abs(float(area) - 1.0) < 1e-3


@pytest.mark.parametrize("cls", list(PRIMITIVES), ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_spike_forward_is_exact_heaviside_backward_is_grad(cls, dtype):
    sg = cls()
    z = torch.tensor([-1.0, -1e-3, 0.0, -0.0, 1e-3, 2.0], dtype=dtype, requires_grad=True)
    s = sg(z)
    assert s.dtype == dtype
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]  # Θ(0) = 1 (also for −0)
    g = torch.randn(z.shape).to(dtype)
    s.backward(g)
    torch.testing.assert_close(z.grad, g * sg.grad(z.detach()))
    assert torch.equal(heaviside(z.detach()), s.detach())


def test_defaults_match_issue():
    assert Rectangle().alpha == 1.0 and Sigmoid().alpha == 4.0
    z = torch.tensor([0.5, -0.5, 0.50001])
    assert Rectangle().grad(z).tolist() == [1.0, 1.0, 0.0]  # 1/α on |z| ≤ α/2, boundary included


def test_get_surrogate_parses_names_and_instances():
    assert get_surrogate("sigmoid:2.5", Rectangle) == Sigmoid(2.5)
    assert get_surrogate("ATan", Rectangle) == ATan()
    assert get_surrogate(None, Triangle) == Triangle()
    inst = Triangle(0.3)
    assert get_surrogate(inst, Sigmoid) is inst


@pytest.mark.parametrize("spec", ["relu", "sigmoid2", "", "gauss:1"])
def test_unknown_surrogate_name(spec):
    with pytest.raises(UnknownNameError, match="surrogate"):
        get_surrogate(spec, Sigmoid)


@pytest.mark.parametrize("spec", ["sigmoid:abc", "sigmoid:0", "sigmoid:-1", "atan:nan", 3.0])
def test_bad_surrogate_alpha(spec):
    with pytest.raises(InvalidParameterError, match="alpha|surrogate"):
        get_surrogate(spec, Sigmoid)


@pytest.mark.parametrize("alpha", [0.0, -1.0, math.inf, math.nan])
@pytest.mark.parametrize("cls", list(PRIMITIVES), ids=lambda c: c.__name__)
def test_bad_alpha_in_constructor(cls, alpha):
    with pytest.raises(InvalidParameterError, match="alpha"):
        cls(alpha=alpha)


@pytest.mark.parametrize("alpha", [0.3, 1.0, 4.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("cls", list(PRIMITIVES), ids=lambda c: c.__name__)
def test_in_place_grad_is_bit_identical(cls, dtype, alpha):
    """``grad_`` (used by the BPTT backwards on their scratch buffers) equals ``grad`` bit for bit."""
    z = (torch.randn(4097) * 2).to(dtype)
    z[:3] = torch.tensor([0.0, alpha / 2, -alpha])
    expected = cls(alpha=alpha).grad(z)
    buf = z.clone()
    out = cls(alpha=alpha).grad_(buf)
    assert out.data_ptr() == buf.data_ptr()
    assert torch.equal(out, expected)
