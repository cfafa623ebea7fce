"""Assembles the `eqlwatch` command from one module per command.

Each command module exposes `register(app)`; adding a command is one line in COMMANDS.
"""

from __future__ import annotations

import importlib

import typer

COMMANDS: tuple[str, ...] = ("validate", "query", "setup", "load", "run", "hunt", "actions")

app = typer.Typer(
    name="eqlwatch",
    help="Scheduled EQL detections for the Elastic stack (embedded engine by default).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from eqlwatch import __version__

        typer.echo(__version__)
        raise typer.Exit()


for _name in COMMANDS:
    importlib.import_module(f"eqlwatch.cli.{_name}").register(app)


def main() -> None:
    app()
