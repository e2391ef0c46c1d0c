"""The numba engine (``snndeploy/neurons/cpu_loops``): spikes, states and gradients equal to the eager
engine's bit for bit (every surrogate, flag and initial state; layers split over threads), the sigmoid that
must equal PyTorch's, the threading choice, the buffer pool, the cache and the compiled entry points.

tests/test_neurons.py and tests/test_neurons_peers.py run every neuron test on every registered engine; this
file covers what those small layers cannot: layers large enough to be split over threads, and the helpers
themselves.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from snndeploy.neurons import (
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

if (
    Backend.NUMBA in unavailable()
):  # numba is a runtime dependency; only a Python it does not support yet lacks it
    pytest.skip(f"no numba engine here: {unavailable()[Backend.NUMBA]}", allow_module_level=True)

from snndeploy.neurons import cpu_loops  # noqa: E402
from snndeploy.neurons.cpu_loops import _common, _compile, _threads  # noqa: E402

PARAMS = {
    "lif": lambda k: LIFParams(),
    "lif_hard": lambda k: LIFParams(v_reset=-0.1, decay_input=True, surrogate=ATan()),
    "clif": lambda k: CLIFParams(),
    "klif": lambda k: KLIFParams(k),
    "ilif": lambda k: ILIFParams(surrogate=Triangle()),
}


def _run(name: str, x: torch.Tensor, g: torch.Tensor, engine: str) -> tuple:
    """Spikes, final state, grad x (and KLIF's grad k) of ``engine``."""
    k = torch.tensor(1.1, requires_grad=True)
    xx = x.detach().clone().requires_grad_()
    s, st = get_impl(name.split("_")[0], engine)(xx, PARAMS[name](k))
    loss = (s * g).sum() + sum((t * (j + 1)).sum() for j, t in enumerate(st))
    loss.backward()
    return s.detach(), [t.detach() for t in st], xx.grad, (k.grad if name == "klif" else None)


@pytest.fixture
def threads():
    """Set torch's thread count for one test (restored after)."""
    old = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(old)


@pytest.fixture
def restore_threading():
    """Restore the numba engine's threading choice after a test that changes it."""
    old = cpu_loops.threading_choice()
    yield
    cpu_loops.set_threading(old.mode, old.reason)


def test_auto_runs_the_numba_engine_on_cpu():
    assert get_impl("lif", "auto", torch.device("cpu")) is cpu_loops.lif_seq_numba
    assert get_impl("ilif", "auto") is cpu_loops.ilif_seq_numba


def test_numba_engine_refuses_other_devices():
    from snndeploy.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="backend 'numba' runs on cpu tensors"):
        get_impl("lif", "numba")(torch.zeros(3, 2, 4, device="meta"), LIFParams())


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("n", [1, 31, 33, 264, 1000, 32768, 40000, 65541, 100003])
def test_sigmoid_equals_torch_bit_for_bit(n, n_threads, threads):
    """SLEEF's expf reproduced in numba, plus libm on the elements PyTorch leaves to its scalar loop, gives
    exactly ``torch.sigmoid`` over a tensor of n elements at this thread count."""
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("bit-exactness is claimed for x86 CPUs with AVX2/AVX-512 only")
    threads(n_threads)
    x = torch.randn(n) * 6
    want = torch.sigmoid(x)
    got = np.empty(n, np.float32)
    _common.sigmoid_into(x.numpy(), got)
    _common.fix_sigmoid_tails(x.numpy(), np.float32(1.0), got, 0, _common.sigmoid_tails(n))
    bad = np.nonzero(got != want.numpy())[0]
    assert bad.size == 0, f"{bad.size} of {n} differ, first at {bad[:5]}"


def test_sigmoid_tails_layout(threads):
    """The scalar tails PyTorch leaves: the end of each thread's chunk that is not a multiple of two
    vectors."""
    width = {"AVX512": 32, "AVX2": 16}.get(torch.backends.cpu.get_cpu_capability())
    if width is None:
        pytest.skip("no vectorised sigmoid on this CPU")
    threads(1)
    assert _common.sigmoid_tails(70).tolist() == ([[70 - 70 % width, 70]] if 70 % width else [])
    assert _common.sigmoid_tails(64).tolist() == []
    threads(2)
    n = 65541  # above the grain size: two chunks of 32771 and 32770
    assert _common.sigmoid_tails(n).tolist() == [[32771 - 32771 % width, 32771], [n - 32770 % width, n]]


