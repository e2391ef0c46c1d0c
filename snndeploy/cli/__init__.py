"""Command-line interface (typer). Entry point: ``snndeploy.cli.app:main``."""
