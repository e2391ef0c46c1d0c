"""``snndeploy energy``: per-layer op counts and energy estimates of a checkpoint on real data (JSON, md, PNG)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "energy", "default_dataset", "energy_step"]


def register(app: typer.Typer) -> None:
    app.command(
        "energy",
        help="Count synaptic ops (ACs/MACs), neuron updates and spikes per layer of a checkpoint on real data, and "
        "price them under energy profiles (45 nm CMOS, Loihi, TrueNorth, or your TOML). Writes energy.json, "
        "energy.md and PNG charts to --out.",
    )(energy)


def default_dataset(input_shape: tuple[int, ...]) -> str | None:
    """The embedded dataset whose samples have ``input_shape`` (``(1,)`` → mnist1d, ``(1, 8, 8)`` → digits)."""
    return {(1,): "mnist1d", (1, 8, 8): "digits"}.get(tuple(input_shape))


def energy(
    checkpoint: Path = typer.Argument(..., help="Checkpoint written by `snndeploy train`, or a .nir graph (run by nirsim)."),
    data: str = typer.Option(None, "--data", help="Dataset name (default: inferred from the model's input shape)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Directory of a local dataset."),
    limit: int = typer.Option(256, "--limit", help="Test samples to count on."),
    batch_size: int = typer.Option(128, "--batch-size"),
    profile: list[str] = typer.Option(None, "--profile", help="Profile name or TOML path (repeatable; default: all built-in)."),
    dt: float = typer.Option(None, "--dt", help="Seconds per step for a foreign .nir graph without dt metadata."),
    out: Path = typer.Option(Path("reports/energy"), "--out", help="Report directory."),
) -> None:
    import torch
    from rich.console import Console
    from rich.table import Table

    from .. import load
    from ..data import load_dataset
    from ..energy import build_report, builtin_profiles, count_nir_ops, count_ops, get_profile, write_report
    from ..errors import InvalidParameterError

    if str(checkpoint).endswith(".nir"):
        from exporters.nir import read_nir

        from ..nirsim import NIRSimulator

        graph = read_nir(checkpoint)
        input_shape, meta = NIRSimulator(graph, dt=dt).input_shape, {"nir": str(checkpoint)}
    else:
        model, config = load(checkpoint)
        input_shape, graph, meta = config.input_shape, None, {"checkpoint": str(checkpoint), "model": config.model,
                                                               "neuron": config.neuron}
    name = data or default_dataset(input_shape)
    if name is None:
        raise InvalidParameterError(f"{checkpoint}: cannot infer the dataset from input_shape {input_shape}; pass --data")
    meta["dataset"] = name
    bundle = load_dataset(name, data_dir, limit=limit)
    loader = torch.utils.data.DataLoader(bundle.test, batch_size=batch_size)
    batches = (bundle.to_time_major(x) for x, _ in loader)
    profs = list(builtin_profiles().values()) if not profile else [get_profile(p) for p in profile]
    if graph is None:
        counts = count_ops(model, batches)
    else:
        counts = count_nir_ops(graph, batches, dt=dt)
    report = build_report(counts, profs, meta)
    paths = write_report(report, out)
    console = Console()
    t = report["totals"]
    console.print(f"{report['data']['samples']} samples, T={report['data']['T']}: firing rate {t['firing_rate']:.4f}, "
                  f"ACs {t['effective_acs']:.4g}, MACs {t['effective_macs']:.4g} per sample")
    table = Table(title="energy per sample (NeuroBench-effective counts; data movement not counted)")
    for col in ("profile", "basis", "total", "papers' T·rate·FLOPs", "equivalent ANN"):
        table.add_column(col)
    for e in report["energy"]:
        p = e["per_sample_pj"]
        ann = "n/a" if p["ann_equivalent"] is None else f"{p['ann_equivalent'] / 1e3:.4g} nJ"
        table.add_row(e["profile"], e["basis"], f"{p['total'] / 1e3:.4g} nJ", f"{p['paper_convention'] / 1e3:.4g} nJ", ann)
    console.print(table)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")


def energy_step(out: Path, console: object | None = None, limit: int = 256) -> dict:
    """The demo's energy step: count ``OUT/checkpoint.pt`` on the digits test set, write ``OUT/energy/`` and return
    the ``energy`` section of ``summary.json`` (totals and the per-profile energy per sample)."""
    import torch

    from .. import load
    from ..data import load_dataset
    from ..energy import energy_report, write_report

    ckpt = Path(out) / "checkpoint.pt"
    model, config = load(ckpt)
    name = default_dataset(config.input_shape) or "digits"
    bundle = load_dataset(name, limit=limit)
    batches = [bundle.to_time_major(x) for x, _ in torch.utils.data.DataLoader(bundle.test, batch_size=128)]
    report = energy_report(model, batches, meta={"checkpoint": str(ckpt), "dataset": name})
    paths = write_report(report, Path(out) / "energy")
    section = {
        "dataset": name,
        "samples": report["data"]["samples"],
        "totals": {k: report["totals"][k] for k in ("firing_rate", "effective_acs", "effective_macs", "state_updates")},
        "energy_per_sample_pj": {e["profile"]: e["per_sample_pj"]["total"] for e in report["energy"]},
        "report": str(paths["markdown"]),
    }
    if console is not None:
        lines = ", ".join(f"{k} {v / 1e3:.4g} nJ" for k, v in section["energy_per_sample_pj"].items())
        console.print(f"[bold]energy[/bold] per sample: {lines} (data movement not counted; see {paths['markdown']})")
    return section
