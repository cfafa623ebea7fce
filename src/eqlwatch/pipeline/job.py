"""A job at run time: its rules compiled, its backends open, one `run_once(now)` per tick.

Everything a run needs is built once here from the job file (rules, window policies,
backends, the alert factory); `run_once` is then a loop over rules in which one rule's
failure is reported and the others still run.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from eqlwatch.actions import DeliveryStats, Notifier
from eqlwatch.actions.report import NotificationReport
from eqlwatch.backends.base import AlertSink, EventSource, StateStore
from eqlwatch.errors import EqlwatchError, Location, QueryError
from eqlwatch.jobs import Job, rule_paths, select_rules
from eqlwatch.model import Alert, TimeWindow
from eqlwatch.pipeline.alerting import AlertBuilder
from eqlwatch.pipeline.reports import Report, ReportSink, RunReport
from eqlwatch.pipeline.runner import RuleRunner, RunnerSettings
from eqlwatch.rules import Rule, compile_rule, load_rules
from eqlwatch.windowing import WindowPolicy, policy_for

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PreparedRule:
    rule: Rule
    policy: WindowPolicy


@dataclass
class JobSummary:
    job_id: str
    run_id: str
    reports: list[RunReport] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)
    notifications: DeliveryStats | None = None

    @property
    def alerts_created(self) -> int:
        return sum(r.alerts_created for r in self.reports)

    @property
    def failed(self) -> bool:
        """A rule not loaded, failed, or without a readable source; a notification given up."""
        gave_up = self.notifications is not None and self.notifications.gave_up > 0
        return bool(self.load_errors) or gave_up or any(r.failed for r in self.reports)

    @property
    def leased(self) -> list[RunReport]:
        """Rules skipped because another replica holds their lease."""
        return [r for r in self.reports if r.status == "skipped"]

    @property
    def waiting(self) -> list[RunReport]:
        return [r for r in self.reports if r.status == "waiting"]


@dataclass
class Backends:
    source: EventSource
    sink: AlertSink
    state: StateStore
    reports: ReportSink | None = None


def prepare_rules(job: Job, rules: Sequence[Rule]) -> tuple[list[PreparedRule], list[str]]:
    """Each rule's compiled query (shared per process) gives its window policy; bad rules are
    reported, whatever compiling raised."""
    prepared: list[PreparedRule] = []
    errors: list[str] = []
    for rule in rules:
        fields = (job.timestamp_field, job.tiebreaker_field, job.event_category_field)
        try:
            info = compile_rule(rule, *fields).info
        except EqlwatchError as exc:  # located as `validate` locates it: file [rule.query]
            where = Location(rule.path, field="rule.query")
            errors.append(str(QueryError(exc.message, location=where)))
            continue
        except Exception as exc:  # one rule's failure must not stop the job
            where = Location(rule.path, field="rule.query")
            errors.append(str(QueryError(f"query cannot be compiled: {exc!r}", location=where)))
            continue
        policy = policy_for(
            maxspan=info.maxspan,
            has_until=info.has_until,
            has_trailing_missing=info.has_trailing_missing,
            kind=info.kind,
            ingest_delay=job.ingest_delay,
            look_back=max(job.look_back, rule.lookback),
            max_chunk=job.max_chunk,
            max_slices=job.max_slices,
            min_split=job.min_split,
            max_sequence_span=job.max_sequence_span,
            late_tolerance=job.late_tolerance,
        )
        prepared.append(PreparedRule(rule, policy))
    return prepared, errors


@dataclass
class JobRuntime:
    job: Job
    rules: list[PreparedRule]
    backends: Backends
    alerts: AlertBuilder
    load_errors: list[str] = field(default_factory=list)
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}")
    should_stop: Callable[[], bool] = field(default=lambda: False)
    on_alerts: Callable[[Rule, Sequence[Alert]], None] | None = None
    notifier: Notifier | None = None

    def _runner(self) -> RuleRunner:
        job = self.job
        settings = RunnerSettings(
            job_id=job.id,
            size=job.size,
            indices=job.indices,
            timestamp_field=job.timestamp_field,
            tiebreaker_field=job.tiebreaker_field,
            event_category_field=job.event_category_field,
            max_wait=job.max_wait,
            deadline_s=job.run_deadline.total_seconds(),
        )
        return RuleRunner(
            settings=settings,
            source=self.backends.source,
            sink=self.backends.sink,
            state=self.backends.state,
            make_alert=self.alerts,
            owner=self.owner,
            should_stop=self.should_stop,
            on_alerts=self._alerts_written,
        )

    def _alerts_written(self, rule: Rule, alerts: Sequence[Alert]) -> None:
        """After a slice's alerts are durable: owe their notifications (before the checkpoint
        moves, so a failure here replays the slice rather than forgetting a message)."""
        if self.notifier is not None:
            self.notifier.record(rule.rule.tags, alerts)
        if self.on_alerts is not None:
            self.on_alerts(rule, alerts)

    def run_once(self, now: datetime, *, period: TimeWindow | None = None) -> JobSummary:
        run_id = uuid.uuid4().hex[:12]
        summary = JobSummary(self.job.id, run_id, load_errors=list(self.load_errors))
        runner = self._runner()
        begin = getattr(self.backends.source, "begin_run", None)
        if period is None and callable(begin):  # the local source observes its files now
            begin(now)
        structlog.contextvars.bind_contextvars(job=self.job.id, run_id=run_id)
        try:
            for prepared in self.rules:
                if self.should_stop():
                    break
                report = self._run_rule(runner, prepared, now, run_id, period)
                report = self.alerts.attach_counts(report)
                summary.reports.append(report)
            if self.notifier is not None:
                summary.notifications = self._notify(self.notifier)
            if self.backends.reports is not None and summary.reports:
                extra: list[Report] = []
                if summary.notifications is not None:  # deliveries, for the dashboard
                    extra.append(
                        NotificationReport(self.job.id, run_id, now, summary.notifications)
                    )
                self._write_reports([*summary.reports, *extra])
        finally:
            structlog.contextvars.unbind_contextvars("job", "run_id")
        if summary.waiting:  # once per run, not an error per rule
            log.info(
                "waiting for data",
                rules=[r.rule_id for r in summary.waiting],
                hint="the job's indices or files hold no event yet; checkpoints hold",
            )
        log.info(
            "run finished",
            job=self.job.id,
            run_id=run_id,
            rules=len(summary.reports),
            alerts_created=summary.alerts_created,
            errors=sum(len(r.errors) for r in summary.reports) + len(summary.load_errors),
        )
        return summary

    def _run_rule(
        self,
        runner: RuleRunner,
        prepared: PreparedRule,
        now: datetime,
        run_id: str,
        period: TimeWindow | None,
    ) -> RunReport:
        """One rule's run; even an unexpected failure is reported and the next rule runs."""
        rule = prepared.rule
        try:
            return runner.run(rule, prepared.policy, now=now, run_id=run_id, period=period)
        except Exception as exc:  # a bug in one rule's path must not stop the job
            log.exception("rule run failed unexpectedly", rule=rule.rule_id)
            return RunReport(
                job_id=self.job.id,
                run_id=run_id,
                rule_id=rule.rule_id,
                rule_name=rule.name,
                started=now,
                duration_s=0.0,
                status="error",
                errors=(f"{type(exc).__name__}: {exc}",),
            )

    def _notify(self, notifier: Notifier) -> DeliveryStats:
        """Send what is owed, after every rule ran: a slow target delays no alert."""
        notifier.stats = DeliveryStats()
        try:
            notifier.close_batch()
            notifier.deliver()
        except EqlwatchError as exc:
            notifier.stats.errors.append(str(exc))
            log.error("notifications not delivered this run", error=str(exc))
        stats = notifier.stats
        log.info(
            "notifications",
            sent=stats.sent,
            retried=stats.retried,
            gave_up=stats.gave_up,
            throttled=stats.throttled,
            pending=stats.pending,
        )
        return stats

    def _write_reports(self, reports: Sequence[Report]) -> None:
        assert self.backends.reports is not None
        try:
            self.backends.reports.write_reports(reports)
        except EqlwatchError as exc:  # reports are telemetry: never fail the run for them
            log.error("could not write run reports", error=str(exc))


def load_job_rules(job: Job) -> tuple[list[Rule], list[str]]:
    result = load_rules(rule_paths(job))
    errors = [str(e) for e in result.errors]
    for message in errors:
        log.error("rule not loaded", error=message)
    if result.skipped:
        log.info("rules skipped", job=job.id, skipped=result.skipped_summary())
    return select_rules(job, result.rules), errors


def resolve_paths(job: Job, paths: Sequence[str]) -> list[Path]:
    return [job.resolve(p) for p in paths]
