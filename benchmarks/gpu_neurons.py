"""GPU benchmark of the fused Triton neuron kernels (issue #6). Needs one CUDA GPU; prints markdown tables.

For each neuron × T ∈ {4, 8, 32} × T·N ∈ {2^20, 2^24, 2^27} × {fp32, bf16}:
- forward (inference kernel, no grad) and forward+backward (training) median time with
  ``triton.testing.do_bench`` (the working set of the large shapes is far beyond L2);
- logical bytes (each tensor read/written once; see docs/kernels.md), achieved GB/s and the fraction of the
  device-to-device copy bandwidth measured in the same run;
- speed-up over the ``torch`` loop and the hand-written ``eager`` engines on the same GPU and shape;
- speed-up over spikingjelly 2.0's LIF (``LIFNode(step_mode='m', backend='triton')``) for LIF, when
  importable;
- activation memory saved for backward and peak memory above the inputs, per neuron-step, in training.
Then the end-to-end spiking ResNet-18 training step (random CIFAR-shaped data, batch 128, T = 6) per neuron,
``triton`` vs ``torch`` (and ``eager``) engines.

Usage: ``python benchmarks/gpu_neurons.py [--neurons lif clif] [--T 4 8 32] [--log2-sizes 20 24 27]
[--dtypes fp32 bf16] [--ref-max-log2 27] [--no-resnet] [--markdown docs/benchmarks.md]``.
Speed is reported here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import datetime
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NEURONS = ("lif", "clif", "klif", "ilif")
#: Float32 bytes saved for backward per neuron-step by the Triton forward (docs/kernels.md).
SAVED_BYTES = {"lif": 4, "clif": 8, "klif": 4, "ilif": 9}
#: Where the benchmark runs (a smoke test of the control flow may set "cpu" under TRITON_INTERPRET=1).
DEVICE = "cuda"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--neurons", nargs="+", default=list(NEURONS), choices=NEURONS)
    ap.add_argument("--T", nargs="+", type=int, default=[4, 8, 32], help="time steps")
    ap.add_argument("--log2-sizes", nargs="+", type=int, default=[20, 24, 27], help="log2 of T·N")
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"])
    ap.add_argument(
        "--ref-max-log2", type=int, default=27, help="largest log2(T·N) for the torch/eager baselines"
    )
    ap.add_argument("--rep-ms", type=int, default=200, help="do_bench measuring time per case (ms)")
    ap.add_argument("--no-resnet", action="store_true", help="skip the end-to-end ResNet-18 training step")
    ap.add_argument("--resnet-steps", type=int, default=10)
    ap.add_argument("--resnet-batch", type=int, default=128)
    ap.add_argument("--resnet-T", type=int, default=6)
    ap.add_argument(
        "--markdown", type=Path, default=None, help="also write the tables, device, date and command here"
    )
    return ap.parse_args(argv)


# --------------------------------------------------------------------------- helpers


def _dtype(name: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def _params(neuron: str, device):
    """Each neuron's default parameters (KLIF's k on the device)."""
    import torch

    from snndeploy.neurons import CLIFParams, ILIFParams, KLIFParams, LIFParams

    if neuron == "lif":
        return LIFParams()
    if neuron == "clif":
        return CLIFParams()
    if neuron == "klif":
        return KLIFParams(torch.tensor(1.0, device=device, requires_grad=True))
    return ILIFParams()


def _bench(fn: Callable[[], object], rep_ms: int, grad_to_none=None) -> float:
    """Median milliseconds of ``fn`` (triton.testing.do_bench, L2 flushed between runs)."""
    import triton

    return float(
        triton.testing.do_bench(fn, warmup=25, rep=rep_ms, grad_to_none=grad_to_none, return_mode="median")
    )


def copy_bandwidth_gbs(rep_ms: int) -> float:
    """Device-to-device copy bandwidth (read + write) of a 1 GiB buffer, GB/s."""
    import torch

    n = 1 << 28  # 2^28 float32 = 1 GiB
    src = torch.empty(n, dtype=torch.float32, device="cuda").normal_()
    dst = torch.empty_like(src)
    ms = _bench(lambda: dst.copy_(src), rep_ms)
    return 2 * n * 4 / (ms * 1e-3) / 1e9


def logical_bytes(neuron: str, T: int, N: int, esize: int) -> tuple[int, int]:
    """(inference forward, training forward+backward) bytes, each tensor read or written once."""
    fwd = T * N * 2 * esize
    saved = SAVED_BYTES[neuron]
    train = T * N * (2 * esize + saved) + T * N * (saved + 2 * esize + (esize if neuron == "ilif" else 0))
    return fwd, train


def _sj_lif(device):
    """spikingjelly 2.0's multi-step LIF with its Triton backend (or its automatic CUDA choice), or None."""
    try:
        from spikingjelly.activation_based import neuron as sjn
    except Exception:  # noqa: BLE001  (any import failure: not installed or broken)
        return None, "not importable"
    try:
        node = sjn.LIFNode(step_mode="m", backend="triton")
        label = "LIFNode(step_mode='m', backend='triton')"
    except TypeError:
        node = sjn.LIFNode(step_mode="m")
        label = "LIFNode(step_mode='m') (this spikingjelly picks its CUDA/Triton kernel itself)"
    return node.to(device), label


