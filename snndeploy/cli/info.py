"""``snndeploy info``: versions of snndeploy and of every library it talks to, and which neuron engine runs
where
(paste it into bug reports)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "info",
        help="Print versions of snndeploy, torch, nir, onnx, onnxruntime and installed peers, and "
        "the neuron engines: what backend 'auto' picks per device, the numba cache and threads.",
    )(info)


def info() -> None:
    from importlib import metadata

    from rich.console import Console
    from rich.table import Table

    table = Table(title="snndeploy environment")
    table.add_column("package")
    table.add_column("version")
    for pkg in [
        "snndeploy",
        "torch",
        "numpy",
        "numba",
        "nir",
        "onnx",
        "onnxruntime",
        "triton",
        "norse",
        "snntorch",
        "spikingjelly",
        "mnist1d",
        "scikit-learn",
    ]:
        try:
            version = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            version = "not installed"
        table.add_row(pkg, version)
    import torch

    table.add_row("cuda available", str(torch.cuda.is_available()))
    table.add_row("cpu capability", torch.backends.cpu.get_cpu_capability())
    from ..neurons.engines import describe

    for name, value in describe():
        table.add_row(name, value)
    Console().print(table)
