"""Runs one rule over the windows it is due, the only place checkpoints advance.

For each slice planned by `windowing`: search (retrying transient failures with backoff),
split when the page is full, keep the hits attributed to the slice, turn them into alerts,
write them, and only then move the checkpoint to the slice's end. Any failure stops the
rule for this run with the checkpoint where the last durable write left it, so the next run
resumes there: no gap, and deterministic alert ids make the replay create nothing twice.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import structlog

from eqlwatch.backends.base import AlertSink, EventSource, Lease, StateStore
from eqlwatch.errors import BackendError, EqlwatchError, RetryableBackendError
from eqlwatch.model import Alert, Hit, SearchRequest, SearchResult, TimeWindow
from eqlwatch.pipeline.reports import RunReport
from eqlwatch.rules import Rule
from eqlwatch.windowing import (
    Slice,
    WindowPolicy,
    WindowTooDense,
    attributed,
    completion_time,
    plan,
    split,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")


class AlertFactory(Protocol):
    """Turns one hit of a rule into an alert, or None when an exception suppresses it."""

    def __call__(self, rule: Rule, hit: Hit, *, detected_at: datetime) -> Alert | None: ...


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    job_id: str
    size: int = 1000
    indices: tuple[str, ...] = ()
    timestamp_field: str = "@timestamp"
    tiebreaker_field: str | None = None
    event_category_field: str = "event.category"
    lease_ttl_s: float = 600.0
    max_attempts: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0


@dataclass(slots=True)
class _Tally:
    searches: int = 0
    hits: int = 0
    created: int = 0
    existing: int = 0
    excepted: int = 0
    errors: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None


@dataclass
class RuleRunner:
    settings: RunnerSettings
    source: EventSource
    sink: AlertSink
    state: StateStore
    make_alert: AlertFactory
    owner: str
    sleep: Callable[[float], None] = time.sleep
    wall_clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    on_alerts: Callable[[Rule, Sequence[Alert]], None] | None = None
    should_stop: Callable[[], bool] = field(default=lambda: False)

    def key(self, rule: Rule) -> str:
        return f"{self.settings.job_id}/{rule.rule_id}"

    def run(
        self,
        rule: Rule,
        policy: WindowPolicy,
        *,
        now: datetime,
        run_id: str,
        period: TimeWindow | None = None,
    ) -> RunReport:
        """One scheduled run (period=None) or a backfill of `period` (checkpoint untouched)."""
        started, clock = now, time.monotonic()
        tally = _Tally()
        bound = log.bind(job=self.settings.job_id, rule=rule.rule_id, run_id=run_id)
        try:
            lease = self._retry(
                lambda: self.state.acquire_lease(
                    self.key(rule), self.owner, self.wall_clock(), self.settings.lease_ttl_s
                ),
                what="acquire lease",
            )
        except EqlwatchError as exc:
            tally.errors.append(str(exc))
            bound.error("rule not run: state store unavailable", error=str(exc))
            return self._report(rule, run_id, started, clock, "error", tally, None)
        if lease is None:
            bound.info("rule skipped: another replica holds the lease")
            return self._report(rule, run_id, started, clock, "skipped", tally, None)
        status = "ok"
        try:
            slices = self._slices(rule, policy, now, period)
            for done in self._process(rule, policy, slices, tally, bound, now):
                if period is None:
                    self.state.set_checkpoint(self.key(rule), done.attribution.end)
                if self.should_stop():
                    bound.info("stopping after the window in flight", checkpoint=str(done))
                    break
                lease = self._renew(lease)
        except (EqlwatchError, WindowTooDense) as exc:
            status = "error"
            tally.errors.append(str(exc))
            bound.error("rule run stopped; checkpoint kept", error=str(exc))
        finally:
            self._release(lease, bound)
        checkpoint = None if period is not None else self._checkpoint_or_none(rule)
        return self._report(rule, run_id, started, clock, status, tally, checkpoint)

    def _release(self, lease: Lease, bound: structlog.typing.FilteringBoundLogger) -> None:
        try:
            self.state.release_lease(lease)
        except EqlwatchError as exc:  # it expires on its own; never fail the run for it
            bound.warning("lease not released; it will expire", error=str(exc))

    def _checkpoint_or_none(self, rule: Rule) -> datetime | None:
        try:
            return self.state.get_checkpoint(self.key(rule))
        except EqlwatchError:
            return None

    def _slices(
        self, rule: Rule, policy: WindowPolicy, now: datetime, period: TimeWindow | None
    ) -> list[Slice]:
        if period is None:
            checkpoint = self.state.get_checkpoint(self.key(rule))
            if checkpoint is None:
                # The rule's history starts at its first attempt: record that start before
                # anything can fail, or a later first success would begin a look-back later
                # and leave a gap.
                checkpoint = now - policy.look_back
                self.state.set_checkpoint(self.key(rule), checkpoint)
            return plan(checkpoint, now, policy)
        unbounded = dataclasses.replace(policy, max_slices=1 << 30)
        virtual_now = period.end + policy.ingest_delay + policy.hold_back
        return plan(period.start, virtual_now, unbounded)

    def _process(
        self,
        rule: Rule,
        policy: WindowPolicy,
        slices: list[Slice],
        tally: _Tally,
        bound: structlog.typing.FilteringBoundLogger,
        now: datetime,
    ) -> Iterator[Slice]:
        """Yields each slice once its alerts are durably written (then the caller advances)."""
        for planned in slices:
            for piece, hits in self._evaluate(rule, policy, planned, tally):
                alerts = self._alerts(rule, hits, tally, now)
                result = self._retry(
                    functools.partial(self.sink.write, alerts), what="write alerts"
                )
                tally.created += result.created
                tally.existing += result.existing
                tally.first = tally.first or piece.attribution.start
                tally.last = piece.attribution.end
                if alerts and self.on_alerts is not None:
                    self.on_alerts(rule, alerts)
                bound.debug(
                    "slice done",
                    start=piece.attribution.start.isoformat(),
                    end=piece.attribution.end.isoformat(),
                    hits=len(hits),
                    created=result.created,
                )
                yield piece

    def _evaluate(
        self, rule: Rule, policy: WindowPolicy, planned: Slice, tally: _Tally
    ) -> Iterator[tuple[Slice, list[Hit]]]:
        ts_field = self.settings.timestamp_field

        def completed(hit: Hit) -> datetime:
            return completion_time(hit, ts_field)

        stack = [planned]
        while stack:
            piece = stack.pop()
            request = self._request(rule, piece)
            result: SearchResult = self._retry(
                functools.partial(self.source.search, request), what="search"
            )
            tally.searches += 1
            if result.is_full(self.settings.size):
                first, second = split(piece, policy)
                stack.extend((second, first))
                continue
            hits = attributed(result.hits, piece, completed)
            tally.hits += len(hits)
            yield piece, hits

    def _alerts(self, rule: Rule, hits: list[Hit], tally: _Tally, now: datetime) -> list[Alert]:
        alerts = []
        for hit in hits:
            alert = self.make_alert(rule, hit, detected_at=now)
            if alert is None:
                tally.excepted += 1
            else:
                alerts.append(alert)
        return alerts

    def _request(self, rule: Rule, piece: Slice) -> SearchRequest:
        s = self.settings
        return SearchRequest(
            query=rule.query,
            indices=s.indices or rule.rule.index,
            window=piece.query,
            size=s.size,
            **rule.event_fields(
                s.timestamp_field, s.tiebreaker_field, s.event_category_field
            )._asdict(),
        )

    def _retry(self, action: Callable[[], T], *, what: str) -> T:
        delay = self.settings.backoff_s
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                return action()
            except RetryableBackendError as exc:
                if attempt == self.settings.max_attempts:
                    raise BackendError(f"{what} failed after {attempt} attempts: {exc}") from exc
                log.warning(
                    f"{what} failed; retrying", attempt=attempt, delay_s=delay, error=str(exc)
                )
                self.sleep(delay)
                delay = min(delay * 2, self.settings.max_backoff_s)
        raise AssertionError("unreachable")  # pragma: no cover

    def _renew(self, lease: Lease) -> Lease:
        renewed = self.state.acquire_lease(
            lease.key, self.owner, self.wall_clock(), self.settings.lease_ttl_s
        )
        if renewed is None:
            raise BackendError(f"lease {lease.key} was taken over by another replica")
        return renewed

    def _report(
        self,
        rule: Rule,
        run_id: str,
        started: datetime,
        clock: float,
        status: str,
        tally: _Tally,
        checkpoint: datetime | None,
    ) -> RunReport:
        lag = None if checkpoint is None else (started - checkpoint) / timedelta(seconds=1)
        return RunReport(
            job_id=self.settings.job_id,
            run_id=run_id,
            rule_id=rule.rule_id,
            rule_name=rule.name,
            started=started,
            duration_s=time.monotonic() - clock,
            status=status,
            window_start=tally.first,
            window_end=tally.last,
            checkpoint=checkpoint,
            lag_s=lag,
            searches=tally.searches,
            hits=tally.hits,
            alerts_created=tally.created,
            alerts_existing=tally.existing,
            alerts_excepted=tally.excepted,
            errors=tuple(tally.errors),
        )
