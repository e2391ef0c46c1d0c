"""The fused CPU loops (numba) of the BPTT Functions: engine selection, the sigmoid that must equal PyTorch's bit for
bit, multi-threaded layers against the eager loops, and the kernel cache key.

tests/test_neurons.py and tests/test_neurons_peers.py run every neuron test with both loop engines (the
``bptt_loops`` fixture); this file covers what those small layers cannot: layers large enough to be split over
threads, and the helpers themselves.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from snndeploy.neurons import (
    ATan,
    CLIFParams,
    ILIFParams,
    KLIFParams,
    LIFParams,
    Triangle,
    cpu_kernels,
    get_impl,
)

pytestmark = pytest.mark.skipif(not cpu_kernels.AVAILABLE, reason="numba is not installed")

PARAMS = {
    "lif": lambda k: LIFParams(),
    "lif_hard": lambda k: LIFParams(v_reset=-0.1, decay_input=True, surrogate=ATan()),
    "clif": lambda k: CLIFParams(),
    "klif": lambda k: KLIFParams(k),
    "ilif": lambda k: ILIFParams(surrogate=Triangle()),
}


def _run(name: str, x: torch.Tensor, g: torch.Tensor, loops: str, monkeypatch) -> tuple:
    """Spikes, final state, grad x (and KLIF's grad k) of backend "bptt" with the given loops."""
    monkeypatch.setenv(cpu_kernels.ENV_SWITCH, "1" if loops == "fused" else "0")
    k = torch.tensor(1.1, requires_grad=True)
    xx = x.detach().clone().requires_grad_()
    s, st = get_impl(name.split("_")[0], "bptt")(xx, PARAMS[name](k))
    loss = (s * g).sum() + sum((t * (j + 1)).sum() for j, t in enumerate(st))
    loss.backward()
    return s.detach(), [t.detach() for t in st], xx.grad, (k.grad if name == "klif" else None)


def test_engine_follows_numba_and_the_switch(monkeypatch):
    assert cpu_kernels.engine("cpu") == "numba"
    assert cpu_kernels.engine("cuda") == "eager"
    monkeypatch.setenv(cpu_kernels.ENV_SWITCH, "0")
    assert cpu_kernels.engine("cpu") == "eager"
    assert not cpu_kernels.usable(torch.zeros(1))


def test_bptt_runs_the_fused_loops_on_cpu(monkeypatch):
    """backend "bptt" on a CPU tensor goes through the fused forward and backward, and not with the switch off."""
    from snndeploy.neurons.cpu_kernels import lif as fused

    calls = []
    for fn in ("lif_forward", "lif_backward"):
        orig = getattr(fused, fn)
        monkeypatch.setattr(fused, fn, lambda *a, _o=orig, _n=fn, **k: (calls.append(_n), _o(*a, **k))[1])
    x = torch.randn(5, 3, 7, requires_grad=True)
    s, _ = get_impl("lif", "bptt")(x, LIFParams())
    s.sum().backward()
    assert calls == ["lif_forward", "lif_backward"]
    monkeypatch.setenv(cpu_kernels.ENV_SWITCH, "0")
    s, _ = get_impl("lif", "bptt")(x, LIFParams())
    s.sum().backward()
    assert calls == ["lif_forward", "lif_backward"]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [1, 31, 33, 264, 1000, 32768, 40000, 65541, 100003])
def test_sigmoid_equals_torch_bit_for_bit(n, threads):
    """SLEEF's expf reproduced in numba, plus libm on the elements PyTorch leaves to its scalar loop, gives
    exactly ``torch.sigmoid`` over a tensor of n elements at this thread count."""
    from snndeploy.neurons.cpu_kernels._common import fix_sigmoid_tails, sigmoid_into, sigmoid_tails

    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("bit-exactness is claimed for x86 CPUs with AVX2/AVX-512 only")
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.randn(n) * 6
        want = torch.sigmoid(x)
        got = np.empty(n, np.float32)
        sigmoid_into(x.numpy(), got)
        fix_sigmoid_tails(x.numpy(), np.float32(1.0), got, 0, sigmoid_tails(n))
    finally:
        torch.set_num_threads(old)
    bad = np.nonzero(got != want.numpy())[0]
    assert bad.size == 0, f"{bad.size} of {n} differ, first at {bad[:5]}"


def test_sigmoid_tails_layout():
    """The scalar tails PyTorch leaves: the end of each thread's chunk that is not a multiple of two vectors."""
    from snndeploy.neurons.cpu_kernels._common import sigmoid_tails

    width = {"AVX512": 32, "AVX2": 16}.get(torch.backends.cpu.get_cpu_capability())
    if width is None:
        pytest.skip("no vectorised sigmoid on this CPU")
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert sigmoid_tails(70).tolist() == ([[70 - 70 % width, 70]] if 70 % width else [])
        assert sigmoid_tails(64).tolist() == []
        torch.set_num_threads(2)
        n = 65541  # above the grain size: two chunks of 32771 and 32770
        assert sigmoid_tails(n).tolist() == [[32771 - 32771 % width, 32771], [n - 32770 % width, n]]
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2, "pool"])
@pytest.mark.parametrize("name", list(PARAMS))
def test_large_layer_fused_equals_eager(name, threads, monkeypatch):
    """A layer big enough to be split over two threads (PyTorch's OpenMP team, or the fallback thread pool) and a
    non-contiguous input: spikes and states equal the eager loops bit for bit, gradients to float32 tolerance."""
    if threads == "pool":
        monkeypatch.setenv("SNNDEPLOY_CPU_THREADS", "pool")
        threads = 2
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        T, B, F = 8, 40, 1751  # 70,040 neurons × 8 steps: 2 ranges at 2 threads, odd sizes for the sigmoid tails
        x = (torch.randn(T, F, B) * 0.8 + 0.6).transpose(1, 2)  # non-contiguous
        g = torch.randn(T, B, F)
        fused = _run(name, x, g, "fused", monkeypatch)
        eager = _run(name, x, g, "eager", monkeypatch)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(fused[0], eager[0]), f"{int((fused[0] != eager[0]).sum())} spikes differ"
    assert 0.05 < float(fused[0].mean()) < 0.95
    for a, b in zip(fused[1], eager[1], strict=True):
        assert torch.equal(a, b)
    torch.testing.assert_close(fused[2], eager[2], rtol=1e-4, atol=1e-5)
    if name == "klif":
        torch.testing.assert_close(fused[3], eager[3], rtol=1e-4, atol=1e-3)


