"""CPU benchmark of the neuron engines against the reference and the peers, side by side in one run.

For each neuron, layer size B×F and sequence length T: forward + backward of spikes·g (one random upstream
gradient; ``--inference``: the forward alone under ``torch.no_grad()``) on [T, B, F] float32 inputs around the
threshold, 2 torch threads. Measured in interleaved rounds (each round runs every implementation once, in a
rotating order, so that background load hits all alike; this VM stalls at random, so single runs mislead); the
table gives medians over the rounds.

Columns:
- ``torch``: the reference engine (autograd through the step loop); ``numba``: the fused CPU loops; ``eager``:
  the hand-written BPTT in PyTorch ops (what ``auto`` runs without numba);
- ``spikingjelly``: spikingjelly 2.0's node with the same dynamics (``LIFNode``, ``ComplementaryLIFNode``,
  ``KLIFNode(scale_reset=False)``; its CPU path, ``step_mode="m"``; none for ILIF, whose spikingjelly namesake
  is a different neuron); ``norse``: ``norse.torch.LIF`` (its default current-based LIF; LIF rows only);
- ``× torch``, ``× sj``, ``× norse``: time of that column / time of ``numba``;
- ``floor``: the logical bytes the numba engine must move (docs/kernels.md: LIF and KLIF 24, CLIF 32, ILIF 38
  bytes per neuron-step for forward + backward; 8 for inference) divided by the copy bandwidth measured in the
  same run (``dst.copy_(src)`` of 256 MiB, bytes read + written); ``/ floor``: numba's time over it;
- ``× torch (min)``: the same ratio of the fastest rounds (what a quiet machine gives).
With ``--memory``: bytes saved for backward (unique storages seen by ``saved_tensors_hooks``, input excluded)
and the peak resident-memory increase of one step in a fresh process (``VmHWM`` after
``/proc/self/clear_refs``), for ``torch`` and ``numba``. ``--first-call``: the first call of each neuron's
numba engine in fresh processes (warm cache), import excluded. ``--breakdown``: where the time goes (forward
and backward apart, one thread, the fixed cost of a call, the floor).

Usage: ``python benchmarks/cpu_neurons.py [--T 8 16 32] [--sizes 16x256 128x1024] [--rounds 15] [--memory]``.
Timings are printed, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone

import torch

from snndeploy.neurons import CLIFParams, ILIFParams, KLIFParams, LIFParams, get_impl, unavailable
from snndeploy.neurons.engine import Backend

NEURONS = ["lif", "clif", "klif", "ilif"]
ENGINES = ["torch", "numba", "eager"]
PEERS = ["spikingjelly", "norse"]
#: Logical bytes per neuron-step the numba engine moves (docs/kernels.md): forward + backward, and inference.
BYTES_TRAIN = {"lif": 24, "klif": 24, "clif": 32, "ilif": 38}
BYTES_INFERENCE = 8

Run = Callable[[torch.Tensor], torch.Tensor]


def make_params(name: str):
    """Each neuron with its defaults (KLIF's k a learnable scalar)."""
    if name == "lif":
        return LIFParams()
    if name == "clif":
        return CLIFParams()
    if name == "klif":
        return KLIFParams(torch.tensor(1.0, requires_grad=True))
    return ILIFParams()


def engine_run(name: str, backend: str, params=None) -> Run:
    seq, params = get_impl(name, backend), params if params is not None else make_params(name)
    return lambda x: seq(x, params)[0]


def spikingjelly_run(name: str) -> Run | None:
    """spikingjelly 2.0's node with our neuron's default dynamics, multi-step, reset before every call."""
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except ImportError:
        return None
    if name == "lif":
        node = neuron.LIFNode(
            tau=2.0,
            decay_input=False,
            v_reset=None,
            surrogate_function=surrogate.Sigmoid(alpha=4.0),
            step_mode="m",
        )
    elif name == "clif":
        node = neuron.ComplementaryLIFNode(
            tau=2.0, v_threshold=1.0, surrogate_function=surrogate.Rect(alpha=1.0), step_mode="m"
        )
    elif name == "klif":
        node = neuron.KLIFNode(
            scale_reset=False,
            tau=2.0,
            v_threshold=1.0,
            v_reset=0.0,
            decay_input=True,
            surrogate_function=surrogate.Sigmoid(alpha=4.0),
            step_mode="m",
        )
    else:
        return None

    def run(x: torch.Tensor) -> torch.Tensor:
        node.reset()
        return node(x)

    return run


def norse_run(name: str) -> Run | None:
    """``norse.torch.LIF`` (its own default dynamics) over the sequence; LIF rows only."""
    if name != "lif":
        return None
    try:
        import norse.torch as norse
    except ImportError:
        return None
    layer = norse.LIF()
    return lambda x: layer(x)[0]


def implementations(name: str) -> dict[str, Run]:
    out = {b: engine_run(name, b) for b in ENGINES if Backend(b) not in unavailable()}
    for peer, make in (("spikingjelly", spikingjelly_run), ("norse", norse_run)):
        run = make(name)
        if run is not None:
            out[peer] = run
    return out


def make_inputs(T: int, batch: int, features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs around threshold (about a third of the neurons fire per step) and a random upstream gradient."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, batch, features, generator=gen).mul_(0.8).add_(0.5)  # in place: no transient copies
    g = torch.randn(T, batch, features, generator=gen)
    return x, g


def fwd_bwd(run: Run, x: torch.Tensor, g: torch.Tensor) -> None:
    s = run(x.detach().requires_grad_())
    s.backward(g)


def fwd_no_grad(run: Run, x: torch.Tensor, g: torch.Tensor) -> None:
    with torch.no_grad():
        run(x)


def interleaved(impls: dict[str, Run], step, x, g, warmup: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per implementation for each of ``rounds`` rounds; every round runs each once, the order
    rotating."""
    names = list(impls)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        shift = r % len(names)
        for n in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            step(impls[n], x, g)
            dt = time.perf_counter() - t0
            if r >= warmup:
                times[n].append(dt)
    return times


def copy_bandwidth(mib: int = 256, repeats: int = 9) -> float:
    """Bytes per second of ``dst.copy_(src)`` (bytes read + written), median of ``repeats``, far beyond the
    L3."""
    src = torch.ones(mib << 18)
    dst = torch.empty_like(src)
    dst.copy_(src)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        samples.append(time.perf_counter() - t0)
    return 2 * src.numel() * 4 / statistics.median(samples)


def saved_bytes(run: Run, x: torch.Tensor, params_storage: set[int]) -> int:
    """Bytes of unique storages saved for backward by one forward (input storage excluded)."""
    xx = x.detach().requires_grad_()
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        s = run(xx)
    for ptr in params_storage | {xx.untyped_storage().data_ptr()}:
        storages.pop(ptr, None)
    del s
    return sum(storages.values())


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_child(name: str, backend: str, T: int, batch: int, features: int) -> None:
    """In a fresh process: print the peak resident-memory increase (bytes) of one forward + backward (after
    one
    warm-up call of the same shape; writing 5 to /proc/self/clear_refs resets VmHWM to the current VmRSS)."""
    torch.set_num_threads(2)
    run = engine_run(name, backend)
    x, g = make_inputs(T, batch, features)
    fwd_bwd(run, x, g)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    fwd_bwd(run, x, g)
    print((_status_kib("VmHWM") - before) * 1024)


def peak_bytes(name: str, backend: str, T: int, batch: int, features: int) -> int:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS="2")
    cmd = [sys.executable, __file__, "--peak-child", name, backend, str(T), str(batch), str(features)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1])


_FIRST_CALL = """
import sys, time, torch
import snndeploy.neurons as n
torch.set_num_threads(2)
name = sys.argv[1]
k = torch.tensor(1.0, requires_grad=True)
p = {"lif": n.LIFParams(), "clif": n.CLIFParams(), "klif": n.KLIFParams(k), "ilif": n.ILIFParams()}[name]
x = torch.randn(8, 64, 1024, requires_grad=True)
t0 = time.perf_counter()
s, _ = n.get_impl(name, "numba")(x, p)
s.sum().backward()
print(time.perf_counter() - t0)
"""


def first_calls(neurons: list[str], processes: int) -> None:
    """Median seconds of the first forward + backward of the numba engine in fresh processes (cache warmed by
    the
    first process, which is not counted)."""
    print("| neuron | first call s (median) | processes |")
    print("|---|---|---|")
    for name in neurons:
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", _FIRST_CALL, name], check=True, capture_output=True, text=True
                ).stdout.split()[-1]
            )
            for _ in range(processes + 1)
        ]
        print(f"| {name} | {statistics.median(runs[1:]):.3f} | {processes} |", flush=True)


def breakdown(
    neurons: list[str], sizes: list[tuple[int, int]], Ts: list[int], rounds: int, bandwidth: float
) -> None:
    """Where the time goes: forward and backward of the numba and torch engines timed apart (medians of
    interleaved rounds), the numba forward + backward on one thread, the fixed cost of a call (a 256-neuron
    layer, T = 1) and the memory floor."""
    print(
        "| neuron | B×F | T | numba fwd ms | numba bwd ms | numba 1 thread ms | torch fwd ms | torch bwd ms "
        "| fixed cost ms | floor ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    tiny = make_inputs(1, 1, 256)
    for name in neurons:
        runs = {b: engine_run(name, b) for b in ("numba", "torch")}
        for batch, features in sizes:
            for T in Ts:
                x, g = make_inputs(T, batch, features)
                times: dict[str, list[float]] = {k: [] for k in ("nf", "nb", "n1", "tf", "tb", "fixed")}
                for r in range(2 + rounds):
                    for key, run in (("n", runs["numba"]), ("t", runs["torch"])):
                        xx = x.detach().requires_grad_()
                        t0 = time.perf_counter()
                        s = run(xx)
                        t1 = time.perf_counter()
                        s.backward(g)
                        t2 = time.perf_counter()
                        if r >= 2:
                            times[key + "f"].append(t1 - t0)
                            times[key + "b"].append(t2 - t1)
                # one thread, in rounds of their own (a new thread count restarts PyTorch's OpenMP team)
                torch.set_num_threads(1)
                for r in range(2 + rounds):
                    t0 = time.perf_counter()
                    fwd_bwd(runs["numba"], x, g)
                    t1 = time.perf_counter()
                    fwd_bwd(runs["numba"], *tiny)
                    t2 = time.perf_counter()
                    if r >= 2:
                        times["n1"].append(t1 - t0)
                        times["fixed"].append(t2 - t1)
                torch.set_num_threads(2)
                med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
                floor = BYTES_TRAIN[name] * T * batch * features / bandwidth * 1e3
                print(
                    f"| {name} | {batch}×{features} | {T} | {med['nf']:.2f} | {med['nb']:.2f} "
                    f"| {med['n1']:.2f} "
                    f"| {med['tf']:.2f} | {med['tb']:.2f} | {med['fixed']:.3f} | {floor:.2f} |",
                    flush=True,
                )


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


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v * 1e3:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{a / b:.2f}x"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument(
        "--sizes",
        nargs="+",
        default=["16x256", "32x512", "64x1024", "128x1024"],
        help="layer sizes BxF (batch x features)",
    )
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--neurons", nargs="+", default=NEURONS, choices=NEURONS)
    ap.add_argument(
        "--memory", action="store_true", help="add the saved-for-backward and peak-memory columns"
    )
    ap.add_argument("--inference", action="store_true", help="time the forward alone under torch.no_grad()")
    ap.add_argument(
        "--first-call",
        type=int,
        metavar="PROCESSES",
        default=0,
        help="only measure the numba engine's first call in this many fresh processes",
    )
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="where the time goes: forward and backward apart, one thread, the fixed cost of a call, floor",
    )
    ap.add_argument(
        "--peak-child",
        nargs=5,
        metavar=("NEURON", "BACKEND", "T", "BATCH", "FEATURES"),
        help=argparse.SUPPRESS,
    )
    args = ap.parse_args(argv)
    if args.peak_child:
        n, b, T, B, F = args.peak_child
        peak_child(n, b, int(T), int(B), int(F))
        return
    torch.set_num_threads(2)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# cpu_neurons: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
        f"{os.cpu_count()} cpus, load average {load:.1f}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, cpu capability {torch.backends.cpu.get_cpu_capability()}, fp32, "
        f"median of {args.rounds} interleaved rounds after {args.warmup}"
        + (", forward only under torch.no_grad()" if args.inference else ", forward + backward")
    )
    if args.first_call:
        first_calls(args.neurons, args.first_call)
        return
    bandwidth = copy_bandwidth()
    print(f"# copy bandwidth (dst.copy_(src), 256 MiB, read + write): {bandwidth / 1e9:.1f} GB/s")
    if args.breakdown:
        breakdown(args.neurons, [parse_size(t) for t in args.sizes], args.T, args.rounds, bandwidth)
        return
    step = fwd_no_grad if args.inference else fwd_bwd
    head = (
        "| neuron | B×F | T | torch ms | numba ms | eager ms | spikingjelly ms | norse ms | numba × torch "
        "| numba × sj | numba × norse | floor ms | numba / floor | numba × torch (min) |"
    )
    if args.memory and not args.inference:
        head += " saved torch MiB | saved numba MiB | peak torch MiB | peak numba MiB |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    sizes = [parse_size(t) for t in args.sizes]
    for name in args.neurons:
        impls = implementations(name)
        for batch, features in sizes:
            for T in args.T:
                x, g = make_inputs(T, batch, features)
                runs = interleaved(impls, step, x, g, args.warmup, args.rounds)
                med: dict[str, float | None] = dict.fromkeys(ENGINES + PEERS)
                med.update({n: statistics.median(v) for n, v in runs.items()})
                low = {n: min(v) for n, v in runs.items()}
                per_step = BYTES_INFERENCE if args.inference else BYTES_TRAIN[name]
                floor = per_step * T * batch * features / bandwidth
                num = med["numba"]
                row = (
                    f"| {name} | {batch}×{features} | {T} | {_ms(med['torch'])} | {_ms(num)} "
                    f"| {_ms(med['eager'])} "
                    f"| {_ms(med['spikingjelly'])} | {_ms(med['norse'])} | {_ratio(med['torch'], num)} "
                    f"| {_ratio(med['spikingjelly'], num)} | {_ratio(med['norse'], num)} | {floor * 1e3:.2f} "
                    f"| {_ratio(num, floor)} | {_ratio(low['torch'], low['numba'])} |"
                )
                if args.memory and not args.inference:
                    params = make_params(name)
                    k = {params.k.untyped_storage().data_ptr()} if name == "klif" else set()
                    mib = 2.0**20
                    sv = [saved_bytes(engine_run(name, b, params), x, k) / mib for b in ("torch", "numba")]
                    pk = [peak_bytes(name, b, T, batch, features) / mib for b in ("torch", "numba")]
                    row += f" {sv[0]:.2f} | {sv[1]:.2f} | {pk[0]:.1f} | {pk[1]:.1f} |"
                print(row, flush=True)


if __name__ == "__main__":
    main()
