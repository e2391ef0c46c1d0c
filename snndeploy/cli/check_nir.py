"""``snndeploy check-nir FILE``: run a NIR file someone else wrote in nirsim and every installed peer, report
unit problems, corrections, per-layer agreement, energy counts and hardware checks. Exit 0 pass, 1 fail, 2
unusable input."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "check_nir"]


def register(app: typer.Typer) -> None:
    app.command(
        "check-nir",
        help="Check a NIR file written by another tool: unit problems (tau < dt, norse's tau*dt, batch axes, "
             "0-dim "
        "parameters), the writer's known bugs corrected with --writer, nirsim vs the writer's own output "
        "(--input/--expected), every installed peer node by node, energy counts and hw-check per target.",
    )(check_nir)


def check_nir(
    file: Path = typer.Argument(..., help="The .nir file."),
    dt: float | None = typer.Option(
        None, "--dt", help="Seconds per step (default: the file's, else --writer's)."
    ),
    writer: str | None = typer.Option(
        None,
        "--writer",
        help="Tool that wrote the file: norse|snntorch|spikingjelly|sinabs|rockpool; "
        "its dt convention and known bugs are corrected (and listed).",
    ),
    peers: str = typer.Option(
        "all", "--peers", help="Comma-separated peers to run the file in; 'all' or ''."
    ),
    input_file: Path | None = typer.Option(
        None, "--input", help="Input [T, B, *] (.npy or .pt); default random."
    ),
    expected: Path | None = typer.Option(
        None, "--expected", help="The writer's own output spikes on --input (.npy or .pt)."
    ),
    T: int = typer.Option(16, "--T", help="Time steps of the random input."),
    samples: int = typer.Option(64, "--samples", help="Samples of the random input."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random input."),
    min_agreement: float = typer.Option(0.999, "--min-agreement", help="Pass threshold against --expected."),
    out: Path | None = typer.Option(None, "--out", help="Write check_nir.json here."),
) -> None:
    from rich.console import Console

    from ..errors import VerificationError
    from ..pipeline.check_nir import check_nir_file, load_tensor
    from .render import print_check_nir

    x = load_tensor(input_file, "--input") if input_file is not None else None
    y = load_tensor(expected, "--expected") if expected is not None else None
    names = None if peers == "all" else [p for p in peers.split(",") if p]
    report = check_nir_file(
        file,
        dt=dt,
        writer=writer,
        peers=names,
        x=x,
        expected=y,
        T=T,
        samples=samples,
        seed=seed,
        min_agreement=min_agreement,
        out=out,
    )
    print_check_nir(Console(), report)
    if not report.passed:
        raise VerificationError(
            f"{file.name}: nirsim agrees with --expected on {100 * report.agreement:.3f}% of "
            f"output spikes (min {100 * min_agreement:.3f}%)"
        )
