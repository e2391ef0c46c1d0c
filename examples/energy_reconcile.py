"""snndeploy, NeuroBench and spikingjelly on one network, reconciled number by number (docs/energy.md).

Usage::

    python examples/energy_reconcile.py [--samples 128] [--out reports/energy_reconcile]

A 3-layer LIF MLP (64 → 32 → 16 → 10, soft reset, τ = 2, θ = 0.5, seed 0, untrained: the counts, not the
accuracy, are the point) runs on the first ``--samples`` sklearn-digits test images (T = 4, direct encoding).
The same network is built a second time from spikingjelly 2.0 ``LIFNode``s with the same weights (its state
counters only see spikingjelly neurons); the spikes of the two are checked identical. Then:

1. synaptic ops: snndeploy's counts in its own, NeuroBench's and spikingjelly's conventions, next to
   NeuroBench 2.3.0's ``SynapticOperations`` and spikingjelly's ``SynOpCounter``/``MACCounter`` run on the
   same model;
2. neuron updates, next to NeuroBench's ``MembraneUpdates`` and spikingjelly's ``NeuronStateCounter``;
3. memory bytes, next to spikingjelly's ``NeuromorphicMemoryAccessCounter``;
4. energy: spikingjelly's ``estimate_simple_energy`` and ``estimate_lemaire_energy`` (run), rebuilt from
   snndeploy's counts, and snndeploy's own estimate (compute + memory range).

Prints markdown; with ``--out`` also writes ``reconcile.md`` and ``reconcile.json``. Needs the peers installed
with ``pip install --no-deps neurobench spikingjelly`` (both are in the project's venv).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snndeploy.data import load_dataset
from snndeploy.energy import build_report, count_ops, get_profile
from snndeploy.io import atomic_write
from snndeploy.models.layers import TimeDistributed
from snndeploy.neurons import LIF

SIZES = (64, 32, 16, 10)


def models() -> tuple[nn.Module, nn.Module]:
    """The snndeploy MLP and its spikingjelly twin (same weights, LIFNode soft reset, decay_input=False)."""
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    ours: list[nn.Module] = []
    twin: list[nn.Module] = []
    for n_in, n_out in zip(SIZES, SIZES[1:], strict=False):
        lin = nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.mul_(2.0)
        ours += [TimeDistributed(lin), LIF(tau=2.0, v_threshold=0.5)]
        sj_lin = layer.Linear(n_in, n_out)
        sj_lin.load_state_dict(lin.state_dict())
        twin += [sj_lin, neuron.LIFNode(tau=2.0, decay_input=False, v_reset=None, v_threshold=0.5)]
    sj_net = nn.Sequential(*twin)
    functional.set_step_mode(sj_net, "m")
    return nn.Sequential(*ours).eval(), sj_net.eval()


class _BatchFirst(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(0, 1)).sum(0)


def neurobench(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import MembraneUpdates, SynapticOperations
    from neurobench.models import TorchModel

    ds = torch.utils.data.TensorDataset(x.transpose(0, 1), torch.zeros(x.shape[1], dtype=torch.long))
    wrapped = TorchModel(_BatchFirst(model))
    wrapped.add_activation_module(LIF)
    return Benchmark(wrapped, torch.utils.data.DataLoader(ds, batch_size=x.shape[1]), [], [],
                     [[], [SynapticOperations, MembraneUpdates]]).run(quiet=True)


def spikingjelly(ours: nn.Module, twin: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based import op_counter as oc

    b = x.shape[1]
    out: dict[str, Any] = {}
    syn, mac, ac = oc.SynOpCounter(), oc.MACCounter(), oc.ACCounter()
    with torch.no_grad(), oc.DispatchCounterMode([syn, mac]):
        ours(x)
    out["on_snndeploy_model"] = {"synops": syn.get_total() / b, "macs": mac.get_total() / b}
    functional.reset_net(twin)
    mem, state = oc.NeuromorphicMemoryAccessCounter(), oc.NeuronStateCounter()
    syn2, mac2 = oc.SynOpCounter(), oc.MACCounter()
    with torch.no_grad(), oc.ModuleCounterMode([mem], model=twin), \
            oc.DispatchCounterMode([syn2, mac2, ac, state]):
        twin(x)
    out["on_twin"] = {"synops": syn2.get_total() / b, "macs": mac2.get_total() / b, "acs": ac.get_total() / b,
                      **{k: v / b for k, v in mem.get_counts()["Global"].items()}}
    metrics = state.get_metric_counts()
    out["neuron_state_counter_comparisons"] = {k: v["state_comps"] / b for k, v in metrics.items()
                                               if k.count(".") == 1}
    functional.reset_net(twin)
    simple = oc.estimate_simple_energy(twin, x)
    out["simple"] = {"total_pj": simple.energy_total_pj / b,
                     **{k: v / b for k, v in simple.breakdown_pj.items()},
                     **{f"count_{k}": v / b for k, v in simple.counts.items()}}
    functional.reset_net(twin)
    lemaire = oc.estimate_lemaire_energy(twin, x)
    out["lemaire"] = {"total_pj": lemaire.total_pj / b, **{k: v / b for k, v in lemaire.breakdown_pj.items()},
                      **{f"count_{k}": v / b for k, v in lemaire.counts.items()}}
    return out


def lemaire_rebuilt(counts: Any, price: Any) -> dict[str, float]:
    """Lemaire et al.'s model as spikingjelly 2.0 implements it (``analytical_energy._LemaireCounter``; Linear
    layers only, as in this MLP), rebuilt from snndeploy's counts of one batch: 32-bit words, int32 prices
    (add 0.1 pJ, mult 3.1 pJ), memory priced by ``price`` (the ``lemaire_sram`` table of the cmos45 profiles)
    at each buffer's capacity. Its buffers are sized
    for the whole batch (B·N words for the potentials, the whole [T, B, in] input of a real-valued layer)."""
    w, b = 4, counts.batch_size
    fifo = 1000 * w
    ops = {"ac": 0.0, "mac": 0.0, "addr": 0.0}
    mem = {"inout": 0.0, "params": 0.0, "potential": 0.0}

    def pj(nbytes: float, capacity: float) -> float:
        return nbytes * price.pj_per_byte(capacity)[0]

    for lc in counts.layers:
        if lc.kind == "synaptic":
            spike_in = lc.sj_synops > 0 or lc.sj_macs == 0
            bias = lc.rows * lc.out_per_row if lc.bias_elements else 0
            ops["ac"] += lc.sj_synops + bias
            ops["mac"] += lc.sj_macs
            uses = lc.sj_synops + lc.sj_macs
            mem["params"] += pj((uses + bias) * w, lc.parameters * w)
            # Linear layers: a spike's fan-out, or the input and output elements of a real-input layer
            ops["addr"] += lc.sj_synops if spike_in else lc.input_elements + lc.rows * lc.out_per_row
            if spike_in:
                mem["inout"] += pj(lc.input_nonzero * w, fifo)
                mem["potential"] += 2 * pj(lc.sj_synops * w, b * lc.out_per_row * w)
            else:
                mem["inout"] += pj(lc.input_elements * w, lc.input_elements * w)
        elif lc.kind == "neuron":
            ops["ac"] += lc.spikes
            ops["mac"] += lc.updates
            mem["potential"] += 2 * pj(lc.updates * w, b * lc.neurons * w)
            mem["inout"] += pj(lc.spikes * w, fifo)
    out = {"ops_pj": (0.1 * ops["ac"] + 3.2 * ops["mac"]) / counts.samples,
           "addressing_pj": 0.1 * ops["addr"] / counts.samples,
           **{f"{k}_pj": v / counts.samples for k, v in mem.items()}}
    out["memory_pj"] = out["inout_pj"] + out["params_pj"] + out["potential_pj"]
    return out


def spikingjelly_lemaire_batch1(twin: nn.Module, x: torch.Tensor) -> float:
    """Lemaire's estimate per sample, one sample per call (its buffers are sized by the batch)."""
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based import op_counter as oc

    total = 0.0
    for i in range(x.shape[1]):
        functional.reset_net(twin)
        total += oc.estimate_lemaire_energy(twin, x[:, i:i + 1]).total_pj
    return total / x.shape[1]