@pytest.mark.parametrize("mode", ["1 thread", "openmp", "workers", "pool"])
@pytest.mark.parametrize("name", list(PARAMS))
def test_large_layer_numba_equals_eager(name, mode, threads, restore_threading):
    """A layer big enough to be split over two threads (PyTorch's OpenMP team, our helper threads, or the
    thread pool) and a non-contiguous input: spikes, states and gradients equal the eager engine's bit for
    bit."""
    if mode == "openmp" and _threads.libgomp() is None:
        pytest.skip("PyTorch here does not use libgomp")
    threads(1 if mode == "1 thread" else 2)
    if mode != "1 thread":
        cpu_loops.set_threading(mode, "test")
    T, B, F = 8, 40, 1751  # 70,040 neurons × 8 steps: 2 ranges at 2 threads, odd sizes for the sigmoid tails
    x = (torch.randn(T, F, B) * 0.8 + 0.6).transpose(1, 2)  # non-contiguous
    g = torch.randn(T, B, F)
    fused = _run(name, x, g, "numba")
    eager = _run(name, x, g, "eager")
    assert torch.equal(fused[0], eager[0]), f"{int((fused[0] != eager[0]).sum())} spikes differ"
    assert 0.05 < float(fused[0].mean()) < 0.95
    for a, b in zip(fused[1], eager[1], strict=True):
        assert torch.equal(a, b)
    assert torch.equal(fused[2], eager[2]), (
        f"grad x: max difference {float((fused[2] - eager[2]).abs().max())}"
    )
    if name == "klif":
        assert torch.equal(fused[3], eager[3])


def test_split_runs_on_pytorchs_openmp_team(monkeypatch, threads, restore_threading):
    """With libgomp loaded (PyTorch's Linux wheels), the ranges run on PyTorch's own OpenMP team."""
    if _threads.libgomp() is None:
        pytest.skip("PyTorch here does not use libgomp")
    cpu_loops.set_threading("openmp", "test")
    calls = []
    orig = _threads._run_entry
    monkeypatch.setattr(_threads, "_run_entry", lambda *a: (calls.append((a[3], a[4])), orig(*a))[1])
    threads(2)
    x = torch.randn(8, 40, 1751, requires_grad=True)
    s, _ = get_impl("lif", "numba")(x, LIFParams())
    s.sum().backward()
    # forward and backward, each on two threads of the team, which claim 8 ranges of 8,960 neurons
    assert calls == [(8, 2), (8, 2)]


def test_klif_k_grad_does_not_depend_on_the_split(threads):
    """KLIF's k gradient is accumulated per neuron and summed by the Function: 1 and 2 threads agree
    exactly."""
    x = torch.randn(8, 40, 1751) * 0.8 + 0.6
    g = torch.randn_like(x)
    out = []
    for n_threads in (1, 2):
        threads(n_threads)
        out.append(_run("klif", x, g, "numba")[3])
    assert torch.equal(out[0], out[1])


SURROGATES = [Sigmoid(), Rectangle(), ATan(), Triangle(alpha=0.7), Sigmoid(alpha=2.5)]
STATES = {"lif": LIFState, "clif": CLIFState, "klif": KLIFState, "ilif": ILIFState}


def _engine_grads(name, engine, x, g, params, init):
    """Spikes, final state and the gradients of x, of every initial-state tensor and of k, for one engine."""
    xx = x.clone().requires_grad_()
    leaves, state = [xx], None
    if init is not None:
        state = STATES[name](*(t.clone().requires_grad_() for t in init))
        leaves += list(state)
    if name == "klif":
        leaves.append(params.k)
    s, st = get_impl(name, engine)(xx, params, state)
    loss = (s * g).sum() + sum((t * (j + 1)).sum() for j, t in enumerate(st))
    return s, [t.detach() for t in st], torch.autograd.grad(loss, leaves)


def _case_params(name, sg, detach, variant):
    if name == "lif":
        return LIFParams(
            v_reset=-0.1 if variant else None, decay_input=variant, surrogate=sg, detach_reset=detach
        )
    if name == "clif":
        return CLIFParams(surrogate=sg, detach_reset=detach)
    if name == "klif":
        return KLIFParams(
            torch.tensor(1.1, requires_grad=True), decay_input=variant, surrogate=sg, detach_reset=detach
        )
    return ILIFParams(surrogate=sg, detach_reset=detach)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("shape", [(7, 3, 45), (13, 5, 1000)], ids=["one-chunk", "chunks-split-over-threads"])
