"""The ``snndeploy`` command line: one small module per subcommand, each with a ``register(app)`` function.

Heavy imports (torch, nir, onnx) happen inside the commands so ``snndeploy --help`` is instant. Library errors
(``snndeploy.errors.SnnDeployError``) become a one-line message and their exit code (2 for unusable input,
1 for failed verification); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="snndeploy",
    help="Train CLIF/KLIF/ILIF/LIF spiking networks, fold them into hardware-legal LIF form, export to NIR "
    "and ONNX, and verify that the spikes are preserved.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Subcommand modules under snndeploy.cli, in --help order. Each defines register(app).
COMMAND_MODULES = [
    "info",
    "demo",
    "train",
    "energy", "hwcheck", "deploy",
    "fold", "export",
    "verify", "check_nir",
    "vendor",
]

@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    """``--debug`` is read by ``main`` from the argument list (errors can happen before any callback runs)."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"snndeploy.cli.{_name}").register(app)


def _usage_errors() -> tuple[type[Exception], ...]:
    """The click exception classes typer raises for usage errors: typer ≥ 0.2x bundles its own click
    (``typer._click``), older typers use the ``click`` package; both are caught, whichever is installed."""
    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(module).ClickException)
        except ImportError:
            continue
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app and map snndeploy errors to exit codes and one-line messages."""
    from ..errors import DistributedError, SnnDeployError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rc = app(args=argv, standalone_mode=False)
    except SnnDeployError as exc:
        if debug:
            raise
        line = " ".join(str(exc).split())  # one line, whatever the message holds
        typer.secho(f"error: {line}", err=True, fg=typer.colors.RED)
        if isinstance(exc, DistributedError):
            # A broken Gloo/NCCL group can abort ("terminate called without an active exception") in its C++
            # destructors at interpreter exit, turning exit code 3 into SIGABRT: leave without running them.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        if debug:
            raise
        typer.secho("interrupted", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.secho("aborted", err=True)
        return 130
    except _usage_errors() as exc:  # click usage errors (missing argument, bad option, ...): no traceback
        exc.show()
        return exc.exit_code
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
