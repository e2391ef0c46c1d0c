"""LIF, CLIF, KLIF and ILIF against an independent straight-line reference, every engine against each other.

The reference below is written from the equations of issue #3 with plain torch ops; it does not import the
library's step functions, dynamics helpers or surrogates. It follows the library's documented conventions:
arithmetic in float32 whatever the input dtype, and the charge written in the fixed operation order of
spikingjelly's reference (``V − (V − V_rest)/τ + X``, equal to the issue's ``βV + X`` when V_rest = 0) so that
rounding, and therefore every spike, is the same (spikes are compared with tolerance 0).
"""

from __future__ import annotations

import math

import pytest
import torch

from snndeploy.neurons import (
    CLIFParams,
    CLIFState,
    ILIFParams,
    ILIFState,
    KLIFParams,
    KLIFState,
    LIFParams,
    LIFState,
    available_backends,
    get_impl,
    get_surrogate,
)
from snndeploy.neurons.engine import Backend

#: The engines registered here that run CPU tensors: the reference "torch", "eager", and "numba" when numba is
#: installed ("triton" runs CPU tensors only in its interpreter: tests/test_kernels.py).
ENGINES = [b.value for b in available_backends("lif") if b is not Backend.TRITON]
#: The hand-written BPTT engines (everything but the reference).
BPTT_ENGINES = [b for b in ENGINES if b != "torch"]

# --------------------------------------------------------------------------- independent reference


def _ref_surrogate_grad(kind: str, alpha: float, z: torch.Tensor) -> torch.Tensor:
    """The surrogate derivatives of the issue, written out again (not imported)."""
    if kind == "rectangle":
        return (z.abs() <= alpha / 2).to(z.dtype) / alpha
    if kind == "sigmoid":
        sg = torch.sigmoid(alpha * z)
        return alpha * sg * (1 - sg)
    if kind == "atan":
        return (alpha / 2) / (1 + (math.pi / 2 * alpha * z) ** 2)
    if kind == "triangle":
        return torch.clamp(1 - z.abs() / alpha, min=0) / alpha
    raise AssertionError(kind)


class _RefSpike(torch.autograd.Function):
    """Θ(z) = 1 if z ≥ 0, with the surrogate derivative in backward."""

    @staticmethod
    def forward(ctx, z, kind, alpha):
        ctx.save_for_backward(z)
        ctx.kind, ctx.alpha = kind, alpha
        return (z >= 0).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * _ref_surrogate_grad(ctx.kind, ctx.alpha, z), None, None


def _charge(v, x, tau, decay_input, v_rest):
    if decay_input:
        return v + (x - (v - v_rest)) / tau  # H = V + (X − (V − V_r))/τ
    return v - (v - v_rest) / tau + x  # H = βV + X (+ V_r/τ for hard reset to V_r ≠ 0)


def ref_lif(x, state, c, sg):
    (v,) = state
    hard = c["v_reset"] is not None
    v_rest = c["v_reset"] if hard else 0.0
    out = []
    for t in range(x.shape[0]):
        h = _charge(v, x[t], c["tau"], c["decay_input"], v_rest)
        s = _RefSpike.apply(h - c["v_threshold"], *sg)
        sr = s.detach() if c["detach_reset"] else s
        v = (1 - sr) * h + sr * c["v_reset"] if hard else h - sr * c["v_threshold"]
        out.append(s)
    return torch.stack(out), (v,)


def ref_clif(x, state, c, sg):
    u, m = state
    tau, th = c["tau"], c["v_threshold"]
    out = []
    for t in range(x.shape[0]):
        u1 = u - (u - 0.0) / tau + x[t]  # u' = βu + x
        m1 = m * torch.sigmoid(u1 / tau)  # m' = m·σ(u'/τ)
        s = _RefSpike.apply(u1 - th, *sg)  # s = Θ(u' − V_th)
        m = m1 + s  # m = m' + s
        sr = s.detach() if c["detach_reset"] else s
        u = u1 - sr * (th + torch.sigmoid(m))  # u = u' − s·(V_th + σ(m))
        out.append(s)
    return torch.stack(out), (u, m)


def ref_klif(x, state, c, sg, k):
    (v,) = state
    out = []
    for t in range(x.shape[0]):
        h = _charge(v, x[t], c["tau"], c["decay_input"], c["v_reset"])
        f = torch.relu(k * h)  # F = ReLU(k·H)
        s = _RefSpike.apply(f - c["v_threshold"], *sg)
        sr = s.detach() if c["detach_reset"] else s
        v = (1 - sr) * f + sr * c["v_reset"]  # V = F(1 − S) + V_r·S
        out.append(s)
    return torch.stack(out), (v,)