@pytest.mark.parametrize("name", ["lif", "clif", "klif", "ilif"])
def test_gradients_equal_the_eager_engine_bit_for_bit(name, shape, n_threads, threads):
    """Every surrogate, attached or detached reset, hard/decay_input variants, zero or given initial state:
    spikes, final states and every gradient (x, initial state, k) of the numba engine equal the eager engine's
    exactly.

    The shapes make the eager backward's sigmoids run over chunks of several steps whose scalar tails (libm)
    cross step boundaries, in one chunk (945 neurons·steps) or in chunks split over two threads (13 000
    neurons·steps)."""
    threads(n_threads)
    x = torch.randn(shape) * 0.8 + 0.6
    g = torch.randn(shape)
    n_state = len(STATES[name]._fields)
    for sg, detach, variant, given in itertools.product(
        SURROGATES, (False, True), (False, True), (False, True)
    ):
        if variant and name in ("clif", "ilif"):
            continue
        init = [torch.randn(shape[1:]) * 0.3 for _ in range(n_state)] if given else None
        if given and name == "ilif":
            init[4] = (torch.rand(shape[1:]) > 0.5).float()  # s_prev is a spike
        if given and name == "clif":
            init[1] = init[1].abs()
        what = f"{name} {type(sg).__name__}({sg.alpha}) detach={detach} variant={variant} state={given}"
        eager = _engine_grads(name, "eager", x, g, _case_params(name, sg, detach, variant), init)
        numba = _engine_grads(name, "numba", x, g, _case_params(name, sg, detach, variant), init)
        assert torch.equal(eager[0], numba[0]), what
        for a, b in zip(eager[1], numba[1], strict=True):
            assert torch.equal(a, b), f"{what}: state"
        for i, (a, b) in enumerate(zip(eager[2], numba[2], strict=True)):
            assert torch.equal(a, b), f"{what}: gradient {i}, max difference {float((a - b).abs().max())}"


