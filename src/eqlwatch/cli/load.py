"""`eqlwatch load PATH... [--data-stream NAME]`: load events into Elasticsearch for testing.

Reads ECS NDJSON or raw Windows/Sysmon logs (EVTX, winlogbeat JSON, Splunk XML, ...) through
the project's Sysmon normaliser, installs mappings EQL can query (keyword strings, date
timestamp, ip addresses) for new data streams, and bulk-creates the events with their
stable ids, showing progress. Events go to their own data stream unless --data-stream names
one. Exit code 1 when any event failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from eqlwatch.backends.elasticsearch import build_client
from eqlwatch.backends.elasticsearch.loader import (
    LoadResult,
    align_data_stream_fields,
    data_stream_of,
    ensure_events_template,
    load_events,
    refresh,
)
from eqlwatch.errors import DataError, EqlwatchError, RetryableBackendError
from eqlwatch.settings import ElasticsearchSettings, settings_from_env
from eqlwatch.sysmon import INPUT_FORMATS, read_windows_events


def _events(
    paths: list[Path], input_format: str, data_stream: str | None, bad: list[DataError]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in paths:
        for event in read_windows_events(path, input_format, on_error=bad.append):
            target = data_stream or data_stream_of(event.index)
            yield target, event.id, align_data_stream_fields(event.source, target)


def run_load(
    settings: ElasticsearchSettings,
    paths: list[Path],
    *,
    data_stream: str | None,
    input_format: str = "auto",
    show_progress: bool = False,
) -> tuple[LoadResult, list[DataError]]:
    """Load every event of `paths`; returns the bulk outcome and the unreadable records."""
    client = build_client(settings)
    bad: list[DataError] = []
    targets: set[str] = set()

    def with_templates() -> Iterator[tuple[str, str, dict[str, Any]]]:
        for target, doc_id, source in _events(paths, input_format, data_stream, bad):
            if target not in targets:
                targets.add(target)
                ensure_events_template(client, target)
            yield target, doc_id, source

    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed} events"),
            TimeElapsedColumn(),
            disable=not show_progress,
            transient=False,
        ) as progress:
            task = progress.add_task("loading", total=None)
            result = load_events(
                client, with_templates(), progress=lambda n: progress.advance(task, n)
            )
        refresh(client, targets)
    finally:
        client.close()
    return result, bad


def register(app: typer.Typer) -> None:
    @app.command("load")
    def load(
        paths: list[Path] = typer.Argument(..., metavar="PATH...", help="Event files or folders."),  # noqa: B008
        data_stream: str | None = typer.Option(
            None,
            "--data-stream",
            metavar="NAME",
            help="Target data stream (default: each event's own).",
        ),
        input_format: str = typer.Option(
            "auto",
            "--input-format",
            "--format",
            metavar="FORMAT",
            help=f"One of: {', '.join(INPUT_FORMATS)}.",
        ),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
    ) -> None:
        """Load ECS NDJSON or raw Sysmon events into Elasticsearch, with EQL-ready mappings."""
        try:
            settings = settings_from_env(os.environ)
            result, bad = run_load(
                settings,
                paths,
                data_stream=data_stream,
                input_format=input_format,
                show_progress=progress,
            )
        except RetryableBackendError as exc:
            typer.echo(f"load failed (retry later): {exc}", err=True)
            raise typer.Exit(75) from None
        except EqlwatchError as exc:
            typer.echo(f"load failed: {exc}", err=True)
            raise typer.Exit(1) from None
        for error in bad[:10]:
            typer.echo(f"skipped: {error}", err=True)
        for line in result.errors:
            typer.echo(f"failed: {line}", err=True)
        typer.echo(
            f"loaded {result.created}, already there {result.existing}, "
            f"failed {result.failed}, unreadable {len(bad)}"
        )
        if result.failed or bad:
            raise typer.Exit(1)
