"""The daemon: APScheduler 3.x runs each job on its cron or interval trigger.

The only module that imports APScheduler. Runs coalesce (a backlog of missed fire times
becomes one run, which catches up by itself through windowing), never overlap
(max_instances=1), and SIGTERM/SIGINT let the run in flight finish its current window and
save its checkpoint before the process exits.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

import structlog
from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    job_id: str
    run: Callable[[datetime], object]
    interval: timedelta | None = None
    cron: str | None = None

    def trigger(self) -> BaseTrigger:
        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=UTC)
        if self.interval is not None:
            return IntervalTrigger(seconds=self.interval.total_seconds(), timezone=UTC)
        raise ValueError(f"job {self.job_id!r} has neither cron nor interval")


class StopFlag:
    """Set by SIGTERM/SIGINT; runners poll it between windows."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


def build_scheduler(
    jobs: list[ScheduledJob], *, misfire_grace_s: int = 300, run_at_start: bool = True
) -> BlockingScheduler:
    scheduler = BlockingScheduler(
        timezone=UTC,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": misfire_grace_s,
        },
    )
    for job in jobs:
        scheduler.add_job(
            _timed(job),
            trigger=job.trigger(),
            id=job.job_id,
            name=job.job_id,
            next_run_time=datetime.now(UTC) if run_at_start else None,
        )
    scheduler.add_listener(_log_failure, EVENT_JOB_ERROR)
    return scheduler


def run_forever(scheduler: BlockingScheduler, stop: StopFlag) -> None:
    """Block until SIGTERM/SIGINT; the job in flight finishes its window first."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop():
            return  # a second signal (e.g. from a process group) changes nothing
        log.info("signal received; finishing the window in flight", signal=signum)
        stop.set()
        # shutdown(wait=True) joins the executor's running job before returning.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    log.info("scheduler started", jobs=[j.id for j in scheduler.get_jobs()])
    scheduler.start()
    log.info("scheduler stopped")


def _timed(job: ScheduledJob) -> Callable[[], None]:
    def fire() -> None:
        job.run(datetime.now(UTC))

    return fire


def _log_failure(event: JobExecutionEvent) -> None:
    log.error("scheduled run failed", job=event.job_id, error=repr(event.exception))
