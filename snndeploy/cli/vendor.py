"""``snndeploy vendor``: build and list the vendor simulators' venvs (lava, xylosim, sinabs)."""

from __future__ import annotations

import typer

__all__ = ["register"]

vendor_app = typer.Typer(help="Vendor simulators (lava for Loihi 2, xylosim for Xylo, sinabs for Speck), "
                              "each in its own venv.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(vendor_app, name="vendor")


@vendor_app.command("list", help="List the vendor venvs, where they live and whether they are built.")
def list_envs() -> None:
    from rich.console import Console
    from rich.table import Table

    from ..hardware.vendor import env_versions, find_env, recipes, vendor_home

    table = Table(title=f"vendor venvs in {vendor_home()}")
    for col in ("name", "built", "versions", "what"):
        table.add_column(col)
    for name, recipe in recipes().items():
        built = find_env(name) is not None
        versions = ", ".join(f"{k} {v}" for k, v in env_versions(name).items()) if built else ""
        table.add_row(name, "yes" if built else "no", versions, recipe.summary)
    Console().print(table)


@vendor_app.command("setup",
                    help="Build the named vendor venvs (all when none is named); current ones are reused.")
def setup(names: list[str] = typer.Argument(None, help="Venv names (see `snndeploy vendor list`).")) -> None:
    from rich.console import Console

    from ..hardware.vendor import ensure_env, recipes

    console = Console(stderr=True)
    for name in names or list(recipes()):
        with console.status(f"building vendor venv {name} (first time: minutes)"):
            python = ensure_env(name, log=lambda msg: console.log(msg))
        console.print(f"{name}: {python}")
