"""``snndeploy verify CKPT``: does the exported model still spike the same? Exit 0 pass, 1 fail, 2 unusable
input."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "verify",
        help="Run the same inputs through the source model, its fused backend, the folded model, "
        "ONNX Runtime, nirsim and peer simulators (each on its own export profile, saved as "
        "model_<peer>.nir); report agreement per layer and the first divergence.",
    )(verify)


def verify(
    checkpoint: Path = typer.Argument(..., help="Training checkpoint (.pt) written by `snndeploy train`."),
    nir_file: Path | None = typer.Option(None, "--nir", help="NIR file to verify (default: export one now)."),
    onnx_file: list[Path] = typer.Option(
        [], "--onnx", help="ONNX file(s) to verify (default: export the step model)."
    ),
    data: str | None = typer.Option(
        None,
        help="Dataset name, local dataset directory, or 'random' "
        "(default: the checkpoint's embedded dataset, else random).",
    ),
    samples: int = typer.Option(200, help="Number of samples."),
    T: int | None = typer.Option(None, "--T", help="Time steps (default: the dataset's)."),
    out: Path = typer.Option(Path("reports/verify"), help="Report directory (exports land here too)."),
    min_spike_agreement: float = typer.Option(
        0.995, help="Approximate folds: minimum fraction of identical spikes."
    ),
    max_accuracy_drop: float = typer.Option(0.5, help="Approximate folds: maximum accuracy drop in points."),
    peers: str = typer.Option(
        "norse,spikingjelly,snntorch,sinabs,rockpool",
        help="Comma-separated peer simulators to try ('' for none).",
    ),
    seed: int = typer.Option(0, help="Seed for random inputs."),
) -> None:
    from rich.console import Console
    from rich.progress import Progress

    from ..errors import VerificationError
    from ..pipeline import verify_checkpoint
    from .render import print_verify_report

    console = Console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("verifying", total=None)
        report, paths = verify_checkpoint(
            checkpoint,
            out,
            nir_file=nir_file,
            onnx_files=onnx_file,
            data=data,
            samples=samples,
            T=T,
            peers=[p for p in peers.split(",") if p],
            seed=seed,
            min_spike_agreement=min_spike_agreement,
            max_accuracy_drop=max_accuracy_drop,
            on_batch=lambda done, total: progress.update(task, completed=done, total=total),
        )
    print_verify_report(console, report, f"verify {checkpoint.name}: {report.samples} samples, T={report.T}")
    console.print(f"report: {paths['markdown']}")
    if not report.passed:
        worst = report.failures[0]
        raise VerificationError(f"{worst.runtime} vs {worst.reference}: {worst.reason}")