def test_kernel_cache_is_keyed_on_every_kernel_source(monkeypatch, tmp_path):
    """numba checks only a cached function's own file; the cache directory is keyed on all of them, so an
    edited
    helper can never leave a stale kernel behind. ``SNNDEPLOY_NUMBA_CACHE=0`` turns caching off."""
    import numba

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    h = hashlib.sha256(numba.__version__.encode())
    for path in sorted(Path(_compile.__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    assert _compile._cache_dir() == str(tmp_path / "snndeploy" / f"numba-{h.hexdigest()[:16]}")
    monkeypatch.setenv("SNNDEPLOY_NUMBA_CACHE", "0")
    assert _compile._cache_dir() is None


def test_a_warm_cache_loads_the_entries_without_compiling(tmp_path):
    """Two fresh processes share a cache directory: the second loads both entries of LIF from the disk cache
    and
    compiles nothing (which is what keeps its first call short; no timing is asserted)."""
    script = textwrap.dedent("""
        import torch
        from snndeploy.neurons import LIFParams, get_impl
        from snndeploy.neurons.cpu_loops import _compile, lif
        torch.set_num_threads(1)
        x = torch.randn(3, 2, 50, requires_grad=True)
        s, _ = get_impl("lif", "numba")(x, LIFParams())
        s.sum().backward()
        hits = sorted(e.cfunc.cache_hits for e in _compile._entries.values())
        print(hits, len(lif._forward.signatures) + len(lif._backward.signatures), _compile.CACHE_DIR)
    """)
    env = dict(
        os.environ, XDG_CACHE_HOME=str(tmp_path), SNNDEPLOY_NUMBA_CACHE="1", SNNDEPLOY_CPU_THREADS="openmp"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    first, second = (r.stdout.split() for r in runs)
    if _threads.libgomp() is None:
        pytest.skip("no libgomp: the pool runs the kernels, not the entries")
    assert second[-1].startswith(str(tmp_path))
    assert " ".join(first[:2]) == "[0, 0]" and " ".join(second[:2]) == "[1, 1]"
    assert second[2] == "0"  # the kernels were not compiled: their code is inside the cached entries


def test_an_entry_that_cannot_compile_switches_to_the_pool(monkeypatch, threads, restore_threading):
    """A numba that cannot build an entry: one RuntimeWarning, the threading choice becomes "pool" (with the
    reason
    visible in ``threading_choice()``), same results."""
    if _threads.libgomp() is None:
        pytest.skip("no libgomp: the thread pool is the only path here")
    cpu_loops.set_threading("openmp", "test")

    def broken(*args):
        raise RuntimeError("no cfunc here")

    monkeypatch.setattr(_threads, "entry", broken)
    threads(2)
    x = torch.randn(8, 40, 1751) * 0.8 + 0.6
    g = torch.randn_like(x)
    with pytest.warns(RuntimeWarning, match="switch to a thread pool"):
        fused = _run("clif", x, g, "numba")
    choice = cpu_loops.threading_choice()
    assert choice.mode == "pool" and "no cfunc here" in choice.reason
    eager = _run("clif", x, g, "eager")
    assert torch.equal(fused[0], eager[0])
    torch.testing.assert_close(fused[2], eager[2], rtol=1e-4, atol=1e-5)


def test_set_threading_refuses_unknown_modes():
    from snndeploy.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="openmp, pool"):
        cpu_loops.set_threading("gpu")


@pytest.mark.parametrize("T", [1, 2, 5])
@pytest.mark.parametrize("name", list(PARAMS))
def test_inference_keeps_no_saved_tensors_and_gives_the_same_results(name, T):
    """Without autograd (``torch.no_grad()`` or inputs that need no gradient) the fused loops write the saved
    tensors into one or two rows of scratch instead of [T, B, *] buffers: the same spikes and states, bit for
    bit."""
    from snndeploy.neurons.cpu_loops import clif as cf
    from snndeploy.neurons.cpu_loops import ilif as inf
    from snndeploy.neurons.cpu_loops import klif as kf
    from snndeploy.neurons.cpu_loops import lif as lf

    k = torch.tensor(1.1)
    p = PARAMS[name](k)
    x = torch.randn(T, 6, 37) * 0.8 + 0.6
    impl = get_impl(name.split("_")[0], "numba")
    s_train, st_train = impl(x.clone().requires_grad_(), p)
    with torch.no_grad():
        s_inf, st_inf = impl(x.clone().requires_grad_(), p)
    s_plain, st_plain = impl(x, p)  # no tensor needs a gradient
    for s, st in ((s_inf, st_inf), (s_plain, st_plain)):
        assert torch.equal(s, s_train.detach())
        for a, b in zip(st, st_train, strict=True):
            assert torch.equal(a, b.detach())
    base = name.split("_")[0]
    if base == "lif":
        saved = lf.lif_forward(x, None, p, save=False)[1:2]
    elif base == "klif":
        saved = kf.klif_forward(x, None, k, p, save=False)[1:2]
    elif base == "clif":
        saved = cf.clif_forward(x, None, None, p, save=False)[1:3]
    else:
        saved = inf.ilif_forward(x, None, None, None, None, None, p, save=False)[1:4]
    assert all(t.shape[0] <= 2 and t.shape[1:] == x.shape[1:] for t in saved)


def test_the_pool_recycles_free_buffers_only():
    """A pooled buffer is handed out again once no tensor uses it, never while one does (views count)."""
    from snndeploy.neurons.cpu_loops import _buffers

    old = _buffers.set_pool_limit(1 << 30)
    try:
        _buffers.release_buffers()
        a = _buffers.empty((64, 4096))
        view = a[3:5]
        b = _buffers.empty((64, 4096))
        assert a.data_ptr() != b.data_ptr()
        ptr = a.data_ptr()
        del a
        assert _buffers.empty((64, 4096)).data_ptr() != ptr  # the view still holds it
        del view
        c = _buffers.empty((64, 4096))
        assert c.data_ptr() == ptr and c.shape == (64, 4096) and c.is_contiguous()
        assert _buffers.empty((64, 4096), torch.bool).dtype == torch.bool
        stats = _buffers.pool_stats()
        assert stats.buffers >= 2 and stats.bytes >= 2 * 64 * 4096 * 4
        del b, c
        _buffers.release_buffers()
        assert _buffers.pool_stats().free_bytes == 0
        _buffers.set_pool_limit(0)  # no pooling: every buffer is new
        d = _buffers.empty((64, 4096))
        ptr = d.data_ptr()
        del d
        assert _buffers.pool_stats().buffers == 0
    finally:
        _buffers.set_pool_limit(old)
    from snndeploy.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="max_free_bytes"):
        _buffers.set_pool_limit(-1)


def test_recycled_buffers_give_the_same_results():
    """Outputs written into recycled buffers (stale contents) equal the eager engine's, call after call."""
    for seed in range(3):
        torch.manual_seed(seed)
        x = torch.randn(8, 40, 1751) * 0.8 + 0.6
        g = torch.randn_like(x)
        fused, eager = _run("ilif", x, g, "numba"), _run("ilif", x, g, "eager")
        assert torch.equal(fused[0], eager[0]) and torch.equal(fused[2], eager[2])