def ref_ilif(x, state, c, sg):
    v, m, i, xp, sp = state
    tau, th, gamma = c["tau"], c["v_threshold"], c["inhibition"]
    out = []
    for t in range(x.shape[0]):
        i = gamma * (i + xp * sp)  # I = γ(I + x_prev·s_prev)
        h = v - (v - 0.0) / tau + x[t] - torch.relu(i)  # H = βv + x − max(I, 0)
        s = _RefSpike.apply(h - th, *sg)
        sr = s.detach() if c["detach_reset"] else s
        v1 = h - sr * th  # v' = H − s·V_th
        m = m + s * v1  # m = m + s·v'
        v = v1 - sr * torch.sigmoid(m)  # v = v' − s·σ(m)
        xp, sp = x[t], s
        out.append(s)
    return torch.stack(out), (v, m, i, xp, sp)


# --------------------------------------------------------------------------- cases

#: (id, neuron, parameters, input mean, input std): inputs chosen so that neurons both fire and stay silent.
CASES = [
    ("lif-soft", "lif", dict(tau=2.0, v_threshold=1.0, v_reset=None, decay_input=False), 0.6, 0.8),
    ("lif-soft-decayin", "lif", dict(tau=1.7, v_threshold=0.8, v_reset=None, decay_input=True), 1.0, 1.0),
    ("lif-hard", "lif", dict(tau=2.0, v_threshold=1.0, v_reset=0.0, decay_input=False), 0.6, 0.8),
    ("lif-hard-decayin", "lif", dict(tau=3.0, v_threshold=1.0, v_reset=-0.25, decay_input=True), 1.2, 1.2),
    ("clif", "clif", dict(tau=2.0, v_threshold=1.0), 0.6, 0.8),
    ("klif", "klif", dict(tau=2.0, v_threshold=1.0, v_reset=0.0, decay_input=True), 1.2, 1.2),
    ("klif-nodecay", "klif", dict(tau=1.5, v_threshold=0.7, v_reset=-0.1, decay_input=False), 0.5, 0.8),
    ("ilif", "ilif", dict(tau=1.1, v_threshold=1.0, inhibition=0.03), 0.8, 0.8),
]
CASE_IDS = [c[0] for c in CASES]
SURROGATES = [("rectangle", 1.0), ("sigmoid", 4.0), ("atan", 2.0), ("triangle", 1.5)]
SHAPES = [(1, 3, 5), (7, 3, 5), (17, 3, 5), (5, 2, 3, 4, 5)]
#: dtype → (rtol, atol) for gradients and states; spikes are always compared exactly.
DTYPES = {
    torch.float32: (1e-4, 1e-5),
    torch.float64: (1e-4, 1e-5),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float16: (4e-3, 2e-3),
}
K_VALUE = 1.25  # KLIF's k, away from 1 so that its scaling is exercised
STATE_TYPES = {"lif": LIFState, "clif": CLIFState, "klif": KLIFState, "ilif": ILIFState}
N_STATE = {"lif": 1, "clif": 2, "klif": 1, "ilif": 5}


def lib_params(name, cfg, sg, detach, k=None):
    surrogate = get_surrogate(f"{sg[0]}:{sg[1]}", None)
    if name == "lif":
        return LIFParams(detach_reset=detach, surrogate=surrogate, **cfg)
    if name == "clif":
        return CLIFParams(detach_reset=detach, surrogate=surrogate, **cfg)
    if name == "klif":
        return KLIFParams(k, detach_reset=detach, surrogate=surrogate, **cfg)
    return ILIFParams(detach_reset=detach, surrogate=surrogate, **cfg)


def run_ref(name, x, state, cfg, sg, detach, k=None):
    c = dict(cfg, detach_reset=detach)
    x32 = x.float()
    if name == "lif":
        s, st = ref_lif(x32, state, c, sg)
    elif name == "clif":
        s, st = ref_clif(x32, state, c, sg)
    elif name == "klif":
        s, st = ref_klif(x32, state, c, sg, k.float())
    else:
        s, st = ref_ilif(x32, state, c, sg)
    return s.to(x.dtype), tuple(st)


def make_input(shape, mean, std, dtype):
    return (torch.randn(shape) * std + mean).to(dtype).requires_grad_()


