"""Pieces shared by the commands that run jobs: loading, building, printing summaries."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from eqlwatch.actions import LocalOutbox, Notifier
from eqlwatch.actions.outbox import HoldsOutbox, OutboxStore
from eqlwatch.alerts import Links
from eqlwatch.cli.console import err_console
from eqlwatch.enrich import load_ip_table
from eqlwatch.errors import EqlwatchError
from eqlwatch.jobs import Job, LocalAlerts, LocalState, load_jobs
from eqlwatch.notes.limits import RenderLimits
from eqlwatch.pipeline.alerting import AlertBuilder
from eqlwatch.pipeline.backends import open_backends
from eqlwatch.pipeline.job import JobRuntime, JobSummary, load_job_rules, prepare_rules
from eqlwatch.rules import Rule
from eqlwatch.windowing import parse_timestamp


def parse_time(value: str, option: str) -> datetime:
    try:
        return parse_timestamp(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a time (ISO 8601, e.g. 2026-11-21T12:00:00Z)", param_hint=option
        ) from None


def select_jobs(paths: list[Path], wanted: str | None) -> tuple[list[Job], int]:
    """The jobs to run, and how many job files could not be loaded (each printed)."""
    jobs, errors = load_jobs(paths or [Path("jobs")])
    for error in errors:
        err_console.print(f"[red]job not loaded[/red] {error}")
    if wanted is not None:
        jobs = [j for j in jobs if j.id == wanted]
        if not jobs:
            err_console.print(f"[red]error[/red] no job with id {wanted!r}")
            raise typer.Exit(2)
    if not jobs:
        err_console.print(
            "[red]error[/red] no valid job found (looked in: "
            f"{', '.join(str(p) for p in paths or [Path('jobs')])})"
        )
        raise typer.Exit(2)
    return jobs, len(errors)


def build_runtime(job: Job, *, now: datetime, ip_ranges: Path | None) -> JobRuntime:
    rules, load_errors = load_job_rules(job)
    prepared, compile_errors = prepare_rules(job, rules)
    alerts = AlertBuilder(
        job_id=job.id,
        templates_dir=job.resolve("templates"),
        ip_table=load_ip_table(ip_ranges),
        links=Links(kibana_url=job.kibana_url),
        timestamp_field=job.timestamp_field,
        note_limits=RenderLimits(
            timeout=job.alert_limits.note_timeout.total_seconds(),
            max_chars=job.alert_limits.note_max_chars,
        ),
        max_string_bytes=job.alert_limits.max_string_bytes,
        group_span=job.group_span,
    )
    try:
        backends = open_backends(job, now=now)
    except EqlwatchError as exc:
        err_console.print(f"[red]error[/red] job {job.id}: {exc}")
        raise typer.Exit(2) from None
    return JobRuntime(
        job=job,
        rules=prepared,
        backends=backends,
        alerts=alerts,
        load_errors=[*load_errors, *compile_errors],
        notifier=make_notifier(job, rules, backends.state),
    )


def make_notifier(job: Job, rules: Sequence[Rule] = (), state: object = None) -> Notifier | None:
    """The job's actions, and its rules' own, over its outbox: where the state store keeps it
    (beside the local state file, in the Elasticsearch state index), else in state/."""
    rule_actions = {r.rule_id: r.eqlwatch.actions for r in rules if r.eqlwatch.actions is not None}
    if not job.actions and not any(rule_actions.values()):
        return None
    outbox: OutboxStore
    if isinstance(state, HoldsOutbox):
        outbox = state.outbox(job.id)
    else:
        folder = Path(job.state.path).parent if isinstance(job.state, LocalState) else Path("state")
        outbox = LocalOutbox(job.resolve(str(folder / f"outbox-{job.id}.json")))
    return Notifier(
        job_id=job.id,
        actions=job.actions,
        store=outbox,
        root=job.root,
        rule_actions=rule_actions,
        known_rules=frozenset(r.rule_id for r in rules),
    )


def print_summary(summary: JobSummary, job: Job) -> None:
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    table = Table(title=f"job {summary.job_id} · run {summary.run_id}", show_lines=False)
    for column in ("rule", "status", "window", "hits", "new alerts", "known", "errors / notes"):
        table.add_column(column)
    for r in summary.reports:
        window = (
            f"{r.window_start:%Y-%m-%d %H:%M:%S} → {r.window_end:%H:%M:%S}"
            if r.window_start and r.window_end
            else "-"
        )
        table.add_row(
            r.rule_name,
            r.status,
            window,
            str(r.hits),
            str(r.alerts_created),
            str(r.alerts_existing),
            _shorten("; ".join([*r.errors, *r.notes]))
            or ("note errors: " + str(r.note_errors) if r.note_errors else ""),
        )
    console.print(table)
    for r in summary.reports:  # in full: the table keeps only the start of each
        for message in r.errors:
            console.print(f"[red]{r.status}[/red] {r.rule_name}: {message}")
    for message in summary.load_errors:
        console.print(f"[red]rule not loaded[/red] {message}")
    where = job.alerts.path if isinstance(job.alerts, LocalAlerts) else job.alerts.data_stream
    console.print(
        f"{summary.alerts_created} new alert(s) written to {where}; "
        f"{len(summary.reports)} rule(s) run, {len(summary.load_errors)} not loaded."
    )
    n = summary.notifications
    if n is not None:
        console.print(
            f"notifications: {n.sent} sent, {n.retried} to retry, {n.gave_up} given up, "
            f"{n.throttled} throttled, {n.pending} pending"
        )
        for message in n.errors:
            console.print(f"[red]notification error[/red] {message}")
    late = max(summary.reports, key=lambda r: r.late_events, default=None)
    if late is not None and late.late_events:  # one source per job: said once
        files = ", ".join(f"{Path(f).name} {n}" for f, n in late.late_by_file[:5])
        console.print(
            f"[yellow]late events[/yellow]: {late.late_events} first seen this run arrived "
            f"more than ingest_delay after they happened (largest delay "
            f"{late.late_max_delay_s:g}s; {files}); evaluated by this run's windows."
        )
    if summary.waiting:
        console.print(
            f"waiting for data: {len(summary.waiting)} rule(s) wait for their source to hold "
            "events up to their next window (see notes); their checkpoints hold meanwhile."
        )
    for r in summary.reports:
        if r.status == "unsupported":
            reason = r.notes[-1] if r.notes else "the cluster is too old for it"
            console.print(f"[yellow]skipped[/yellow] {r.rule_name}: {reason}")
    for r in summary.leased:
        console.print(f"[yellow]skipped[/yellow] {r.rule_name}: another replica holds its lease")


def _shorten(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def utc_now() -> datetime:
    return datetime.now(UTC)
