"""Fuzz the integer Xylo model against the vendor's C++ xylosim (rockpool ``XyloSim``), spikes and states.

Usage: ``python benchmarks/vendor_fuzz_xylo.py [--cases N] [--seed S] [--batch K] [--max-t T]``

Draws ``N`` random networks and inputs (``snndeploy.hardware.chips.xylo_fuzz.random_case``: all three chips,
grid-edge weights, saturating and silent inputs, T up to ``--max-t``), runs them ``K`` at a time through one
vendor driver call each, and compares every spike count and recorded state (``Vmem``, ``Isyn``, ``Isyn2``,
``Vmem_out``, ``Isyn_out``) exactly. Prints the case count, the mismatch count, the first mismatch in detail,
and timings. Needs the ``xylosim`` vendor venv (``snndeploy vendor setup xylosim``). Exit code 1 on any
mismatch.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time

import numpy as np

from snndeploy.hardware.chips.xylo_fuzz import first_mismatch, random_case
from snndeploy.hardware.chips.xylo_vendor import vendor_run_many


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=200, help="cases per vendor driver call")
    ap.add_argument("--max-t", type=int, default=100)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    mismatches, first = 0, None
    per_chip: collections.Counter[str] = collections.Counter()
    steps = neurons = 0
    t_mine = t_vendor = 0.0
    done = 0
    while done < args.cases:
        cases = [random_case(rng, args.max_t) for _ in range(min(args.batch, args.cases - done))]
        t0 = time.perf_counter()
        vendor = vendor_run_many(cases)
        t_vendor += time.perf_counter() - t0
        for k, ((net, x), ref) in enumerate(zip(cases, vendor, strict=True)):
            t0 = time.perf_counter()
            mine = net.run(x)
            t_mine += time.perf_counter() - t0
            per_chip[net.chip] += 1
            steps += x.shape[0] * x.shape[1]
            neurons += net.n_hidden + net.n_out
            bad = first_mismatch(mine, ref)
            if bad is not None:
                mismatches += 1
                if first is None:
                    first = {"case": done + k, "seed": args.seed, "chip": net.chip, "sizes":
                             [net.n_in, net.n_hidden, net.n_out, net.synapses], "shifts":
                             [net.weight_shift_in, net.weight_shift_rec, net.weight_shift_out], **bad}
        done += len(cases)
    print(f"cases: {done} ({', '.join(f'{c} {n}' for c, n in sorted(per_chip.items()))}); "
          f"sample-steps: {steps}; mean neurons per network: {neurons / max(done, 1):.1f}")
    print(f"mismatches (spikes or states): {mismatches}")
    if first is not None:
        print("first mismatch:", json.dumps(first))
    print(f"time: integer model {t_mine:.1f} s, vendor (incl. subprocess starts) {t_vendor:.1f} s")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
