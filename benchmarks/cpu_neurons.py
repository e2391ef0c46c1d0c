"""CPU benchmark of the neuron backends: "bptt" (hand-written BPTT Function) vs "torch" (autograd through a loop).

For each neuron, layer size B×F and sequence length, forward + backward of spikes·g (one random upstream gradient)
on [T, B, F] float32 inputs, 2 torch threads. Three implementations are measured side by side in one run (repeats
alternate between them, so background load hits all alike): "torch", "bptt" as it runs by default on the CPU (its
fused numba loops, ``snndeploy/neurons/cpu_kernels``) and "bptt" with its eager PyTorch loops
(``SNNDEPLOY_FUSED_CPU=0``, what it runs where numba is missing). Reported:

- time: median (and minimum, less sensitive to other processes on a shared machine) over ``--repeats`` runs
  (after ``--warmup`` runs) of ``time.perf_counter`` around forward + backward; the speed-ups are
  torch time / bptt time of the medians and of the minima;
- saved: bytes the autograd graph keeps for backward after the forward (unique storages seen by
  ``torch.autograd.graph.saved_tensors_hooks``, excluding the input's own storage, which the caller holds anyway):
  the activation memory that accumulates across the layers of a network;
- peak: the high-water mark of the process's resident memory (``VmHWM``, reset just before) during one
  forward + backward, minus the resident memory just before it, measured in a fresh subprocess per (neuron, backend, T) with
  ``MALLOC_MMAP_THRESHOLD_=65536`` so that freed tensors go back to the OS at once. It includes everything
  the step touches: the output spikes, the input gradient, the saved tensors and all temporaries.

Usage: ``python benchmarks/cpu_neurons.py [--T 8 32] [--sizes 16x256 64x1024] [--repeats 9]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

import torch

from snndeploy.neurons import CLIFParams, ILIFParams, KLIFParams, LIFParams, cpu_kernels, get_impl

NEURONS = ["lif", "clif", "klif", "ilif"]
#: "bptt-eager" is backend "bptt" with its fused CPU loops switched off.
BACKENDS = ["torch", "bptt", "bptt-eager"]


def make_params(name: str):
    """Each neuron with the defaults of issue #3 (KLIF's k a learnable scalar)."""
    if name == "lif":
        return LIFParams()
    if name == "clif":
        return CLIFParams()
    if name == "klif":
        return KLIFParams(torch.tensor(1.0, requires_grad=True))
    return ILIFParams()


def make_inputs(T: int, batch: int, features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs around threshold (about a third of the neurons fire per step) and a random upstream gradient."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, batch, features, generator=gen).mul_(0.8).add_(0.5)  # in place: no transient copies
    g = torch.randn(T, batch, features, generator=gen)
    return x, g


def fwd_bwd(name: str, backend: str, params, x: torch.Tensor, g: torch.Tensor) -> None:
    xx = x.detach().requires_grad_()
    os.environ[cpu_kernels.ENV_SWITCH] = "0" if backend == "bptt-eager" else "1"
    s, _ = get_impl(name, backend.split("-")[0])(xx, params)
    s.backward(g)


def fwd_no_grad(name: str, backend: str, params, x: torch.Tensor, g: torch.Tensor) -> None:
    """Inference: forward only under ``torch.no_grad()`` (``g`` unused; same signature as ``fwd_bwd``)."""
    os.environ[cpu_kernels.ENV_SWITCH] = "0" if backend == "bptt-eager" else "1"
    with torch.no_grad():
        get_impl(name, backend.split("-")[0])(x, params)


def saved_bytes(name: str, backend: str, params, x: torch.Tensor) -> int:
    """Bytes of unique storages saved for backward by one forward (input storage excluded)."""
    xx = x.detach().requires_grad_()
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    os.environ[cpu_kernels.ENV_SWITCH] = "0" if backend == "bptt-eager" else "1"
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        s, _ = get_impl(name, backend.split("-")[0])(xx, params)
    storages.pop(xx.untyped_storage().data_ptr(), None)
    if isinstance(params, KLIFParams):
        storages.pop(params.k.untyped_storage().data_ptr(), None)
    del s
    return sum(storages.values())


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_child(name: str, backend: str, T: int, batch: int, features: int) -> None:
    """Run in a fresh process: print the peak resident-memory increase (bytes) of one forward + backward.

    Linux: writing 5 to /proc/self/clear_refs resets the high-water mark VmHWM to the current VmRSS, so the
    peak of the measured step alone is VmHWM − VmRSS(before).
    """
    torch.set_num_threads(2)
    params = make_params(name)
    # Warm-up with the same shape: loads code paths, compiles what is compiled on first use (the fused loops'
    # OpenMP trampolines) and starts the OpenMP threads (their stacks and malloc arenas would otherwise count as the
    # step's memory). MALLOC_MMAP_THRESHOLD_ returns the warm-up's tensors to the OS when they are freed.
    x, g = make_inputs(T, batch, features)
    fwd_bwd(name, backend, params, x, g)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    fwd_bwd(name, backend, params, x, g)
    print((_status_kib("VmHWM") - before) * 1024)


def peak_bytes(name: str, backend: str, T: int, batch: int, features: int) -> int:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS="2")
    cmd = [sys.executable, __file__, "--peak-child", name, backend, str(T), str(batch), str(features)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1])


