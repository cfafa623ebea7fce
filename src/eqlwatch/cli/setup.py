"""`eqlwatch setup`: prepare a cluster (and Kibana) for eqlwatch; safe to run on every deploy.

Creates the lifecycle policies, index templates, alert and run-report data streams and the
state index, then imports the Kibana saved objects (data views, saved search, dashboard)
when KIBANA_URL is set. Connection settings come from ELASTICSEARCH_* / KIBANA_* variables.

`--retry-for` keeps trying through failures that waiting can fix (a cluster still starting):
a container restart policy cannot do that for a one-shot service others wait on with
`service_completed_successfully`, since they see its first failure. An unsupported
version or a refused request is not retried.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import typer

from eqlwatch.backends.elasticsearch import build_client, setup_cluster
from eqlwatch.errors import EqlwatchError, RetryableBackendError
from eqlwatch.kibana import import_saved_objects, saved_objects, to_ndjson
from eqlwatch.rules.timespec import parse_duration
from eqlwatch.settings import ElasticsearchSettings, settings_from_env


def _pattern(data_stream: str) -> str:
    """`logs-eqlwatch.alerts-default` → `logs-eqlwatch.alerts-*` (every namespace)."""
    head, sep, _ = data_stream.rpartition("-")
    return f"{head}-*" if sep and "-" in head else data_stream


def run_setup(
    settings: ElasticsearchSettings, *, kibana: bool, alerts_retention: str, runs_retention: str
) -> list[str]:
    """Everything `setup` does, returning one line per step (for the command and for tests)."""
    client = build_client(settings)
    try:
        done = setup_cluster(
            client,
            alerts_data_stream=settings.alerts_data_stream,
            runs_data_stream=settings.runs_data_stream,
            state_index=settings.state_index,
            alerts_retention=alerts_retention,
            runs_retention=runs_retention,
        )
    finally:
        client.close()
    if kibana and settings.kibana_url:
        objects = saved_objects(
            _pattern(settings.alerts_data_stream), _pattern(settings.runs_data_stream)
        )
        result = import_saved_objects(settings, to_ndjson(objects))
        done.append(f"Kibana saved objects imported: {result.success_count}")
    elif kibana:
        done.append("Kibana skipped: KIBANA_URL is not set")
    return done


def register(app: typer.Typer) -> None:
    @app.command("setup")
    def setup(
        kibana: bool = typer.Option(True, "--kibana/--no-kibana", help="Import saved objects."),
        alerts_retention: str = typer.Option(
            "365d", metavar="AGE", help="Delete alert indices after this."
        ),
        runs_retention: str = typer.Option(
            "30d", metavar="AGE", help="Delete run-report indices after this."
        ),
        retry_for: str = typer.Option(
            "0s", metavar="DURATION", help="Keep retrying transient failures this long (10m)."
        ),
        retry_every: str = typer.Option(
            "10s", metavar="DURATION", help="Pause between those retries."
        ),
    ) -> None:
        """Create templates, lifecycle, data streams, state index and Kibana objects."""
        try:
            settings = settings_from_env(os.environ)
            deadline = time.monotonic() + _seconds(retry_for, "--retry-for")
            pause = _seconds(retry_every, "--retry-every")
            while True:
                try:
                    lines = run_setup(
                        settings,
                        kibana=kibana,
                        alerts_retention=alerts_retention,
                        runs_retention=runs_retention,
                    )
                    break
                except RetryableBackendError as exc:
                    if time.monotonic() + pause > deadline:
                        raise
                    typer.echo(f"setup: {exc}; retrying in {pause:g}s", err=True)
                    time.sleep(pause)
            for line in lines:
                typer.echo(line)
        except RetryableBackendError as exc:
            typer.echo(f"setup failed (retry later): {exc}", err=True)
            raise typer.Exit(75) from None
        except EqlwatchError as exc:
            typer.echo(f"setup failed: {exc}", err=True)
            raise typer.Exit(1) from None


def _seconds(text: str, option: str) -> float:
    try:
        value: timedelta = parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
    return value.total_seconds()
