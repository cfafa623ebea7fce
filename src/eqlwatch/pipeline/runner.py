"""Runs one rule over the windows it is due, the only place checkpoints advance.

First the source is asked what it holds (`EventSource.status`): any problem (a glob that
matched nothing, an unreadable file) holds the checkpoint, and windows are planned only up
to the source's watermark (`pipeline.watermark`). Then, for each slice planned by
`windowing`: search (retrying transient failures with backoff, within the run's deadline),
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
from typing import Protocol, TypeVar, runtime_checkable

import structlog

from eqlwatch.backends.base import AlertSink, EventSource, Lease, SourceStatus, StateStore
from eqlwatch.errors import (
    BackendError,
    DataError,
    EqlwatchError,
    RetryableBackendError,
    UnsupportedRule,
)
from eqlwatch.model import Alert, Hit, SearchRequest, SearchResult, TimeWindow, WriteResult
from eqlwatch.pipeline.reports import RunReport
from eqlwatch.pipeline.suppressing import RuleSuppression
from eqlwatch.pipeline.watermark import gate
from eqlwatch.rules import Rule
from eqlwatch.rules.stack import required_stack_version
from eqlwatch.windowing import (
    Selection,
    Slice,
    WindowPolicy,
    WindowTooDense,
    attributed,
    completion_time,
    plan,
    selection_time,
    split,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")


@runtime_checkable
class DescribesLeases(Protocol):
    """A state store that can say who holds a lease (the local one: owner, host, pid)."""

    def holder(self, key: str) -> str | None: ...


class AlertFactory(Protocol):
    """Turns one hit of a rule into an alert, or None when an exception suppresses it."""

    def __call__(self, rule: Rule, hit: Hit, *, detected_at: datetime) -> Alert | None: ...


class DeadlineExceeded(BackendError):
    """The rule run's overall deadline passed; the checkpoint stays where it is."""


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """`max_wait`: how long a due window waits for the source's watermark (0: not at all).

    `deadline_s`: the most one rule run may take, retries and backoff included (None: no
    limit). Retries happen here only (the Elasticsearch client's own are turned off), with
    exponential backoff from `backoff_s` to `max_backoff_s`, `max_attempts` per action.
    """

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
    max_wait: timedelta = timedelta(0)
    deadline_s: float | None = None


