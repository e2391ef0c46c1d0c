"""Triton kernels (backend "triton") against the reference engines ("torch" loop and the hand-written
"eager").

Without a GPU the kernels run on CPU tensors in Triton's interpreter (numpy): ``TRITON_INTERPRET=1`` must be
set in the environment before snndeploy is imported, since importing ``snndeploy.neurons`` loads the Triton
engine (``make test`` and CI run ``TRITON_INTERPRET=1 pytest``; without it the small-shape tests skip and say
so). On a GPU machine without ``TRITON_INTERPRET`` the same small-shape tests run the compiled kernels on CUDA
tensors, and the CUDA-only tests add large shapes. Spikes are compared exactly; final states and every
gradient (input, initial state, KLIF's k) with a tolerance tied to the dtype.
"""

from __future__ import annotations

import itertools
import os

import pytest
import torch

from snndeploy import models
from snndeploy.errors import InvalidInputError
from snndeploy.neurons import (
    CLIF,
    KLIF,
    ATan,
    CLIFParams,
    CLIFState,
    ILIFParams,
    ILIFState,
    KLIFParams,
    KLIFState,
    LIFParams,
    LIFState,
    Rectangle,
    Sigmoid,
    Triangle,
    get_impl,
    unavailable,
)
from snndeploy.neurons.engine import Backend

if Backend.TRITON in unavailable():
    pytest.skip(f"no triton engine here: {unavailable()[Backend.TRITON]}", allow_module_level=True)

from snndeploy.neurons.triton_kernels import _common  # noqa: E402

pytestmark = pytest.mark.triton
CUDA = torch.cuda.is_available()

#: Where the small-shape tests run: CPU tensors in the interpreter, else CUDA tensors with the compiled
#: kernels.
DEV = "cpu" if _common.INTERPRET else ("cuda" if CUDA else None)
needs_kernels = pytest.mark.skipif(
    DEV is None, reason="no GPU, and TRITON_INTERPRET=1 was not set before snndeploy was imported"
)
needs_compiled_cuda = pytest.mark.skipif(
    not CUDA or _common.INTERPRET, reason="needs a CUDA GPU and compiled kernels (TRITON_INTERPRET unset)"
)

SURROGATES = [Rectangle(), Sigmoid(), ATan(), Triangle(alpha=0.7)]
# dtype with its gradient tolerance (rtol, atol) in the same tuple; states are float32 in every case.
DTYPES = [(torch.float32, 1e-4, 1e-5), (torch.float16, 2e-3, 2e-3), (torch.bfloat16, 1.6e-2, 1e-2)]
SHAPES = [(3, 41), (123,), (2, 3, 5, 4)]  # 123, 123 and 120 neurons: odd sizes, ragged last block


# --------------------------------------------------------------------------- comparison helpers


def assert_spikes_equal(ref: torch.Tensor, got: torch.Tensor, what: str) -> None:
    """Spikes with tolerance 0: report the mismatch count and the first (t, flat index) of divergence."""
    assert got.shape == ref.shape and got.dtype == ref.dtype, (
        f"{what}: {got.shape}/{got.dtype} vs {ref.shape}/{ref.dtype}"
    )
    diff = (ref != got).reshape(ref.shape[0], -1)
    if bool(diff.any()):
        t, i = (int(v) for v in diff.nonzero()[0])
        pytest.fail(f"{what}: {int(diff.sum())} spikes differ, first at t={t}, neuron={i}")
    assert bool(torch.isfinite(got).all()), f"{what}: non-finite spikes"


def assert_close(
    ref: torch.Tensor | None, got: torch.Tensor | None, rtol: float, atol: float, what: str
) -> None:
    assert (ref is None) == (got is None), f"{what}: one side has no gradient"
    if ref is not None:
        torch.testing.assert_close(got, ref, rtol=rtol, atol=atol, msg=lambda m: f"{what}: {m}")


# --------------------------------------------------------------------------- cases