def test_split_runs_on_pytorchs_openmp_team(monkeypatch):
    """With libgomp loaded (PyTorch's Linux wheels), the ranges run on PyTorch's own OpenMP team."""
    from snndeploy.neurons.cpu_kernels import _omp

    if "libgomp" not in open("/proc/self/maps").read():
        pytest.skip("PyTorch here does not use libgomp")
    assert _omp.team() is not None
    calls = []
    orig = _omp.run_on_team
    monkeypatch.setattr(_omp, "run_on_team", lambda *a, **k: (calls.append(a[3]), orig(*a, **k))[1])
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.randn(8, 40, 1751, requires_grad=True)
        s, _ = get_impl("lif", "bptt")(x, LIFParams())
        s.sum().backward()
    finally:
        torch.set_num_threads(old)
    assert calls == [2, 2]  # forward and backward, two threads each


def test_klif_k_grad_does_not_depend_on_the_split(monkeypatch):
    """KLIF's k gradient sums per-range partial sums (float64): 1 and 2 threads agree to float64 rounding."""
    old = torch.get_num_threads()
    x = torch.randn(8, 40, 1751) * 0.8 + 0.6
    g = torch.randn_like(x)
    out = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out.append(_run("klif", x, g, "fused", monkeypatch)[3])
    finally:
        torch.set_num_threads(old)
    torch.testing.assert_close(out[0], out[1], rtol=1e-6, atol=1e-6)


def test_kernel_cache_is_keyed_on_every_kernel_source(monkeypatch, tmp_path):
    """numba checks only a cached function's own file; the cache directory is keyed on all of them, so an edited
    helper can never leave a stale kernel behind. ``SNNDEPLOY_NUMBA_CACHE=0`` turns caching off."""
    import numba

    from snndeploy.neurons.cpu_kernels import _common

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    h = hashlib.sha256(numba.__version__.encode())
    for path in sorted(Path(_common.__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    assert _common._cache_dir() == str(tmp_path / "snndeploy" / f"numba-{h.hexdigest()[:16]}")
    monkeypatch.setenv("SNNDEPLOY_NUMBA_CACHE", "0")
    assert _common._cache_dir() is None


def test_trampoline_failure_falls_back_to_the_thread_pool(monkeypatch):
    """A numba that cannot build the OpenMP trampoline: one RuntimeWarning, then the thread pool, same results."""
    from snndeploy.neurons.cpu_kernels import _omp

    if not _omp.usable():
        pytest.skip("no libgomp: the thread pool is the only path here")

    def broken(*args):
        raise RuntimeError("no cfunc here")

    monkeypatch.setattr(_omp, "_trampoline", broken)
    monkeypatch.setattr(_omp, "_tramps", {})
    monkeypatch.setattr(_omp, "_broken", None)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.randn(8, 40, 1751) * 0.8 + 0.6
        g = torch.randn_like(x)
        with pytest.warns(RuntimeWarning, match="fall back to a thread pool"):
            fused = _run("clif", x, g, "fused", monkeypatch)
        assert not _omp.usable()
        eager = _run("clif", x, g, "eager", monkeypatch)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(fused[0], eager[0])
    torch.testing.assert_close(fused[2], eager[2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("T", [1, 2, 5])
@pytest.mark.parametrize("name", list(PARAMS))
def test_inference_keeps_no_saved_tensors_and_gives_the_same_results(name, T):
    """Without autograd (``torch.no_grad()`` or inputs that need no gradient) the fused loops write the saved
    tensors into one or two rows of scratch instead of [T, B, *] buffers: the same spikes and states, bit for bit."""
    from snndeploy.neurons.cpu_kernels import clif as cf
    from snndeploy.neurons.cpu_kernels import ilif as inf
    from snndeploy.neurons.cpu_kernels import klif as kf
    from snndeploy.neurons.cpu_kernels import lif as lf

    k = torch.tensor(1.1)
    p = PARAMS[name](k)
    x = torch.randn(T, 6, 37) * 0.8 + 0.6
    impl = get_impl(name.split("_")[0], "bptt")
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
        saved = kf.klif_forward(x, None, 1.1, p, save=False)[1:2]
    elif base == "clif":
        saved = cf.clif_forward(x, None, None, p, save=False)[1:3]
    else:
        saved = inf.ilif_forward(x, None, None, None, None, None, p, save=False)[1:4]
    assert all(t.shape[0] <= 2 and t.shape[1:] == x.shape[1:] for t in saved)
