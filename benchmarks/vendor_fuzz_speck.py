"""Fuzz the integer Speck model against sinabs' ``DynapcnnNetwork`` forward (spikes, v_mem, discretisation).

Usage: ``python benchmarks/vendor_fuzz_speck.py [--cases N] [--seed S] [--batch K] [--max-t T] [--agreement]``

Draws ``N`` random networks and inputs (``snndeploy.hardware.chips.speck_fuzz.random_case``: conv and linear
layers, stride/padding/sum pooling, grid-edge weights, biases, thresholds 1..32767, silent to saturating
inputs, T up to ``--max-t``), runs them ``K`` at a time through one sinabs driver call each (the discretised
``DynapcnnNetwork`` forward stands in for the chip simulator, which lives in samna), and compares every spike
count, every recorded ``v_mem`` and the parameters sinabs' discretisation ended with, exactly. Prints the case
count, the mismatch count, the first mismatch in detail, and timings. Needs the ``sinabs`` vendor venv
(``snndeploy vendor setup sinabs``). Exit code 1 on any mismatch.

``--agreement`` instead trains a small Speck-shaped SNN on sklearn's digits (pixel values 0..16 fed as event
counts every step, T = 8; Conv 1→8 3×3 → LIF → AvgPool 2 → Linear 72→10 → LIF, LIF with τ = 1e7, θ = 1 and
soft reset, i.e. an IAF; surrogate gradients on counts / 16, the 1/16 then folded into the conv weights), maps
it with ``map_model`` and prints ``compare_mapping`` on the test split: the float LIF model vs the chip
(rounding plus one spike per step vs multi-spike) and the same weights in ``SpeckIAF`` (the chip's neuron in
float) vs the chip (rounding only), with accuracies and the vendor check.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from snndeploy.hardware.chips.speck_fuzz import compare, random_case
from snndeploy.hardware.chips.speck_vendor import vendor_run_many


def agreement(seed: int) -> int:
    """The ``--agreement`` run (module docstring)."""
    import torch
    from sklearn.datasets import load_digits
    from torch import nn

    from snndeploy.hardware.chips.speck_iaf import SpeckIAF
    from snndeploy.hardware.chips.speck_map import compare_mapping, map_model
    from snndeploy.models.layers import TimeDistributed as TD
    from snndeploy.neurons import LIF

    torch.manual_seed(seed)
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1)  # [N, 1, 8, 8], integers 0..16
    y = torch.tensor(d.target)
    perm = torch.randperm(len(y))
    tr, te = perm[:1400], perm[1400:]
    T = 8

    def events(idx):
        return x[idx].unsqueeze(0).expand(T, -1, -1, -1, -1).contiguous()

    def build(neuron):
        return nn.Sequential(TD(nn.Conv2d(1, 8, 3, bias=False)), neuron(1.0), TD(nn.AvgPool2d(2)),
                             TD(nn.Flatten()), TD(nn.Linear(72, 10, bias=False)), neuron(1.0))

    model = build(lambda th: LIF(tau=1e7, v_threshold=th, v_reset=None))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _epoch in range(20):  # trained on counts / 16 (in [0, 1]); the 1/16 then goes into the conv weights
        for b in tr[torch.randperm(len(tr))].split(32):
            loss = nn.functional.cross_entropy(model(events(b) / 16).sum(0), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        model[0].layer.weight /= 16
    iaf = build(SpeckIAF)
    iaf.load_state_dict(model.state_dict())
    mapping = map_model(model, events(tr[:64]))
    print("scales:", {k: round(v, 3) for k, v in mapping.scales.items()})
    for name, m in (("LIF (trained)", model), ("SpeckIAF (same weights)", iaf)):
        with torch.no_grad():
            rep = compare_mapping(m, map_model(m, events(tr[:64])), events(te), y[te], vendor=True)
        print(f"{name} vs chip: per-layer spike agreement {[round(a.agreement, 4) for a in rep.layers]}, "
              f"rates float {[round(a.rate_float, 4) for a in rep.layers]} chip "
              f"{[round(a.rate_quant, 4) for a in rep.layers]}, accuracy float {rep.accuracy[0]:.3f} chip "
              f"{rep.accuracy[1]:.3f}, sinabs vs chip mismatches {rep.vendor_mismatches}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=250, help="cases per vendor driver call")
    ap.add_argument("--max-t", type=int, default=100)
    ap.add_argument("--agreement", action="store_true", help="the trained digits model instead of the fuzz")
    args = ap.parse_args()
    if args.agreement:
        return agreement(args.seed)
    rng = np.random.default_rng(args.seed)
    mismatches, first = 0, None
    done = rediscretised = off_edge = layers = spikes = steps = 0
    t_mine = t_vendor = 0.0
    while done < args.cases:
        cases = [random_case(rng, args.max_t) for _ in range(min(args.batch, args.cases - done))]
        t0 = time.perf_counter()
        vendor = vendor_run_many([(c.network, c.x) for c in cases], factors=[c.factors for c in cases])
        t_vendor += time.perf_counter() - t0
        for k, (case, ref) in enumerate(zip(cases, vendor, strict=True)):
            t0 = time.perf_counter()
            mine = case.network.run(case.x)
            t_mine += time.perf_counter() - t0
            rediscretised += case.factors is not None
            off_edge += not ref.discretized
            layers += len(case.network.layers)
            spikes += sum(int(s.sum()) for s in mine.spikes)
            steps += case.x.shape[0] * case.x.shape[1]
            bad = compare(case, mine, ref)
            if bad is not None:
                mismatches += 1
                if first is None:
                    first = {"case": done + k, "seed": args.seed, "style": case.style,
                             "factors": case.factors,
                             "network": {"input_shape": case.network.input_shape,
                                         "layers": [{"kind": lyr.kind, "weight": list(lyr.weight.shape),
                                                     "threshold": lyr.threshold, "min_v_mem": lyr.min_v_mem,
                                                     "stride": lyr.stride, "padding": lyr.padding,
                                                     "pool": lyr.pool, "bias": lyr.bias is not None}
                                                    for lyr in case.network.layers]},
                             "input_shape": list(case.x.shape), "difference": bad}
        done += len(cases)
    print(f"cases: {done} ({rediscretised} rediscretised by sinabs from random floats q·c, {off_edge} off "
          f"the grid edge run with discretize=False); layers: {layers}; sample-steps: {steps}; spikes: "
          f"{spikes}")
    print(f"mismatches: {mismatches}")
    if first is not None:
        print("first mismatch:", json.dumps(first, indent=1, default=str))
    print(f"time: integer model {t_mine:.1f} s, sinabs (incl. driver start-up) {t_vendor:.1f} s")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