def _params(neuron: str, surrogate, flags: int):
    """Parameters of ``neuron`` with mode flags taken from the bits of ``flags`` (cycles over every
    combination)."""
    b0, b1, b2 = bool(flags & 1), bool(flags & 2), bool(flags & 4)
    if neuron == "lif":
        return LIFParams(
            tau=1.7,
            v_threshold=0.8,
            v_reset=-0.1 if b0 else None,
            decay_input=b1,
            detach_reset=b2,
            surrogate=surrogate,
        )
    if neuron == "clif":
        return CLIFParams(tau=2.3, v_threshold=0.9, detach_reset=b0, surrogate=surrogate)
    if neuron == "klif":
        k = torch.tensor(1.3, device=DEV, requires_grad=True)
        return KLIFParams(
            k,
            tau=1.9,
            v_threshold=0.7,
            v_reset=-0.2 if b2 else 0.0,
            decay_input=not b1,
            detach_reset=b0,
            surrogate=surrogate,
        )
    return ILIFParams(tau=1.3, v_threshold=0.9, inhibition=0.4, detach_reset=b0, surrogate=surrogate)


_STATES = {"lif": LIFState, "clif": CLIFState, "klif": KLIFState, "ilif": ILIFState}


def _state(neuron: str, shape, gen: torch.Generator, device: str):
    cls = _STATES[neuron]
    parts = [torch.randn(shape, generator=gen) for _ in cls._fields]
    if neuron == "ilif":  # s_prev is a spike
        parts[-1] = (parts[-1] > 0).float()
    return cls(*(p.to(device).requires_grad_() for p in parts))


def _run(neuron, backend, x, params, state, gen_seed):
    """Forward + backward with random upstream gradients for spikes and every final state."""
    spikes, final = get_impl(neuron, backend)(x, params, state)
    g = torch.Generator().manual_seed(gen_seed)
    loss = (spikes.float() * torch.randn(spikes.shape, generator=g).to(spikes.device)).sum()
    for f in final:
        loss = loss + (f * torch.randn(f.shape, generator=g).to(f.device)).sum()
    leaves = [x] + (list(state) if state is not None else [])
    if neuron == "klif":
        leaves.append(params.k)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return spikes.detach(), [f.detach() for f in final], grads


def _compare(neuron, params, x, state, rtol, atol, refs=("eager", "torch")):
    got = _run(neuron, "triton", x, params, state, 7)
    for ref_name in refs:
        ref = _run(neuron, ref_name, x, params, state, 7)
        tag = f"{neuron} vs {ref_name}"
        assert_spikes_equal(ref[0], got[0], f"{tag} spikes")
        for name, a, b in zip(_STATES[neuron]._fields, ref[1], got[1], strict=True):
            assert_close(a, b, 1e-5, 1e-5, f"{tag} final state {name}")
        names = (
            ["x"]
            + (list(_STATES[neuron]._fields) if state is not None else [])
            + (["k"] if neuron == "klif" else [])
        )
        for name, a, b in zip(names, ref[2], got[2], strict=True):
            assert_close(a, b, rtol, atol, f"{tag} grad {name}")
    return got


def _input(T, shape, dtype, seed, device=None, scale=1.5):
    device = device or DEV
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn((T, *shape), generator=gen) * scale + 0.4).to(device=device, dtype=dtype)
    return x.requires_grad_(), gen


CASES = list(
    itertools.product(["lif", "clif", "klif", "ilif"], range(len(SURROGATES)), range(len(DTYPES)), [1, 2, 7])
)


@needs_kernels
@pytest.mark.parametrize(("neuron", "si", "di", "T"), CASES)
def test_triton_matches_reference(neuron, si, di, T):
    """Every neuron × surrogate × dtype × T; mode flags, shape and initial state (given or None) cycle over
    cases."""
    case = CASES.index((neuron, si, di, T))
    dtype, rtol, atol = DTYPES[di]
    params = _params(neuron, SURROGATES[si], flags=case)
    shape = SHAPES[case % len(SHAPES)]
    x, gen = _input(T, shape, dtype, seed=case)
    state = _state(neuron, shape, gen, DEV) if case % 2 == 0 else None
    _compare(neuron, params, x, state, rtol, atol)


