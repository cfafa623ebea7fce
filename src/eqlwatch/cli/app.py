"""Assembles the `eqlwatch` command; a command's module is imported only when it runs.

`eqlwatch --help` must answer in a blink, so nothing here imports a command module, the
engine, the Elasticsearch client, structlog or rich: the root lists commands from COMMANDS
(name → module and one-line help) and `LazyGroup` imports a module the first time its
command is resolved. Each command module exposes `register(app)`; adding a command is one
entry in COMMANDS (tests/cli/test_startup.py checks the one-line help against the
command's own docstring).
"""

from __future__ import annotations

import functools
import gc
import importlib
import sys
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click as click
from typer.core import TyperGroup


@dataclass(frozen=True)
class CommandEntry:
    """Where a command lives and what the root `--help` says about it."""

    module: str
    summary: str
    reads_environment: bool = False
    runs_actions: bool = False


COMMANDS: dict[str, CommandEntry] = {
    "validate": CommandEntry(
        "validate", "Check rules, jobs and templates; exit 1 when anything is wrong."
    ),
    "query": CommandEntry("query", "Run an EQL query over event files with the embedded engine."),
    "setup": CommandEntry(
        "setup",
        "Create templates, lifecycle, data streams, state index and Kibana objects.",
        reads_environment=True,
    ),
    "load": CommandEntry(
        "load",
        "Load ECS NDJSON or raw Sysmon events into Elasticsearch, with EQL-ready mappings.",
        reads_environment=True,
    ),
    "run": CommandEntry(
        "run",
        "Run jobs on their schedules (daemon), or once with --once.",
        reads_environment=True,
        runs_actions=True,
    ),
    "backfill": CommandEntry(
        "run",
        "Replay a period: alerts already written are not written again; checkpoints stay.",
        reads_environment=True,
        runs_actions=True,
    ),
    "demo": CommandEntry("run", "(Re)generate the synthetic demo dataset, ending now."),
    "health": CommandEntry(
        "run", "Exit 0 when the daemon finished a run recently (for container health checks)."
    ),
    "hunt": CommandEntry(
        "hunt", "Hunt offline: run rules over event files; alerts to stdout, nothing else written."
    ),
    "actions": CommandEntry("actions", "Notifications: check a job's actions."),
    "convert": CommandEntry(
        "convert",
        "Print the detection-rules TOML (with its [eqlwatch] table) a Sigma rule runs as.",
    ),
}


def _with_default_logging(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Logs are set up before any command runs: JSON lines unless stderr is a terminal.

    Commands with their own --log-format/--log-level reconfigure on top of this.
    """

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from eqlwatch.logs import configure_when_imported

        configure_when_imported(json=None, level="WARNING")
        return callback(*args, **kwargs)

    return run


def load_command(name: str) -> click.Command:
    """Import `name`'s module and build its click command (with the environment epilog)."""
    entry = COMMANDS[name]
    module = _import_frozen(f"eqlwatch.cli.{entry.module}")
    sub = typer.Typer(rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False)
    module.register(sub)
    command = typer.main.get_group(sub).commands[name]
    if entry.reads_environment:
        from eqlwatch.settings import ENVIRONMENT_HELP

        command.epilog = ENVIRONMENT_HELP
    if entry.runs_actions:
        from eqlwatch.cli.actions import ENV_HELP as ACTIONS_HELP

        actions = ACTIONS_HELP[0].lower() + ACTIONS_HELP[1:]
        command.epilog = f"{command.epilog or ''}\n\nNotifications (a job's actions): {actions}"
    _prepare(command)
    return command


_FREEZE_IMPORTS = False  # set by `main`: a fresh process, nothing made yet but typer's


def _import_frozen(name: str) -> Any:
    """Import a command's module; from the console script, with the cyclic collector paused
    and what the import made frozen (`gc.freeze`).

    `hunt`'s imports make ~85,000 objects (modules, classes, pydantic schemas) that live
    until exit; collections while importing walked them again and again (a full one among
    them), 20-35 ms of its start-up; frozen, later collections skip them too. Only from
    `main`: in a longer-lived process (tests, a library user) freezing would keep any
    garbage cycle alive at that moment until exit.
    """
    if not _FREEZE_IMPORTS or name in sys.modules or not gc.isenabled():
        return importlib.import_module(name)
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        gc.enable()


def _prepare(command: click.Command) -> None:
    """Plain help and default logging for a command and, in a group, each subcommand."""
    command.rich_markup_mode = None  # type: ignore[attr-defined]  # typer's commands read it
    if command.callback is not None:
        command.callback = _with_default_logging(command.callback)
    for sub in getattr(command, "commands", {}).values():
        _prepare(sub)


class _LazyCommands(MutableMapping[str, click.Command]):
    """The root's command table: names known up front, each command built on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in COMMANDS:
            raise KeyError(name)
        if name not in self._loaded:
            self._loaded[name] = load_command(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        raise TypeError("eqlwatch commands are added to COMMANDS, not at run time")

    def __delitem__(self, name: str) -> None:
        raise TypeError("eqlwatch commands cannot be removed")

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class LazyGroup(TyperGroup):
    """A typer group whose help lists commands without importing them."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry.summary) for name, entry in COMMANDS.items()])


def _print_version(value: bool) -> None:
    if value:
        from eqlwatch import __version__

        typer.echo(f"eqlwatch {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="eqlwatch",
    cls=LazyGroup,
    help="Scheduled EQL detections for the Elastic stack (embedded engine by default).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        is_eager=True,
        callback=_print_version,
    ),
) -> None:
    """The root takes only --version; each command has its own options."""


def main() -> None:
    global _FREEZE_IMPORTS
    from eqlwatch.depth import ROOM  # see there: events nest past the default limit

    _FREEZE_IMPORTS = True

    sys.setrecursionlimit(max(sys.getrecursionlimit(), ROOM))
    app()