def time_pair(name: str, T: int, batch: int, features: int, warmup: int, repeats: int,
              step=fwd_bwd) -> dict[str, list[float]]:
    """Seconds of ``step`` (forward + backward, or ``fwd_no_grad``) for every repeat per backend, repeats interleaved
    between the backends."""
    params = make_params(name)
    x, g = make_inputs(T, batch, features)
    times: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for i in range(warmup + repeats):
        for backend in BACKENDS:
            t0 = time.perf_counter()
            step(name, backend, params, x, g)
            dt = time.perf_counter() - t0
            if i >= warmup:
                times[backend].append(dt)
    return times


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def parse_size(text: str) -> tuple[int, int]:
    b, _, f = text.partition("x")
    return int(b), int(f)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--sizes", nargs="+", default=["16x256", "64x1024"], help="layer sizes BxF (batch x features)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--neurons", nargs="+", default=NEURONS, choices=NEURONS)
    ap.add_argument("--no-peak", action="store_true", help="skip the subprocess peak-RSS measurement")
    ap.add_argument("--inference", action="store_true",
                    help="time the forward alone under torch.no_grad() (nothing is saved: no memory columns)")
    ap.add_argument("--peak-child", nargs=5, metavar=("NEURON", "BACKEND", "T", "BATCH", "FEATURES"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peak_child:
        n, b, T, B, F = args.peak_child
        peak_child(n, b, int(T), int(B), int(F))
        return

    torch.set_num_threads(2)
    sizes = [parse_size(t) for t in args.sizes]
    mib = 2.0**20
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# cpu_neurons: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, {os.cpu_count()} cpus, "
          f"load average {load:.1f}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}, fused loops: {cpu_kernels.engine('cpu')}, "
          f"fp32, median of {args.repeats} after {args.warmup} warm-up"
          + (", forward only under torch.no_grad()" if args.inference else ", forward + backward"))
    step = fwd_no_grad if args.inference else fwd_bwd
    print("| neuron | B×F | T | torch ms (median / min) | bptt ms (median / min) | speed-up (median / min) "
          "| bptt eager loops ms (median) | eager speed-up (median) "
          "| saved torch MiB | saved bptt MiB | saved ratio | peak torch MiB | peak bptt MiB | peak ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    # Global warm-up: every configuration once before any timing, so that the first row does not pay for the
    # OpenMP thread start-up, the kernels' compilation (or cache load) and the growth of the malloc heap.
    for name in args.neurons:
        for batch, features in sizes:
            for T in args.T:
                x, g = make_inputs(T, batch, features)
                for backend in BACKENDS:
                    step(name, backend, make_params(name), x, g)
    for name in args.neurons:
        for batch, features in sizes:
            for T in args.T:
                runs = time_pair(name, T, batch, features, args.warmup, args.repeats, step)
                med = {b: statistics.median(v) for b, v in runs.items()}
                low = {b: min(v) for b, v in runs.items()}
                x, _ = make_inputs(T, batch, features)
                if args.inference:  # nothing is saved; the memory columns say so
                    sv = {b: float("nan") for b in ("torch", "bptt")}
                else:
                    sv = {b: saved_bytes(name, b, make_params(name), x) for b in ("torch", "bptt")}
                if args.no_peak or args.inference:
                    pk = {b: float("nan") for b in ("torch", "bptt")}
                else:
                    pk = {b: peak_bytes(name, b, T, batch, features) for b in ("torch", "bptt")}
                print(f"| {name} | {batch}×{features} | {T} | {med['torch'] * 1e3:.2f} / {low['torch'] * 1e3:.2f} "
                      f"| {med['bptt'] * 1e3:.2f} / {low['bptt'] * 1e3:.2f} "
                      f"| {med['torch'] / med['bptt']:.2f}x / {low['torch'] / low['bptt']:.2f}x "
                      f"| {med['bptt-eager'] * 1e3:.2f} | {med['torch'] / med['bptt-eager']:.2f}x "
                      f"| {sv['torch'] / mib:.2f} | {sv['bptt'] / mib:.2f} | {sv['bptt'] / sv['torch']:.2f} "
                      f"| {pk['torch'] / mib:.1f} | {pk['bptt'] / mib:.1f} | {pk['bptt'] / pk['torch']:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