@needs_kernels
@pytest.mark.parametrize(
    ("neuron", "flags"), [("lif", f) for f in range(8)] + [("clif", 1), ("klif", 3), ("klif", 5), ("ilif", 1)]
)
def test_triton_flags_match_reference(neuron, flags):
    """Every flag combination (hard/soft reset, decay_input, detach_reset) at T=9, fp32, with an initial
    state."""
    params = _params(neuron, Sigmoid(alpha=2.0), flags)
    x, gen = _input(9, (123,), torch.float32, seed=100 + flags)
    _compare(neuron, params, x, _state(neuron, (123,), gen, DEV), 1e-4, 1e-5)


@needs_kernels
@pytest.mark.parametrize(
    ("neuron", "T", "shape"),
    [("lif", 1024, (3,)), *((n, 63, (123,)) for n in ("lif", "clif", "klif", "ilif"))],
)
def test_triton_long_sequence(neuron, T, shape):
    """Long sequences: T = 1024 (the interpreter costs ~1 ms per step, so LIF only here; all neurons on CUDA)
    and
    T = 63 on 123 neurons; gradients through the whole reverse loop."""
    params = _params(neuron, ATan(), flags=0)
    x, _ = _input(T, shape, torch.float32, seed=3, scale=0.8)
    _compare(neuron, params, x, None, 2e-4, 2e-5, refs=("eager",))


@needs_kernels
@pytest.mark.parametrize("neuron", ["lif", "clif", "klif", "ilif"])
def test_triton_inference_kernel_matches(neuron):
    """Without grad the lighter kernel (nothing saved) runs and gives the same spikes and final state."""
    params = _params(neuron, Sigmoid(), flags=1)
    x, gen = _input(7, (3, 41), torch.bfloat16, seed=11)
    state = _state(neuron, (3, 41), gen, DEV)
    with torch.no_grad():
        s_ref, f_ref = get_impl(neuron, "eager")(x, params, state)
        s_got, f_got = get_impl(neuron, "triton")(x, params, state)
    assert not s_got.requires_grad
    assert_spikes_equal(s_ref, s_got, f"{neuron} no-grad spikes")
    for a, b in zip(f_ref, f_got, strict=True):
        assert_close(a, b, 1e-5, 1e-5, f"{neuron} no-grad final state")


@needs_kernels
def test_triton_module_training_step():
    """The modules pick the kernels with backend='triton' and train k (KLIF) through them."""
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3, 5, device=DEV)
    for backend in ("eager", "triton"):
        klif = KLIF(backend=backend).to(DEV)
        clif = CLIF(backend=backend).to(DEV)
        xr = x.clone().requires_grad_()
        out = clif(klif(xr) + xr)
        out.sum().backward()
        if backend == "eager":
            ref = (out.detach(), xr.grad.clone(), klif.k.grad.clone())
    assert_spikes_equal(ref[0], out.detach(), "module spikes")
    assert_close(ref[1], xr.grad, 1e-4, 1e-5, "module grad x")
    assert_close(ref[2], klif.k.grad, 1e-4, 1e-5, "module grad k")


def _op_samples():
    from snndeploy.neurons.triton_kernels import clif, ilif, klif, lif

    def r(*shape):
        return torch.randn(*shape, device=DEV)

    x, st, h = r(3, 2, 5), r(2, 5), r(3, 10)
    g, k, f32 = r(3, 2, 5), torch.tensor(1.2, device=DEV), torch.float32
    return [
        (lif.lif_fwd, (x, st, 1.7, 1.0, 0.0, False, False, True)),
        (lif.lif_fwd, (x.bfloat16(), None, 1.7, 1.0, -0.1, True, True, False)),
        (lif.lif_bwd, (g, h, st, 1.0, 0.0, 0.4, 1.0, 4.0, 1, False, False, True, f32)),
        (clif.clif_fwd, (x, st, st.clone(), 2.0, 1.0, True)),
        (clif.clif_bwd, (g, h, h.clone(), st, None, 2.0, 1.0, 1.0, 0, False, True, torch.float16)),
        (klif.klif_fwd, (x, st, k, 2.0, 1.0, 0.0, True, True)),
        (klif.klif_bwd, (g, h, k, st, 1.0, 0.0, 0.5, 0.5, 2.0, 2, False, True, f32)),
        (ilif.ilif_fwd, (x, *[r(2, 5) for _ in range(5)], 1.3, 1.0, 0.1, True)),
        (
            ilif.ilif_bwd,
            (
                g,
                x,
                h,
                h.clone(),
                (h > 0).to(torch.uint8),
                st,
                None,
                st,
                None,
                None,
                1.3,
                1.0,
                0.1,
                1.0,
                3,
                True,
                True,
            ),
        ),
    ]


