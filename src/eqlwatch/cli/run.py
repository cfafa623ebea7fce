"""`eqlwatch run` (daemon or --once), `eqlwatch backfill`, `eqlwatch demo`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from eqlwatch.cli.common import (
    build_runtime,
    err_console,
    parse_time,
    print_summary,
    select_jobs,
    setup_logging,
    utc_now,
)
from eqlwatch.heartbeat import age, beat
from eqlwatch.model import TimeWindow
from eqlwatch.pipeline.job import JobRuntime
from eqlwatch.rules import parse_duration

DEFAULT_HEARTBEAT = Path("state/heartbeat")
JOBS_HELP = "Job files or folders (default: ./jobs)."
LOG_FORMAT_HELP = "Log format: auto (console on a terminal, JSON otherwise), json or console."


def run(
    jobs: Annotated[list[Path], typer.Option("--jobs", help=JOBS_HELP)] = [],  # noqa: B006 - typer reads, never mutates, it
    job_id: Annotated[
        str | None, typer.Option("--job", help="Run only the job with this id.")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run each job once and exit (cron mode).")
    ] = False,
    now: Annotated[
        str | None, typer.Option("--now", help="Pretend it is this time (with --once).")
    ] = None,
    ip_ranges: Annotated[
        Path | None, typer.Option("--ip-ranges", help="User IP ranges (TOML).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus metrics.")
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", help=LOG_FORMAT_HELP)] = "auto",
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
    heartbeat: Annotated[
        Path, typer.Option("--heartbeat", help="Daemon: file rewritten after every run.")
    ] = DEFAULT_HEARTBEAT,
) -> None:
    """Run jobs on their schedules (daemon), or once with --once."""
    setup_logging(log_format, log_level)
    if now is not None and not once:
        raise typer.BadParameter("--now needs --once", param_hint="--now")
    start = parse_time(now, "--now") if now is not None else utc_now()
    selected = select_jobs(jobs, job_id)
    runtimes = [build_runtime(job, now=start, ip_ranges=ip_ranges) for job in selected]
    metrics = None
    if metrics_port is not None:
        from eqlwatch.metrics import Metrics

        metrics = Metrics()
        metrics.serve(metrics_port)
    if once:
        failed = False
        for runtime in runtimes:
            summary = runtime.run_once(start)
            if metrics is not None:
                for report in summary.reports:
                    metrics.observe(report)
            print_summary(summary, runtime.job)
            failed = failed or summary.failed
        raise typer.Exit(1 if failed else 0)

    from eqlwatch.scheduler import ScheduledJob, StopFlag, build_scheduler, run_forever

    stop = StopFlag()
    scheduled = []
    for runtime in runtimes:
        runtime.should_stop = stop

        def tick(when: object, rt: JobRuntime = runtime) -> None:
            summary = rt.run_once(utc_now())
            if metrics is not None:
                for report in summary.reports:
                    metrics.observe(report)
            beat(heartbeat, utc_now())

        schedule = runtime.job.schedule
        scheduled.append(
            ScheduledJob(runtime.job.id, run=tick, interval=schedule.interval, cron=schedule.cron)
        )
    run_forever(build_scheduler(scheduled), stop)


def backfill(
    start: Annotated[str, typer.Option("--from", help="Start of the period (ISO 8601).")],
    end: Annotated[str, typer.Option("--to", help="End of the period (ISO 8601).")],
    jobs: Annotated[list[Path], typer.Option("--jobs", help=JOBS_HELP)] = [],  # noqa: B006 - typer reads, never mutates, it
    job_id: Annotated[str | None, typer.Option("--job", help="Only the job with this id.")] = None,
    ip_ranges: Annotated[
        Path | None, typer.Option("--ip-ranges", help="User IP ranges (TOML).")
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", help=LOG_FORMAT_HELP)] = "auto",
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
) -> None:
    """Replay a period: alerts already written are not written again; checkpoints stay."""
    setup_logging(log_format, log_level)
    period = TimeWindow(parse_time(start, "--from"), parse_time(end, "--to"))
    if period.end <= period.start:
        raise typer.BadParameter("--to must be after --from", param_hint="--to")
    failed = False
    for job in select_jobs(jobs, job_id):
        runtime = build_runtime(job, now=utc_now(), ip_ranges=ip_ranges)
        summary = runtime.run_once(utc_now(), period=period)
        print_summary(summary, job)
        failed = failed or summary.failed
    raise typer.Exit(1 if failed else 0)


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder to write to.")] = Path("data/demo"),
    hours: Annotated[
        float, typer.Option("--hours", help="Length of the period, ending now.")
    ] = 0.8,
    seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """(Re)generate the synthetic demo dataset, ending now."""
    from eqlwatch.demo import write_demo_data

    end = utc_now() - timedelta(minutes=1)
    written = write_demo_data(out, end=end, seed=seed, hours=hours)
    err_console.print(f"wrote {len(written)} files to {out} (synthetic, seed {seed})")


def health(
    heartbeat: Annotated[Path, typer.Option("--heartbeat", help="The daemon's heartbeat file.")] = (
        DEFAULT_HEARTBEAT
    ),
    max_age: Annotated[
        str, typer.Option("--max-age", help="Unhealthy when the last run ended longer ago.")
    ] = "30m",
) -> None:
    """Exit 0 when the daemon finished a run recently (for container health checks)."""
    limit = parse_duration(max_age)
    since = age(heartbeat, utc_now())
    if since is None:
        err_console.print(f"unhealthy: no heartbeat at {heartbeat}")
        raise typer.Exit(1)
    if since > limit:
        err_console.print(f"unhealthy: last run ended {since} ago (limit {limit})")
        raise typer.Exit(1)
    err_console.print(f"healthy: last run ended {since} ago")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("backfill")(backfill)
    app.command("demo")(demo)
    app.command("health")(health)