def zero_state(name, shape):
    return tuple(torch.zeros(shape[1:]) for _ in range(N_STATE[name]))


def random_state(name, shape):
    """A random initial state (leaf tensors); ILIF's s_prev is binary like a real spike."""
    st = [torch.randn(shape[1:]) * 0.5 for _ in range(N_STATE[name])]
    if name == "ilif":
        st[4] = (torch.rand(shape[1:]) > 0.5).float()
    if name == "clif":
        st[1] = st[1].abs()  # m ≥ 0 in a real run
    return tuple(t.requires_grad_() for t in st)


def assert_grads_close(a, b, dtype, what):
    rtol, atol = DTYPES[dtype]
    scale = max(1.0, float(b.detach().abs().max())) if b.numel() else 1.0
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol * scale, msg=lambda m: f"{what}: {m}")


def assert_spikes_equal(a, b, what):
    assert a.dtype == b.dtype and a.shape == b.shape, what
    bad = (a != b).nonzero()
    assert bad.numel() == 0, f"{what}: {len(bad)} spikes differ, first at {tuple(bad[0].tolist())}"


# --------------------------------------------------------------------------- reference comparisons


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detach"])
@pytest.mark.parametrize("sg", SURROGATES, ids=[s[0] for s in SURROGATES])
@pytest.mark.parametrize("dtype", list(DTYPES), ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_neuron_backend_matches_reference(case, shape, dtype, sg, detach, backend):
    """Spikes (exact), final state and input gradient of a backend equal the straight-line reference."""
    _, name, cfg, mean, std = case
    x = make_input(shape, mean, std, dtype)
    k = torch.tensor(K_VALUE, requires_grad=True) if name == "klif" else None
    p = lib_params(name, cfg, sg, detach, k)
    g = torch.randn(shape).to(dtype)

    s_ref, st_ref = run_ref(name, x, zero_state(name, shape), cfg, sg, detach, k)
    (gx_ref,) = torch.autograd.grad((s_ref.float() * g.float()).sum(), [x])

    s, st = get_impl(name, backend)(x, p)
    assert isinstance(st, STATE_TYPES[name])
    (gx,) = torch.autograd.grad((s.float() * g.float()).sum(), [x])

    assert_spikes_equal(s, s_ref, f"{name} {backend} spikes")
    if shape[0] >= 7:  # the inputs must exercise both branches, or the comparison proves little
        rate = float(s.detach().float().mean())
        assert 0.02 < rate < 0.98, f"uninformative firing rate {rate}"
    for j, (a, b) in enumerate(zip(st, st_ref, strict=True)):
        assert a.dtype == torch.float32
        torch.testing.assert_close(
            a.detach(), b.detach(), rtol=1e-6, atol=1e-6, msg=lambda m, j=j: f"state {j}: {m}"
        )
    assert gx.dtype == dtype
    assert_grads_close(gx, gx_ref, dtype, f"{name} {backend} input grad")


@pytest.mark.parametrize("sg", SURROGATES, ids=[s[0] for s in SURROGATES])
@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detach"])
@pytest.mark.parametrize("T", [1, 2, 9, 16])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_backends_agree_with_initial_and_final_state(case, T, detach, sg):
    """The reference and every engine agree on spikes, states and the gradients of x, of every initial-state
    tensor passed in, and (KLIF) of k, for a loss that uses the spikes and every final-state tensor."""
    _, name, cfg, mean, std = case
    shape = (T, 4, 6)
    x = make_input(shape, mean, std, torch.float32)
    st0 = random_state(name, shape)
    g = torch.randn(shape)
    w = [torch.randn(shape[1:]) for _ in st0]

    results = {}
    for impl in ("ref", *ENGINES):
        k = torch.tensor(K_VALUE, requires_grad=True) if name == "klif" else None
        if impl == "ref":
            s, st = run_ref(name, x, st0, cfg, sg, detach, k)
        else:
            p = lib_params(name, cfg, sg, detach, k)
            s, st = get_impl(name, impl)(x, p, STATE_TYPES[name](*st0))
        loss = (s * g).sum() + sum((a * b).sum() for a, b in zip(st, w, strict=True))
        leaves = [x, *st0] + ([k] if k is not None else [])
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        results[impl] = (s, [t.detach() for t in st], grads)

    s_ref, st_ref, g_ref = results["ref"]
    for impl in ENGINES:
        s, st, grads = results[impl]
        assert_spikes_equal(s, s_ref, f"{impl} spikes")
        for j, (a, b) in enumerate(zip(st, st_ref, strict=True)):
            torch.testing.assert_close(
                a, b, rtol=1e-6, atol=1e-6, msg=lambda m, j=j, i=impl: f"{i} state {j}: {m}"
            )
        names = ["x"] + [f"state0[{j}]" for j in range(len(st0))] + (["k"] if name == "klif" else [])
        for nm, a, b in zip(names, grads, g_ref, strict=True):
            a = torch.zeros_like(b) if a is None and b is not None else a
            b = torch.zeros_like(a) if b is None and a is not None else b
            if a is not None:
                assert_grads_close(a, b, torch.float32, f"{name} {impl} grad {nm}")


def test_backends_forward_states_bit_identical():
    """Every engine runs the reference's float32 operations forward: spikes and final states equal bit for
    bit."""
    for _, name, cfg, mean, std in CASES:
        shape = (24, 8, 33)
        x = torch.randn(shape) * std + mean
        k = torch.tensor(K_VALUE)
        outs = [get_impl(name, be)(x, lib_params(name, cfg, ("sigmoid", 4.0), False, k)) for be in ENGINES]
        for be, out in zip(ENGINES[1:], outs[1:], strict=True):
            assert torch.equal(outs[0][0], out[0]), (name, be)
            for a, b in zip(outs[0][1], out[1], strict=True):
                assert torch.equal(a, b), (name, be)


# --------------------------------------------------------------------------- KLIF's k


@pytest.mark.parametrize("sg", SURROGATES, ids=[s[0] for s in SURROGATES])
@pytest.mark.parametrize("decay_input", [True, False])
def test_klif_k_grad_matches_autograd(sg, decay_input):
    """The hand-written g_k of every BPTT engine equals autograd through the reference and through "torch"."""
    cfg = dict(tau=2.0, v_threshold=1.0, v_reset=0.0, decay_input=decay_input)
    shape = (12, 5, 7)
    x = make_input(shape, 1.0, 1.2, torch.float32)
    g = torch.randn(shape)
    gk = {}
    for impl in ("ref", *ENGINES):
        k = torch.tensor(0.8, requires_grad=True)
        if impl == "ref":
            s, (v,) = run_ref("klif", x, zero_state("klif", shape), cfg, sg, False, k)
        else:
            s, (v,) = get_impl("klif", impl)(x, lib_params("klif", cfg, sg, False, k))
        ((s * g).sum() + v.square().sum()).backward()
        gk[impl] = k.grad
    assert gk["ref"].abs() > 1e-3  # a non-trivial gradient
    for impl in ENGINES:
        torch.testing.assert_close(
            gk[impl], gk["ref"], rtol=1e-5, atol=1e-6, msg=lambda m, i=impl: f"{i}: {m}"
        )


def _klif_patterns(x32, k, cfg):
    """(spike pattern, ReLU-active pattern) of KLIF over the sequence, by the straight-line equations."""
    v = torch.zeros(x32.shape[1:])
    spikes, active = [], []
    for t in range(x32.shape[0]):
        h = _charge(v, x32[t], cfg["tau"], cfg["decay_input"], cfg["v_reset"])
        f = torch.relu(k * h)
        s = (f >= cfg["v_threshold"]).float()
        v = (1 - s) * f + s * cfg["v_reset"]
        spikes.append(s)
        active.append(k * h > 0)
    return (torch.stack(spikes), torch.stack(active))


@pytest.mark.parametrize("backend", ENGINES)
def test_klif_k_grad_matches_finite_differences(backend):
    """g_k against central finite differences of the forward pass.

    Why FD is valid here: the loss uses only the final membrane V_T, and ``detach_reset=True``, so no
    surrogate term enters the backward (g_S = ∂loss/∂S = 0 at every step: spikes are not in the loss and the
    reset's spike factor is detached). What remains is the exact derivative of V_T as a function of k along a
    fixed spike pattern and a fixed ReLU sign pattern; on that piece V_T is a polynomial in k. Only neurons
    whose patterns are unchanged at k ± ε enter the loss, so the FD quotient differentiates that smooth piece.
    The library computes in float32; ε = 3e-3 keeps the rounding error of the quotient (≈ 1e-7/ε) well below
    the tolerance, and the truncation error O(ε²) of the central difference is small for this low-degree
    polynomial. (The input is float64 for the loss and the FD quotient; the library upcasts/downcasts to
    float32 by design.)
    """
    cfg = dict(tau=2.0, v_threshold=1.0, v_reset=0.0, decay_input=True)
    shape = (6, 4, 8)
    x = torch.randn(shape, dtype=torch.float64) * 1.2 + 1.2
    w = torch.randn(shape[1:], dtype=torch.float64)
    impl = get_impl("klif", backend)

    def loss_at(kv, grad=False):
        k = torch.tensor(kv, dtype=torch.float32, requires_grad=grad)
        s, (v,) = impl(x, lib_params("klif", cfg, ("sigmoid", 4.0), True, k))
        return (v.double() * w).sum(), k

    # Neurons are independent: keep in the loss only those whose spike and ReLU patterns are the same at
    # k0 − ε, k0 and k0 + ε (weight 0 for the others), so FD sees one smooth piece for every neuron it uses.
    k0, eps = 0.9, 3e-3
    pats = [_klif_patterns(x.float(), kv, cfg) for kv in (k0 - eps, k0, k0 + eps)]
    stable = torch.ones(shape[1:], dtype=torch.bool)
    for j in range(2):
        stable &= ((pats[0][j] == pats[1][j]) & (pats[2][j] == pats[1][j])).all(dim=0)
    assert stable.float().mean() > 0.5
    w = w * stable
    loss, k = loss_at(k0, grad=True)
    loss.backward()
    fd = (loss_at(k0 + eps)[0] - loss_at(k0 - eps)[0]) / (2 * eps)
    assert abs(float(fd)) > 1e-2
    torch.testing.assert_close(k.grad.double(), fd.detach(), rtol=2e-3, atol=1e-4)


# --------------------------------------------------------------------------- modes and edge cases

MODULE_KW = {
    "lif-soft": ("lif", dict(v_reset=None)),
    "lif-hard-decayin": ("lif", dict(v_reset=-0.2, decay_input=True)),
    "clif": ("clif", {}),
    "klif": ("klif", dict(k_init=1.1)),
    "ilif": ("ilif", {}),
}


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("key", list(MODULE_KW))
def test_single_step_mode_equals_multi_step(neuron_factory, key, backend):
    """step_mode="s" fed one step at a time reproduces the multi-step spikes exactly, and reset_state()
    starts the next sequence from zero state."""
    name, kw = MODULE_KW[key]
    x = torch.randn(13, 3, 2, 5) * 0.9 + 0.8
    multi = neuron_factory(name, backend=backend, **kw)
    single = neuron_factory(name, backend=backend, step_mode="s", **kw)
    ref = multi(x)
    assert 0 < float(ref.detach().mean()) < 1
    for _ in range(2):  # the second pass checks that reset_state() really forgets everything
        assert single.state is None
        out = torch.stack([single(x[t]) for t in range(x.shape[0])])
        assert_spikes_equal(out, ref, f"{name} single-step")
        single.reset_state()


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("key", list(MODULE_KW))
def test_multi_step_starts_from_zero_state_every_call(neuron_factory, key, backend):
    """No state survives between multi-step calls: running y after x gives the spikes of y alone."""
    name, kw = MODULE_KW[key]
    x, y = torch.randn(2, 9, 4, 6) * 0.9 + 0.9
    fresh = neuron_factory(name, backend=backend, **kw)(y)
    layer = neuron_factory(name, backend=backend, **kw)
    layer(x)
    assert_spikes_equal(layer(y), fresh, f"{name} second call")
    expected = run_ref_module(name, kw, y)
    assert_spikes_equal(fresh, expected, f"{name} vs reference")


def run_ref_module(name, kw, x):
    """Reference spikes for a module built with defaults + ``kw`` (defaults of issue #3)."""
    defaults = {
        "lif": dict(tau=2.0, v_threshold=1.0, v_reset=None, decay_input=False),
        "clif": dict(tau=2.0, v_threshold=1.0),
        "klif": dict(tau=2.0, v_threshold=1.0, v_reset=0.0, decay_input=True),
        "ilif": dict(tau=1.1, v_threshold=1.0, inhibition=0.03),
    }[name]
    cfg = {**defaults, **{k: v for k, v in kw.items() if k != "k_init"}}
    sg = {"clif": ("rectangle", 1.0)}.get(name, ("sigmoid", 4.0))
    k = torch.tensor(kw.get("k_init", 1.0)) if name == "klif" else None
    with torch.no_grad():
        return run_ref(name, x, zero_state(name, x.shape), cfg, sg, False, k)[0]


#: (neuron, module kwargs, input sequence for one neuron) whose last step reaches the threshold exactly,
#: using values that are exact in float32 (H == V_th bit for bit).
EXACT_THRESHOLD = [
    ("lif", {}, [1.0]),  # H = 0 − 0/2 + 1 = 1
    ("lif", {}, [0.5, 0.75]),  # V = 0.5; H = 0.5 − 0.25 + 0.75 = 1
    ("lif", dict(v_reset=0.0, decay_input=True), [2.0]),  # H = 0 + (2 − 0)/2 = 1
    ("lif", dict(v_threshold=0.5), [0.25, 0.375]),  # H = 0.125 + 0.375 = 0.5
    ("clif", {}, [1.0]),  # u' = 1
    ("clif", {}, [0.5, 0.75]),  # u' = 0.25 + 0.75
    ("klif", {}, [2.0]),  # H = 1, F = ReLU(1·1) = 1
    ("klif", dict(k_init=2.0), [1.0]),  # H = 0.5, F = 2·0.5 = 1
    ("ilif", dict(tau=2.0), [1.0]),  # I = 0, H = 1
]


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("name,kw,seq", EXACT_THRESHOLD)
def test_exact_threshold_fires(neuron_factory, name, kw, seq, backend):
    """Θ(0) = 1: a membrane exactly at the threshold fires; one float32 ulp below it does not."""
    x = torch.tensor(seq, dtype=torch.float32).reshape(-1, 1, 1)
    s = neuron_factory(name, backend=backend, **kw)(x)
    assert s[:-1].sum() == 0 and s[-1].item() == 1.0
    below = x.clone()
    below[-1] = torch.nextafter(below[-1], torch.tensor(-math.inf))
    assert neuron_factory(name, backend=backend, **kw)(below).sum() == 0


@pytest.mark.parametrize("dtype", list(DTYPES), ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("name", ["lif", "clif", "klif", "ilif"])
def test_module_returns_binary_spikes_of_input_dtype(neuron_factory, name, dtype):
    x = (torch.randn(6, 2, 3) + 0.8).to(dtype)
    for backend in (*ENGINES, "auto"):
        s = neuron_factory(name, backend=backend)(x)
        assert s.dtype == dtype and s.shape == x.shape
        assert set(s.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("engine", BPTT_ENGINES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bptt_retain_graph_backward_twice(case, engine):
    """The BPTT backward writes the input gradient into its saved buffer only when the graph is freed:
    with retain_graph=True a second backward sees intact saved tensors and gives the same gradients."""
    _, name, cfg, mean, std = case
    shape = (11, 3, 40)
    x = make_input(shape, mean, std, torch.float32)
    k = torch.tensor(K_VALUE, requires_grad=True) if name == "klif" else None
    s, st = get_impl(name, engine)(x, lib_params(name, cfg, ("sigmoid", 4.0), False, k))
    loss = (s * torch.randn(shape)).sum() + st[0].square().sum()
    first = torch.autograd.grad(loss, [x], retain_graph=True)[0].clone()
    second = torch.autograd.grad(loss, [x], retain_graph=True)[0]
    third = torch.autograd.grad(loss, [x])[0]  # frees the graph: may reuse the saved buffer
    assert torch.equal(first, second) and torch.equal(first, third)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_long_strongly_driven_sequence_gradients_agree(case):
    """T = 96 with strong input (many spikes; CLIF's and ILIF's m grow large, σ(m) → 1): every engine's
    gradients still agree with the reference's over a long reverse-time recursion."""
    _, name, cfg, mean, std = case
    shape = (96, 2, 16)
    x = make_input(shape, 2.5 * mean + 0.5, std, torch.float32)
    g = torch.randn(shape)
    grads = []
    for backend in ENGINES:
        k = torch.tensor(K_VALUE, requires_grad=True) if name == "klif" else None
        s, st = get_impl(name, backend)(x, lib_params(name, cfg, ("sigmoid", 4.0), False, k))
        loss = (s * g).sum() + sum(t.sum() for t in st)
        grads.append(torch.autograd.grad(loss, [x])[0])
        if name in ("clif", "ilif"):
            assert float(st[1].detach().max()) > 5  # m large enough for σ(m) ≈ 1
    for backend, grad in zip(ENGINES[1:], grads[1:], strict=True):
        assert_grads_close(grad, grads[0], torch.float32, f"{name} {backend} long sequence")