@dataclass(slots=True)
class _Tally:
    searches: int = 0
    hits: int = 0
    created: int = 0
    existing: int = 0
    excepted: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    source: SourceStatus | None = None
    lag_s: float | None = None
    deadline: float | None = None
    late_hits: int = 0
    late_max: timedelta = timedelta(0)


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
    _deadline: float | None = field(default=None, init=False, repr=False)

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
        if self.settings.deadline_s is not None:
            tally.deadline = clock + self.settings.deadline_s
        self._deadline = tally.deadline
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
            holder = self._holder(rule)
            bound.info("rule skipped: another replica holds the lease", held_by=holder)
            tally.notes.append(
                "another replica holds the lease" + (f" ({holder})" if holder else "")
            )
            return self._report(rule, run_id, started, clock, "skipped", tally, None)
        status, held = "ok", [lease]  # held[0]: the lease as last renewed
        try:
            status = self._run_leased(rule, policy, now, period, tally, bound, held)
        except UnsupportedRule as exc:
            status = "unsupported"
            tally.notes.append(str(exc))
            bound.info("rule skipped: the cluster is too old for it", reason=str(exc))
        except DeadlineExceeded as exc:
            status = "error"
            tally.errors.append(str(exc))
            bound.error("rule run deadline reached; checkpoint kept", error=str(exc))
        except (EqlwatchError, WindowTooDense) as exc:
            status = "error"
            tally.errors.append(str(exc))
            bound.error("rule run stopped; checkpoint kept", error=str(exc))
        finally:
            self._release(held[0], bound)
        checkpoint = None if period is not None else self._checkpoint_or_none(rule)
        return self._report(rule, run_id, started, clock, status, tally, checkpoint)

    def _run_leased(
        self,
        rule: Rule,
        policy: WindowPolicy,
        now: datetime,
        period: TimeWindow | None,
        tally: _Tally,
        bound: structlog.typing.FilteringBoundLogger,
        held: list[Lease],
    ) -> str:
        """The run once the lease is held: source evidence, then the windows it vouches for."""
        indices = self.settings.indices or rule.rule.index
        source = self._retry(
            lambda: self.source.status(tuple(indices), self.settings.timestamp_field),
            what="source status",
        )
        tally.source = source
        if source.problems:
            tally.errors.extend(source.problems)
            bound.error("source not read completely; checkpoint kept", problems=source.problems)
            if period is None:  # the history starts at the first attempt, as below
                self._checkpoint_or_start(rule, policy, now)
            return "no-data"
        plan_now: datetime | None = now
        if period is None:
            verdict = gate(now, source.newest, policy, self.settings.max_wait)
            plan_now = verdict.plan_now
            if plan_now is None:
                tally.notes.append(f"waiting for data: no event yet in {', '.join(indices)}")
                # Record the history's start now, so data arriving later is searched from here.
                self._checkpoint_or_start(rule, policy, now)
                return "waiting"
            if verdict.waiting and source.newest is not None:
                tally.notes.append(
                    f"waiting for data after {source.newest:%H:%M:%S} "
                    f"(max_wait {self.settings.max_wait})"
                )
        slices = self._slices(rule, policy, plan_now or now, period)
        suppression = RuleSuppression.for_rule(
            rule, self.key(rule), self.sink, self.state, backfill=period is not None
        )
        for done in self._process(rule, policy, slices, tally, bound, now, suppression):
            if period is None:
                self._retry(
                    functools.partial(
                        self.state.set_checkpoint, self.key(rule), done.attribution.end
                    ),
                    what="save checkpoint",
                )
                if source.newest is not None and source.newest < done.query.end:
                    behind = (done.query.end - source.newest) / timedelta(seconds=1)
                    tally.lag_s = max(tally.lag_s or 0.0, behind)
                elif source.newest is None:
                    tally.lag_s = None  # watermark off and no data: no lag to speak of
            if self.should_stop():
                bound.info("stopping after the window in flight", checkpoint=str(done))
                break
            if self._past_deadline() and done.attribution.end < slices[-1].attribution.end:
                tally.notes.append(
                    f"run deadline ({self.settings.deadline_s:g}s) reached after "
                    f"{tally.searches} search(es); the rest resumes next run"
                )
                return "partial"
            held[0] = self._renew(held[0])
        if tally.late_hits:
            tally.notes.append(
                f"{tally.late_hits} hit(s) from late events "
                f"(up to {tally.late_max.total_seconds():g}s after they happened)"
            )
        if tally.lag_s is not None:
            tally.notes.append(
                f"evaluated {tally.lag_s:g}s past the source's newest event "
                f"(max_wait {self.settings.max_wait} passed)"
            )
        if not slices and period is None and plan_now is not None and plan_now < now:
            return "waiting"
        return "ok"

    def _holder(self, rule: Rule) -> str | None:
        """Who holds the rule's lease, where the state store can tell (for the summary)."""
        if not isinstance(self.state, DescribesLeases):
            return None
        try:
            return self.state.holder(self.key(rule))
        except EqlwatchError:
            return None

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

    def _checkpoint_or_start(self, rule: Rule, policy: WindowPolicy, now: datetime) -> datetime:
        checkpoint = self._retry(
            functools.partial(self.state.get_checkpoint, self.key(rule)), what="read checkpoint"
        )
        if checkpoint is None:
            # The rule's history starts at its first attempt: record that start before
            # anything can fail, or a later first success would begin a look-back later
            # and leave a gap.
            checkpoint = now - policy.look_back
            self._retry(
                functools.partial(self.state.set_checkpoint, self.key(rule), checkpoint),
                what="save checkpoint",
            )
        return checkpoint

    def _slices(
        self, rule: Rule, policy: WindowPolicy, now: datetime, period: TimeWindow | None
    ) -> list[Slice]:
        """`now` is where the watermark allows planning to (the run's own time at most)."""
        if period is None:
            return plan(self._checkpoint_or_start(rule, policy, now), now, policy)
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
        suppression: RuleSuppression | None = None,
    ) -> Iterator[Slice]:
        """Yields each slice once its alerts are durably written (then the caller advances)."""
        for planned in slices:
            for piece, hits in self._evaluate(rule, policy, planned, tally):
                if suppression is None:
                    alerts = self._alerts(rule, hits, tally, now)
                    result = self._retry(
                        functools.partial(self.sink.write, alerts), what="write alerts"
                    )
                else:
                    result, alerts = self._suppressed(rule, piece, hits, tally, now, suppression)
                tally.created += result.created
                tally.existing += result.existing
                tally.first = tally.first or piece.attribution.start
                tally.last = piece.attribution.end
                if alerts and self.on_alerts is not None:
                    # Owes their notifications (the outbox): retried like a write, and
                    # idempotent (delivery ids), so a replay or a retry adds nothing.
                    self._retry(
                        functools.partial(self.on_alerts, rule, alerts),
                        what="record notifications",
                    )
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
        selection = self.selection(rule)

        def completed(hit: Hit) -> datetime | None:
            return selection_time(hit, selection)

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
            self._count_late(hits, selection, policy, tally)
            yield piece, hits

    def _count_late(
        self, hits: list[Hit], selection: Selection, policy: WindowPolicy, tally: _Tally
    ) -> None:
        """Hits selected more than ingest_delay after they happened: late data, evaluated
        because windows follow selection time (counted for the report)."""
        for hit in hits:
            try:
                picked = selection_time(hit, selection)
                happened = completion_time(hit, selection.timestamp_field)
            except DataError:
                continue
            if picked is not None and picked - happened > policy.ingest_delay:
                tally.late_hits += 1
                tally.late_max = max(tally.late_max, picked - happened)

    def _suppressed(
        self,
        rule: Rule,
        piece: Slice,
        hits: list[Hit],
        tally: _Tally,
        now: datetime,
        suppression: RuleSuppression,
    ) -> tuple[WriteResult, list[Alert]]:
        """A suppressing rule's slice: matches ordered by the clock that tiles the slices."""
        selection = self.selection(rule)
        matches = []
        for hit in hits:
            alert = self.make_alert(rule, hit, detected_at=now)
            when = selection_time(hit, selection)
            if alert is None:
                tally.excepted += 1
            elif when is not None:  # attributed hits always have one
                matches.append((when, hit, alert))

        def retry(action: Callable[[], object], what: str) -> object:
            return self._retry(action, what=what)

        result, notify, replayed = suppression.slice(
            piece.attribution.start, matches, self.sink, retry
        )
        tally.suppressed += len(matches) - replayed - len(notify)
        return result, notify

    def _alerts(self, rule: Rule, hits: list[Hit], tally: _Tally, now: datetime) -> list[Alert]:
        alerts = []
        for hit in hits:
            alert = self.make_alert(rule, hit, detected_at=now)
            if alert is None:
                tally.excepted += 1
            else:
                alerts.append(alert)
        return alerts

    def selection(self, rule: Rule) -> Selection:
        """The clock that picks this rule's windows: its timestamp override, if any, with
        its event time as the fallback (Kibana's semantics); see docs/windowing.md."""
        s = self.settings
        fields = rule.event_fields(s.timestamp_field, s.tiebreaker_field, s.event_category_field)
        return Selection(
            timestamp_field=fields.timestamp_field,
            override=rule.rule.timestamp_override or None,
            fallback=not rule.rule.timestamp_override_fallback_disabled,
        )

    def _request(self, rule: Rule, piece: Slice) -> SearchRequest:
        s = self.settings
        selection = self.selection(rule)
        return SearchRequest(
            query=rule.query,
            indices=s.indices or rule.rule.index,
            window=piece.query,
            size=s.size,
            max_samples_per_key=rule.eqlwatch.max_samples_per_key,
            selection_field=selection.override,
            selection_fallback=selection.fallback,
            min_stack_version=required_stack_version(rule),
            **rule.event_fields(
                s.timestamp_field, s.tiebreaker_field, s.event_category_field
            )._asdict(),
        )

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _retry(self, action: Callable[[], T], *, what: str) -> T:
        """The one retry layer: backoff between attempts, no retry past the run's deadline
        (a first attempt always runs, so each run makes at least one step of progress)."""
        delay = self.settings.backoff_s
        for attempt in range(1, self.settings.max_attempts + 1):
            if attempt > 1 and self._past_deadline():
                raise DeadlineExceeded(
                    f"run deadline ({self.settings.deadline_s:g}s) reached before {what} "
                    f"(attempt {attempt})"
                )
            try:
                return action()
            except RetryableBackendError as exc:
                if attempt == self.settings.max_attempts:
                    raise BackendError(f"{what} failed after {attempt} attempts: {exc}") from exc
                if self._deadline is not None:
                    left = self._deadline - time.monotonic()
                    if left <= delay:
                        raise DeadlineExceeded(
                            f"{what} failed and the run deadline ({self.settings.deadline_s:g}s) "
                            f"leaves no time to retry: {exc}"
                        ) from exc
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
            alerts_suppressed=tally.suppressed,
            errors=tuple(tally.errors),
            notes=(
                *tally.notes,
                *(
                    [f"{tally.suppressed} match(es) suppressed into existing alerts"]
                    if tally.suppressed
                    else []
                ),
            ),
            source_newest=None if tally.source is None else tally.source.newest,
            source_lag_s=tally.lag_s,
            files_matched=0 if tally.source is None else tally.source.files_matched,
            files_read=0 if tally.source is None else tally.source.files_read,
            records=0 if tally.source is None else tally.source.records,
            records_skipped=0 if tally.source is None else tally.source.records_skipped,
            late_events=0 if tally.source is None else tally.source.late_events,
            late_max_delay_s=0.0 if tally.source is None else tally.source.late_max_delay_s,
            late_by_file=() if tally.source is None else tally.source.late_by_file,
            late_hits=tally.late_hits,
        )
