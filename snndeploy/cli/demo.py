"""``snndeploy demo``: the main job on embedded data (grows into train → fold → export → verify → energy)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("demo", help="Run the four neurons on embedded data (sklearn digits) and report firing rates.")(demo)


def demo(
    out: Path = typer.Option(Path("reports/demo"), help="Report directory."),
    T: int = typer.Option(8, "--T", help="Time steps."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    import json

    import torch
    from rich.console import Console
    from rich.table import Table
    from sklearn.datasets import load_digits

    from ..io import atomic_write
    from ..neurons import NEURONS

    torch.manual_seed(seed)
    digits = load_digits()
    x = torch.tensor(digits.data[:256], dtype=torch.float32) / 16.0
    w = torch.randn(64, 128) / 64**0.5 * 4
    x_seq = (x @ w).unsqueeze(0).repeat(T, 1, 1)  # direct encoding: the same input every step
    table = Table(title=f"firing rates on sklearn digits (256 samples, T={T}, random 64→128 projection)")
    table.add_column("neuron")
    table.add_column("firing rate", justify="right")
    rates = {}
    for name, cls in NEURONS.items():
        rates[name] = float(cls()(x_seq).mean())
        table.add_row(name, f"{rates[name]:.4f}")
    Console().print(table)
    with atomic_write(Path(out) / "firing_rates.json") as fh:
        json.dump({"T": T, "seed": seed, "firing_rate": rates}, fh, indent=2)
