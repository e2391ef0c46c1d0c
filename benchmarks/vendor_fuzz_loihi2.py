"""Fuzz the integer Loihi 2 model against lava's own fixed_pt Dense + LIF models, and netx artifacts against
netx.

Usage: ``python benchmarks/vendor_fuzz_loihi2.py [--cases N] [--seed S] [--family F] [--batch K] [--netx M]``

Draws ``N`` random networks and inputs (``snndeploy.hardware.chips.loihi2_fuzz.random_cases``: depth 1-3, T up
to 100, binary and 8/16/24-bit graded inputs, weights at the grid edges and all sign modes, weight exponents
−8..7, 1..8 weight bits, decays and thresholds at their register edges, 13-bit bias edges, silent and
saturating inputs, fan-ins that wrap lava's int32 and 24-bit arithmetic), in families of ``F`` that share
lava's per-matrix Dense scalars (one lava run each), ``K`` cases per driver call. Every spike, ``u`` and ``v``
is compared exactly. With ``--netx M``, M random netx-representable networks are written with
``write_artifacts``, loaded by lava-dl's netx and compared the same way. Prints the case counts, mismatches,
the first mismatch in detail and timings. Needs the ``lava`` vendor venv (``snndeploy vendor setup lava``).
Exit code 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from snndeploy.hardware.chips.loihi2_fuzz import compare_runs, random_cases, random_netx_case
from snndeploy.hardware.chips.loihi2_netx import write_artifacts
from snndeploy.hardware.chips.loihi2_vendor import netx_run_many, vendor_run_many


def fuzz_core(args: argparse.Namespace) -> tuple[int, int, dict | None]:
    cases = random_cases(args.seed, args.cases, family=args.family)
    mismatches, first, runs, t_vendor, t_mine = 0, None, 0, 0.0, 0.0
    graded = sum(net.input_message_bits > 0 for net, _ in cases)
    steps = sum(int(np.prod(np.shape(x)[:2])) for _, x in cases)
    for lo in range(0, len(cases), args.batch):
        chunk = cases[lo : lo + args.batch]
        t0 = time.perf_counter()
        vendor, info = vendor_run_many(chunk)
        t_vendor += time.perf_counter() - t0
        runs += info["runs"]
        t0 = time.perf_counter()
        mine = [net.run(x) for net, x in chunk]
        t_mine += time.perf_counter() - t0
        check = compare_runs(chunk, vendor, mine)
        mismatches += len(check.mismatched_cases)
        if first is None and check.first is not None:
            first = {**check.first, "case": lo + check.first["case"], "seed": args.seed}
    print(
        f"lava fixed_pt: cases {len(cases)} ({graded} graded-input), sample-steps {steps}, lava runs {runs}"
    )
    print(f"lava fixed_pt: mismatches (spikes, u or v): {mismatches}")
    print(f"time: integer model {t_mine:.1f} s, lava (incl. subprocess starts) {t_vendor:.1f} s")
    return len(cases), mismatches, first


def fuzz_netx(args: argparse.Namespace) -> tuple[int, int, dict | None]:
    rng = np.random.default_rng(args.seed + 1)
    cases = [random_netx_case(rng) for _ in range(args.netx)]
    with tempfile.TemporaryDirectory() as tmp:
        items = [(write_artifacts(net, Path(tmp) / f"n{i}")[0], x) for i, (net, x) in enumerate(cases)]
        t0 = time.perf_counter()
        vendor, _ = netx_run_many(items)
        seconds = time.perf_counter() - t0
    check = compare_runs(cases, vendor)
    print(
        f"netx hdf5: networks {len(cases)}, mismatches (spikes, u or v): {len(check.mismatched_cases)}, "
        f"time {seconds:.1f} s"
    )
    return len(cases), len(check.mismatched_cases), check.first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", type=int, default=64, help="cases sharing one lava run's Dense scalars")
    ap.add_argument("--batch", type=int, default=512, help="cases per vendor driver call")
    ap.add_argument("--netx", type=int, default=0, help="random netx artifacts to load back in lava-dl")
    args = ap.parse_args()
    total, bad, first = fuzz_core(args)
    if args.netx:
        n, m, f = fuzz_netx(args)
        total, bad, first = total + n, bad + m, first or f
    print(f"total: {total} cases, {bad} mismatches")
    if first is not None:
        print("first mismatch:", json.dumps(first))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
