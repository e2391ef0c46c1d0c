"""``snndeploy verify CKPT``: does the exported model still spike the same? Exit 0 pass, 1 fail, 2 unusable input."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("verify", help="Run the same inputs through the source model, its fused backend, the folded model, "
                "ONNX Runtime, nirsim and peer simulators; report agreement per layer and the first divergence.")(verify)


def _inputs(data: str | None, samples: int, T: int | None, config, train_config: dict, seed: int):
    """(x, y or None, calibration x) as [T, B, *input_shape] tensors."""
    import torch

    from ..data import DATASETS, load_dataset
    from ..errors import DatasetError

    g = torch.Generator().manual_seed(seed)
    name = data or (train_config.get("dataset") if train_config.get("dataset") in ("digits", "mnist1d") else "random")
    if name == "random":
        steps = T or int(train_config.get("time_steps") or 8)
        shape = (steps, samples, *config.input_shape)
        return torch.rand(shape, generator=g) * 2, None, torch.rand(shape, generator=g) * 2
    if name.lower().replace("-", "_") in DATASETS:
        bundle = load_dataset(name, None, T, limit=samples)
    elif Path(name).is_dir():
        ds_name = train_config.get("dataset")
        if not ds_name:
            raise DatasetError(f"--data {name}: a directory needs the dataset type, which the checkpoint does not record")
        bundle = load_dataset(ds_name, name, T, limit=samples)
    else:
        raise DatasetError(f"--data {name!r}: neither a dataset name ({', '.join(DATASETS)}), a directory, nor 'random'")

    def batch(ds):
        xs, ys = zip(*[ds[i] for i in range(len(ds))], strict=True)
        return bundle.to_time_major(torch.stack(xs)), torch.as_tensor(ys)

    x, y = batch(bundle.test)
    calib, _ = batch(bundle.train)
    return x, y, calib


def verify_checkpoint(checkpoint: Path, out: Path, *, nir_file: Path | None = None, onnx_files: list[Path] = (),
                      data: str | None = None, samples: int = 200, T: int | None = None,
                      peers: list[str] = (), seed: int = 0, min_spike_agreement: float = 0.995,
                      max_accuracy_drop: float = 0.5, console=None):
    """Load → fold (calibrated on the train split) → export → verify → write the report. Returns (report, paths)."""
    import warnings

    from rich.progress import Progress

    from ..checkpoint import model_from_checkpoint, read_checkpoint
    from ..errors import InvalidParameterError
    from ..pipeline import export_all
    from ..verify import verify as run_verify
    from ..verify.report import write_report

    if samples < 1:
        raise InvalidParameterError(f"--samples must be >= 1, got {samples}")
    obj = read_checkpoint(checkpoint)  # read once: the model and the training config come from the same file
    model, config = model_from_checkpoint(obj, checkpoint)
    train_config = obj.get("train_config") or {}
    x, y, calib = _inputs(data, samples, T, config, train_config, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        art = export_all(model, config.input_shape, calib, out, T=x.shape[0])
    graph, flat = art.nir_graph, art.nir_flat_graph
    if nir_file is not None:
        from exporters.nir import read_nir

        graph = flat = read_nir(nir_file)
    onnx_paths = [str(p) for p in onnx_files] or [str(art.onnx_path)]
    with Progress(console=console, transient=True, disable=console is None) as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = progress.add_task("verifying", total=None)
        report = run_verify(
            model, x, y, folded=art.folded, fold_exact=art.fold_report.exact, nir_graph=graph, peer_graph=flat,
            onnx_paths=onnx_paths, peers=list(peers), min_spike_agreement=min_spike_agreement,
            max_accuracy_drop=max_accuracy_drop,
            on_batch=lambda done, total: progress.update(task, completed=done, total=total),
        )
    return report, write_report(report, out)


def print_report(console, report, title: str) -> None:
    """The rich table of a verify report."""
    from rich.markup import escape
    from rich.table import Table

    if not console.is_terminal:  # piped or captured output: do not squeeze the table into 80 columns
        console.width = max(console.width, 112)
    table = Table(title=title)
    for col in ("runtime", "vs", "expected", "status", "spikes", "predictions", "verdict"):
        table.add_column(col, no_wrap=col in ("runtime", "vs"))
    for r in report.runtimes:
        verdict = {True: "[green]pass", False: "[red]FAIL", None: "info"}[r.passed]
        agree = "—" if r.spike_agreement is None else f"{100 * r.spike_agreement:.3f}%"
        pred = "—" if r.prediction_agreement is None else f"{100 * r.prediction_agreement:.2f}%"
        table.add_row(escape(r.runtime), escape(r.reference), r.expectation, r.status, agree, pred, verdict)
    console.print(table)


def verify(
    checkpoint: Path = typer.Argument(..., help="Training checkpoint (.pt) written by `snndeploy train`."),
    nir_file: Path | None = typer.Option(None, "--nir", help="NIR file to verify (default: export one now)."),
    onnx_file: list[Path] = typer.Option([], "--onnx", help="ONNX file(s) to verify (default: export the step model)."),
    data: str | None = typer.Option(None, help="Dataset name, local dataset directory, or 'random' "
                                    "(default: the checkpoint's embedded dataset, else random)."),
    samples: int = typer.Option(200, help="Number of samples."),
    T: int | None = typer.Option(None, "--T", help="Time steps (default: the dataset's)."),
    out: Path = typer.Option(Path("reports/verify"), help="Report directory (exports land here too)."),
    min_spike_agreement: float = typer.Option(0.995, help="Approximate folds: minimum fraction of identical spikes."),
    max_accuracy_drop: float = typer.Option(0.5, help="Approximate folds: maximum accuracy drop in points."),
    peers: str = typer.Option("norse,spikingjelly,snntorch,sinabs,rockpool",
                              help="Comma-separated peer simulators to try ('' for none)."),
    seed: int = typer.Option(0, help="Seed for random inputs."),
) -> None:
    from rich.console import Console

    from ..errors import VerificationError

    console = Console()
    report, paths = verify_checkpoint(
        checkpoint, out, nir_file=nir_file, onnx_files=onnx_file, data=data, samples=samples, T=T,
        peers=[p for p in peers.split(",") if p], seed=seed, min_spike_agreement=min_spike_agreement,
        max_accuracy_drop=max_accuracy_drop, console=console,
    )
    print_report(console, report, f"verify {checkpoint.name}: {report.samples} samples, T={report.T}")
    console.print(f"report: {paths['markdown']}")
    if not report.passed:
        worst = report.failures[0]
        raise VerificationError(f"{worst.runtime} vs {worst.reference}: {worst.reason}")