@needs_kernels
def test_triton_custom_ops_pass_opcheck():
    """Each launcher is a torch.library custom op whose schema and fake (meta) function agree with the
    kernel."""
    for op, args in _op_samples():
        result = torch.library.opcheck(op, args)
        assert all(v == "SUCCESS" for v in result.values()), (op, result)


@needs_kernels
@pytest.mark.parametrize("neuron", ["klif", "ilif"])
def test_triton_torch_compile_fullgraph(neuron):
    """torch.compile traces the kernels as custom ops without graph breaks; results equal the eager engine."""
    params = _params(neuron, Sigmoid(), flags=2)
    x, gen = _input(4, (2, 5), torch.float32, seed=21)
    state = _state(neuron, (2, 5), gen, DEV)
    fn = get_impl(neuron, "triton")
    compiled = torch.compile(lambda x, st: fn(x, params, st), backend="aot_eager", fullgraph=True)
    s_got, f_got = compiled(x, state)
    s_ref, f_ref = get_impl(neuron, "eager")(x, params, state)
    assert_spikes_equal(s_ref.detach(), s_got.detach(), f"{neuron} compiled spikes")
    leaves = [x, *state] + ([params.k] if neuron == "klif" else [])
    g_ref = torch.autograd.grad(s_ref.sum() + sum(f.sum() for f in f_ref), leaves)
    g_got = torch.autograd.grad(s_got.sum() + sum(f.sum() for f in f_got), leaves)
    for a, b in zip(g_ref, g_got, strict=True):
        assert_close(a, b, 1e-4, 1e-5, f"{neuron} compiled grad")


@needs_kernels
def test_triton_spiking_resnet_matches_eager():
    """A tiny spiking ResNet-18 built with backend='triton' gives the eager model's outputs and gradients."""
    cfg = models.ModelConfig(
        model="resnet18", input_shape=(3, 8, 8), num_classes=10, neuron="klif", width=1 / 16
    )
    x = torch.randn(2, 1, 3, 8, 8, generator=torch.Generator().manual_seed(0)).to(DEV)
    out = {}
    for backend in ("eager", "triton"):
        torch.manual_seed(0)
        model = models.build_model(cfg, backend=backend).to(DEV)
        y = model(x)
        y.mean(0).logsumexp(-1).sum().backward()
        out[backend] = (y.detach(), [(n, p.grad) for n, p in model.named_parameters()])
    torch.testing.assert_close(out["triton"][0], out["eager"][0], rtol=1e-4, atol=1e-5)
    for (name, a), (_, b) in zip(out["eager"][1], out["triton"][1], strict=True):
        assert_close(a, b, 1e-3, 1e-5, f"resnet grad {name}")


@needs_kernels
@pytest.mark.parametrize(("neuron", "bytes_per_step"), [("lif", 4), ("clif", 8), ("klif", 4), ("ilif", 9)])
def test_triton_saves_documented_bytes(neuron, bytes_per_step):
    """Activation memory kept for backward = the bytes per neuron-step of docs/kernels.md (the input x, which
    ILIF
    references, is not a copy and is not counted; KLIF's k adds 4 bytes)."""
    T, N = 5, 123
    x, _ = _input(T, (N,), torch.float32, seed=1)
    params = _params(neuron, Sigmoid(), flags=0)
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        get_impl(neuron, "triton")(x, params)
    copies = [t for t in saved if t.data_ptr() != x.data_ptr() and t.numel() > 1]
    assert sum(t.numel() * t.element_size() for t in copies) == bytes_per_step * T * N


def test_triton_is_registered():
    from snndeploy.neurons.triton_kernels import (
        clif_seq_triton,
        ilif_seq_triton,
        klif_seq_triton,
        lif_seq_triton,
    )

    for name, fn in [
        ("lif", lif_seq_triton),
        ("clif", clif_seq_triton),
        ("klif", klif_seq_triton),
        ("ilif", ilif_seq_triton),
    ]:
        assert get_impl(name, "triton") is fn