# --------------------------------------------------------------------------- neuron table


def bench_neurons(args: argparse.Namespace, copy_gbs: float) -> list[str]:
    import torch

    from snndeploy.neurons import get_impl

    dev = torch.device(DEVICE)
    sj_node, sj_label = _sj_lif(dev) if "lif" in args.neurons else (None, "")
    rows = [
        "| neuron | T | T·N | dtype | fwd ms | fwd+bwd ms | fwd GB/s | train GB/s | train % copy | "
        "× torch (train) | × eager (train) | × spikingjelly (train) | saved B/step | peak B/step |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(rows), flush=True)
    for neuron in args.neurons:
        params = _params(neuron, dev)
        impls = {b: get_impl(neuron, b) for b in ("triton", "eager", "torch")}
        for T in args.T:
            for lg in args.log2_sizes:
                N = (1 << lg) // T
                for dname in args.dtypes:
                    dtype = _dtype(dname)
                    torch.cuda.empty_cache()
                    x = torch.randn(T, N, device=dev, dtype=dtype)
                    g = torch.randn_like(x)
                    xg = x.clone().requires_grad_()

                    t_fwd = _bench(_fwd_fn(impls["triton"], x, params), args.rep_ms)
                    t_train = _bench(
                        _train_fn(impls["triton"], xg, g, params), args.rep_ms, grad_to_none=[xg]
                    )
                    b_fwd, b_train = logical_bytes(neuron, T, N, x.element_size())
                    gbs_fwd = b_fwd / (t_fwd * 1e-3) / 1e9
                    gbs_train = b_train / (t_train * 1e-3) / 1e9
                    ratios = {}
                    for ref in ("torch", "eager"):
                        if lg <= args.ref_max_log2:
                            try:
                                fn = _train_fn(impls[ref], xg, g, params)
                                ratios[ref] = f"{_bench(fn, args.rep_ms, grad_to_none=[xg]) / t_train:.1f}"
                            except torch.cuda.OutOfMemoryError:
                                ratios[ref] = "OOM"
                                torch.cuda.empty_cache()
                        else:
                            ratios[ref] = "–"
                    sj = "–"
                    if neuron == "lif" and sj_node is not None:
                        # same dynamics as spikingjelly's LIFNode defaults: hard reset to 0, decay_input=True
                        from snndeploy.neurons import LIFParams

                        p_sj = LIFParams(tau=2.0, v_reset=0.0, decay_input=True)
                        t_ours = _bench(
                            _train_fn(impls["triton"], xg, g, p_sj), args.rep_ms, grad_to_none=[xg]
                        )
                        sj = _bench_sj(sj_node, xg, g, args.rep_ms, t_ours)
                    saved, peak = _memory_per_step(impls["triton"], params, xg, g, T * N)
                    rows.append(
                        f"| {neuron} | {T} | 2^{lg} | {dname} | {t_fwd:.3f} | {t_train:.3f} | {gbs_fwd:.0f} "
                        f"| {gbs_train:.0f} | {100 * gbs_train / copy_gbs:.0f}% | {ratios['torch']} "
                        f"| {ratios['eager']} | {sj} | {saved:.2f} | {peak:.2f} |"
                    )
                    print(rows[-1], flush=True)
                    x = g = xg = None
    if "lif" in args.neurons:
        rows.append(
            f"\nspikingjelly baseline: {sj_label}, its defaults (tau=2, hard reset to 0, decay_input=True, "
            "Sigmoid surrogate), against our LIF with the same dynamics on the same input."
        )
    return rows


def _fwd_fn(impl, x, params) -> Callable[[], object]:
    import torch

    def run():
        with torch.no_grad():
            return impl(x, params)

    return run


def _train_fn(impl, xg, g, params) -> Callable[[], None]:
    def run():
        s, _ = impl(xg, params)
        s.backward(g)

    return run


def _bench_sj(node, xg, g, rep_ms: int, t_ours: float) -> str:
    """spikingjelly LIF forward+backward time / ours, as a string."""
    import torch

    try:

        def run():
            node.reset()
            node(xg).backward(g)

        return f"{_bench(run, rep_ms, grad_to_none=[xg]) / t_ours:.2f}"
    except (
        RuntimeError,
        TypeError,
        NotImplementedError,
        torch.cuda.OutOfMemoryError,
    ) as exc:  # report, don't die
        return f"error: {type(exc).__name__}"


def _memory_per_step(impl, params, xg, g, steps: int) -> tuple[float, float]:
    """(bytes held for backward after the forward, excluding the spike output; peak above the inputs) /
    neuron-step."""
    import torch

    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    s, final = impl(xg, params)
    torch.cuda.synchronize()
    held = (
        torch.cuda.memory_allocated()
        - base
        - s.numel() * s.element_size()
        - sum(f.numel() * 4 for f in final)
    )
    s.backward(g)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    del s, final
    xg.grad = None
    return held / steps, peak / steps


# --------------------------------------------------------------------------- ResNet-18


def bench_resnet(args: argparse.Namespace) -> list[str]:
    """End-to-end training step of the spiking ResNet-18 (default batch 128, T = 6, CIFAR-shaped random
    data)."""
    import torch

    try:
        from snndeploy.models import ModelConfig, build_model

        ModelConfig(model="resnet18", input_shape=(3, 32, 32), num_classes=10)
    except (ImportError, KeyError, ValueError) as exc:
        msg = f"ResNet-18 step skipped: snndeploy.models has no resnet18 builder yet ({exc})."
        print(msg, flush=True)
        return [msg]
    rows = ["| neuron | backend | step ms | peak GiB | × vs torch |", "|---|---|---|---|---|"]
    print("\n".join(rows), flush=True)
    T, B = args.resnet_T, args.resnet_batch
    x = torch.randn(T, B, 3, 32, 32, device=DEVICE)
    y = torch.randint(0, 10, (B,), device=DEVICE)
    torch.backends.cudnn.benchmark = True
    for neuron in args.neurons:
        times = {}
        for backend in ("torch", "eager", "triton"):
            cfg = ModelConfig(model="resnet18", input_shape=(3, 32, 32), num_classes=10, neuron=neuron)
            model = build_model(cfg, backend=backend).to(DEVICE)
            step = _train_step_fn(model, x, y)
            try:
                for _ in range(3):
                    step()
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                ms = []
                for _ in range(args.resnet_steps):
                    t0 = time.perf_counter()
                    step()
                    torch.cuda.synchronize()
                    ms.append((time.perf_counter() - t0) * 1e3)
                times[backend] = statistics.median(ms)
                peak = torch.cuda.max_memory_allocated() / 2**30
                ratio = times["torch"] / times[backend] if "torch" in times else math.nan
                rows.append(f"| {neuron} | {backend} | {times[backend]:.1f} | {peak:.2f} | {ratio:.2f} |")
            except torch.cuda.OutOfMemoryError:
                rows.append(f"| {neuron} | {backend} | OOM | – | – |")
            print(rows[-1], flush=True)
            model = step = None
            torch.cuda.empty_cache()
    return rows


def _train_step_fn(model, x, y) -> Callable[[], None]:
    """One SGD step of ``model`` on (x [T, B, ...], y [B]); the prediction is the mean of the logits over
    T."""
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
        loss.backward()
        opt.step()

    return step


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(
            "gpu_neurons.py: no CUDA GPU here; this benchmark needs one (the kernels' correctness is tested "
            "on CPU by `TRITON_INTERPRET=1 pytest tests/test_kernels.py`).",
            file=sys.stderr,
        )
        return 2
    try:
        import triton  # noqa: F401

        from snndeploy.neurons.triton_kernels import _common
    except ImportError as exc:
        print(f"gpu_neurons.py: Triton is not importable ({exc}).", file=sys.stderr)
        return 2
    if _common.INTERPRET:
        print("gpu_neurons.py: unset TRITON_INTERPRET to benchmark the compiled kernels.", file=sys.stderr)
        return 2
    dev_name = torch.cuda.get_device_name()
    copy_gbs = copy_bandwidth_gbs(args.rep_ms)
    header = [
        f"Device: {dev_name}; torch {torch.__version__}, triton {triton.__version__}; "
        f"date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"Command: python {' '.join(sys.argv)}",
        f"Device-to-device copy bandwidth (1 GiB, read+write): {copy_gbs:.0f} GB/s",
        "",
    ]
    print("\n".join(header), flush=True)
    out = header + bench_neurons(args, copy_gbs)
    if not args.no_resnet:
        out += [
            "",
            f"Spiking ResNet-18 training step (batch {args.resnet_batch}, T = {args.resnet_T}, "
            "random CIFAR-shaped data):",
            "",
        ]
        out += bench_resnet(args)
    if args.markdown is not None:
        from snndeploy.io import atomic_write

        with atomic_write(args.markdown) as fh:
            fh.write("# GPU neuron benchmarks (benchmarks/gpu_neurons.py)\n\n" + "\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