def _n(x: float) -> str:
    return f"{x:,.1f}" if abs(x - round(x)) > 1e-9 else f"{round(x):,}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    bundle = load_dataset("digits", limit=args.samples)
    images = torch.stack([bundle.test[i][0] for i in range(min(args.samples, len(bundle.test)))])
    x = bundle.to_time_major(images).flatten(2)  # [T, B, 64]: Lemaire's model refuses a Flatten layer
    ours, twin = models()
    with torch.no_grad():
        same = torch.equal(ours(x), twin(x))
    counts = count_ops(ours, x)
    report = build_report(counts, [get_profile("cmos45_fp32"), get_profile("cmos45_int32")],
                          data={"dataset": "digits", "split": "test"})
    t, conv = report["totals"], report["conventions"]
    batch1 = spikingjelly_lemaire_batch1(twin, x)
    sj_conv = conv["spikingjelly"]
    nb = neurobench(ours, x)
    sj = spikingjelly(ours, twin, x)
    fp32, int32 = report["energy"]
    per = counts.per_sample
    updates = [per(lc.updates) for lc in counts.neuron_layers()]
    spikes = per(counts.total("spikes"))
    nb_syn = nb["SynapticOperations"]
    simple, lem = sj["simple"], sj["lemaire"]
    twin_ = sj["on_twin"]
    # LIFNode's multi-step loop calls one aten add and four aten subs per element and step (three at the first
    # step, where v is still the Python float 0); spikingjelly's ACCounter counts every one of them as an AC
    extra_acs = 5 * t["state_updates"] - t["neurons"]
    lem_mine = lemaire_rebuilt(counts, get_profile("cmos45_int32").memory.prices["lemaire_sram"])
    state_bytes = sj_conv["neuron_state_read_bytes"] + sj_conv["neuron_state_write_bytes"]
    sj_bytes = sj_conv["weight_read_bytes"] + sj_conv["bias_read_bytes"] + state_bytes
    rebuilt = 4.6 * sj_conv["macs"] + 0.9 * (sj_conv["synops"] + extra_acs) + 24.96 * sj_bytes
    scen = {s["name"]: s for s in fp32["terms"]["memory"]["scenarios"]}
    p = fp32["per_sample_pj"]
    rows = [
        ("synaptic ACs (per-row rule)", t["effective_acs"], None, "snndeploy default"),
        ("synaptic MACs (per-row rule)", t["effective_macs"], None, "snndeploy default"),
        ("Effective_ACs", conv["neurobench_per_sample"]["acs"], nb_syn["Effective_ACs"], "NeuroBench, ran"),
        ("Effective_MACs", conv["neurobench_per_sample"]["macs"], nb_syn["Effective_MACs"],
         "NeuroBench, ran"),
        ("Dense", t["dense_ops"], nb_syn["Dense"], "NeuroBench, ran"),
        ("SynOps", sj_conv["synops"], sj["on_snndeploy_model"]["synops"], "spikingjelly SynOpCounter, ran"),
        ("MACs", sj_conv["macs"], sj["on_snndeploy_model"]["macs"], "spikingjelly MACCounter, ran"),
        ("membrane updates", t["state_updates"], nb["MembraneUpdates"],
         "NeuroBench MembraneUpdates (limitation)"),
        ("state comparisons, all layers", sum(updates), sum(sj["neuron_state_counter_comparisons"].values()),
         "spikingjelly NeuronStateCounter (bug: first layer only)"),
        ("weight read bytes", sj_conv["weight_read_bytes"], twin_["weight_read_bytes"],
         "spikingjelly NeuromorphicMemoryAccessCounter, ran"),
        ("bias read bytes", sj_conv["bias_read_bytes"], twin_["bias_read_bytes"], "same"),
        ("state bytes read + written", state_bytes,
         twin_["neuron_state_read_bytes"] + twin_["neuron_state_write_bytes"], "same"),
        ("ACCounter ACs", sj_conv["synops"] + extra_acs, twin_["acs"],
         f"SynOps + 5·updates − neurons = {_n(extra_acs)} add/sub calls inside LIFNode"),
        ("simple energy, pJ", rebuilt, simple["total_pj"],
         "4.6·MACs + 0.9·ACCounter ACs + 24.96 pJ/B · (weight + bias + state bytes)"),
        ("Lemaire ops, pJ", lem_mine["ops_pj"], lem["ops_pj"],
         "0.1·(SynOps + bias adds + spikes) + 3.2·(dense real-input MACs + one MAC per LIF update)"),
        ("Lemaire addressing, pJ", lem_mine["addressing_pj"], lem["addressing_pj"],
         "0.1 per address add: a spike's fan-out (Linear), or input + output elements of a real-input layer"),
        ("Lemaire in/out memory, pJ", lem_mine["inout_pj"], lem["inout_pj"],
         "input reads, spike writes (FIFO)"),
        ("Lemaire parameter memory, pJ", lem_mine["params_pj"], lem["params_pj"],
         "weight + bias bytes at the layer's parameter-array price"),
        ("Lemaire potential memory, pJ", lem_mine["potential_pj"], lem["potential_pj"],
         "read + write per SynOp and per update, at a batch-sized buffer's price"),
    ]
    lines = [
        f"# snndeploy vs NeuroBench vs spikingjelly on one MLP ({counts.samples} digits test images, T = "
        f"{counts.T}, batch {counts.batch_size})",
        "",
        f"Network {' → '.join(map(str, SIZES))}, LIF τ = 2, θ = 0.5, soft reset; the spikingjelly twin's "
        f"spikes {'are identical' if same else 'DIFFER'}. Firing rate {t['firing_rate']:.4f}, {spikes:.1f} "
        "spikes and "
        f"{_n(t['state_updates'])} state updates per sample (layers: {', '.join(_n(u) for u in updates)}).",
        "",
        "| quantity (per sample) | snndeploy | peer (its own counter) | peer, convention |",
        "|---|---|---|---|",
    ]
    for name, mine, theirs, what in rows:
        lines.append(f"| {name} | {_n(mine)} | {'—' if theirs is None else _n(theirs)} | {what} |")
    lines += [
        "",
        f"spikingjelly simple model, their breakdown: MAC {simple['mac_pj']:,.0f} pJ, "
        f"AC {simple['ac_pj']:,.0f} pJ, "
        f"parameter memory {simple['parameter_memory_pj']:,.0f} pJ, neuron-state memory "
        f"{simple['neuron_state_memory_pj']:,.0f} pJ: memory is "
        f"{100 * simple['memory_pj'] / simple['total_pj']:.1f}% of {simple['total_pj']:,.0f} pJ.",
        "",
        f"Lemaire et al. (spikingjelly's estimate_lemaire_energy): total {lem['total_pj']:,.0f} pJ = ops "
        f"{lem['ops_pj']:,.0f} + addressing {lem['addressing_pj']:,.0f} + memory {lem['memory_pj']:,.0f} "
        f"(in/out {lem['inout_pj']:,.0f}, parameters {lem['params_pj']:,.0f}, potentials "
        f"{lem['potential_pj']:,.0f}); its counts: {_n(lem['count_ac'])} ACs, {_n(lem['count_mac'])} MACs "
        "(one per LIF update + the dense real-input layer), parameter reads "
        f"{_n(lem['count_read_params_bytes'])} B. "
        "Its buffers are sized for the whole batch, so its energy per sample depends on the batch: "
        f"{lem['total_pj']:,.0f} pJ at batch {counts.batch_size}, "
        f"{batch1:,.0f} pJ at batch 1.",
        "",
        "snndeploy, cmos45_fp32: compute "
        f"{p['compute']:,.0f} pJ (synaptic {fp32['terms']['synaptic']['pj']:,.0f}, neuron "
        f"{fp32['terms']['neuron']['pj']:,.0f}); memory {p['memory_low']:,.0f} – {p['memory_high']:,.0f} pJ; "
        f"total {p['total_low']:,.0f} – {p['total_high']:,.0f} pJ. Scenarios: "
        + ", ".join(f"{k} {v['pj']:,.0f}" for k, v in scen.items()) + " pJ.",
        f"cmos45_int32 (Lemaire's arithmetic prices): compute {int32['per_sample_pj']['compute']:,.0f} pJ; "
        f"memory event_lemaire {int32['terms']['memory']['scenarios'][3]['pj']:,.0f} pJ.",
        "",
        f"Ratios: spikingjelly simple / snndeploy compute = {simple['total_pj'] / p['compute']:.1f}×; "
        f"spikingjelly simple / snndeploy total with its flat 3.12 pJ/bit (event_flat) = "
        f"{simple['total_pj'] / (p['compute'] + scen['event_flat']['pj']):.2f}×; Lemaire / snndeploy int32 "
        "compute "
        f"= {lem['total_pj'] / int32['per_sample_pj']['compute']:.1f}×.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)  # noqa: T201 (an example script prints)
    if args.out is not None:
        with atomic_write(args.out / "reconcile.md") as fh:
            fh.write(text)
        with atomic_write(args.out / "reconcile.json") as fh:
            json.dump({"snndeploy": report, "neurobench": nb, "spikingjelly": sj, "spikes_identical": same},
                      fh, indent=2, default=str)


if __name__ == "__main__":
    main()