def test_triton_refuses_cpu_without_interpreter(monkeypatch):
    monkeypatch.setattr(_common, "INTERPRET", False)
    with pytest.raises(InvalidInputError, match="TRITON_INTERPRET"):
        get_impl("lif", "triton")(torch.zeros(2, 3), LIFParams())


@needs_kernels
def test_triton_rejects_bad_input():
    with pytest.raises(InvalidInputError, match="T >= 1"):
        get_impl("lif", "triton")(torch.zeros(0, 3, device=DEV), LIFParams())
    with pytest.raises(InvalidInputError, match="state.v"):
        get_impl("lif", "triton")(
            torch.zeros(2, 3, device=DEV), LIFParams(), LIFState(torch.zeros(4, device=DEV))
        )
    with pytest.raises(InvalidInputError, match="float"):
        get_impl("lif", "triton")(torch.zeros(2, 3, dtype=torch.int32, device=DEV), LIFParams())


_AOT_COMPILE = """
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from snndeploy.neurons.triton_kernels import clif, ilif, klif, lif

FLAGS = {"DETACH": 0, "KIND": 1, "BLOCK": 256}  # every other constexpr flag on (state given, save, hard, ...)
for mod, name in ((lif, "lif"), (clif, "clif"), (klif, "klif"), (ilif, "ilif")):
    for fn in (getattr(mod, f"_{name}_fwd_kernel"), getattr(mod, f"_{name}_bwd_kernel")):
        sig, consts = {}, {}
        for i, arg in enumerate(fn.arg_names):
            if arg.isupper():
                sig[arg], consts[(i,)] = "constexpr", FLAGS.get(arg, 1)
            elif arg.endswith("_ptr"):
                low = arg in ("x_ptr", "s_ptr", "gs_ptr", "gx_ptr")
                sig[arg] = "*u8" if arg == "ipos_ptr" else ("*bf16" if low else "*fp32")
            else:
                sig[arg] = "i32" if arg in ("N", "T", "last_off") else "fp32"
        src = ASTSource(fn=fn, signature=sig, constexprs=consts)
        options = {"enable_fp_fusion": False, "num_warps": 2}
        kernel = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=options)
        ptx = kernel.asm["ptx"]
        assert "fma.rn.f32" not in ptx, f"{fn.__name__}: contracted fma in the PTX"
        assert "div.full" not in ptx, f"{fn.__name__}: approximate division in the PTX"
print("compiled 8 kernels")
"""


@pytest.mark.slow
def test_triton_kernels_compile_for_gpu():
    """Every kernel compiles to PTX/cubin for sm_90 without a GPU (catches what the interpreter cannot: typing
    of
    loop-carried values, libdevice calls), with no contracted fma and no approximate division in the PTX."""
    import subprocess
    import sys

    pytest.importorskip("triton.backends.nvidia")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        [sys.executable, "-c", _AOT_COMPILE], env=env, cwd=root, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "compiled 8 kernels" in proc.stdout


# --------------------------------------------------------------------------- CUDA (large shapes)


@needs_compiled_cuda
@pytest.mark.parametrize("neuron", ["lif", "clif", "klif", "ilif"])
@pytest.mark.parametrize(
    ("di", "T", "shape"),
    [
        (0, 32, (64, 128, 16, 16)),
        (2, 8, (32, 64, 32, 32)),
        (1, 4, (16, 64, 32, 32)),
        (0, 1, (1000_003,)),
        (0, 1024, (4099,)),
    ],
)
def test_triton_cuda_large_matches_eager(neuron, di, T, shape):
    """Same comparison on the GPU with large shapes (T·N up to 2^26): spikes exact against the CUDA eager
    engine."""
    dtype, rtol, atol = DTYPES[di]
    params = _params(neuron, Sigmoid(), flags=3)
    x, gen = _input(T, shape, dtype, seed=5, device="cuda")
    state = _state(neuron, shape, gen, "cuda")
    _compare(neuron, params, x, state, max(rtol, 1e-3), max(atol, 1e-4), refs=("eager",))
