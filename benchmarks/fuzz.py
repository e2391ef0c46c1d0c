"""Longer fuzz run (CI runs the short version in tests/fuzz): mutated files of every kind and random NIR
graphs.

Usage: ``python benchmarks/fuzz.py [--cases N] [--graphs M] [--seed S]``

Each case's only acceptable outcomes are success or an ``SnnDeployError``; any other exception is a bug and is
printed with its mutation. Prints, per file kind, the number of cases, how many were accepted and how many
were refused (by error class), the bug count, and the time per case. Record the counts in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))

import torch  # noqa: E402
from fuzz_targets import MUTATIONS, TARGETS, mutate, nir_graphs, run_case  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from snndeploy.errors import SnnDeployError  # noqa: E402
from snndeploy.limits import resource_limits  # noqa: E402
from snndeploy.nirsim import NIRSimulator  # noqa: E402


def fuzz_files(cases: int, seed: int, tmp: Path) -> int:
    bugs_total = 0
    print(f"{'kind':<11} {'cases':>6} {'accepted':>8} {'refused':>8} {'bugs':>5} {'ms/case':>8}  refused by")
    for name, target in TARGETS.items():
        rng = random.Random(f"{seed}-{name}")
        data0 = target.seed()
        outcomes: collections.Counter[str] = collections.Counter()
        bugs = 0
        t0 = time.perf_counter()
        for i in range(cases):
            kind = MUTATIONS[i % len(MUTATIONS)]
            data = mutate(data0, kind, rng)
            try:
                outcomes[run_case(target, data, tmp)] += 1
            except Exception as exc:  # a bug: not an snndeploy error
                bugs += 1
                if bugs <= 3:
                    tb = traceback.extract_tb(exc.__traceback__)[-1]
                    print(f"  BUG {name}/{kind}: {type(exc).__name__}: {str(exc)[:200]} at "
                          f"{tb.filename}:{tb.lineno}")
        dt = (time.perf_counter() - t0) / cases * 1e3
        refused = {k.split(":", 1)[1]: v for k, v in outcomes.items() if k.startswith("error:")}
        print(f"{name:<11} {cases:>6} {outcomes['ok']:>8} {sum(refused.values()):>8} {bugs:>5} {dt:>8.1f}  "
              f"{refused}")
        bugs_total += bugs
    return bugs_total


def fuzz_graphs(n: int) -> int:
    counts: collections.Counter[str] = collections.Counter()

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(g=nir_graphs())
    def run(g) -> None:
        try:
            with resource_limits(max_sim_elements=1 << 20):
                sim = NIRSimulator(g, dt=1e-3)
                sim(torch.rand(4, 2, *sim.input_shape))
            counts["accepted"] += 1
        except SnnDeployError as exc:
            counts[f"refused:{type(exc).__name__}"] += 1
        except Exception as exc:
            counts["bugs"] += 1
            if counts["bugs"] <= 3:
                print(f"  BUG graph: {type(exc).__name__}: {str(exc)[:200]}")

    t0 = time.perf_counter()
    run()
    total = sum(counts.values())
    print(f"random NIR graphs: {total} cases, {dict(counts)}, "
          f"{(time.perf_counter() - t0) / max(total, 1) * 1e3:.1f} ms/case")
    return counts["bugs"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000, help="mutated files per kind")
    ap.add_argument("--graphs", type=int, default=2000, help="random NIR graphs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        bugs = fuzz_files(args.cases, args.seed, Path(d))
    bugs += fuzz_graphs(args.graphs)
    print(f"total bugs: {bugs}")
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
