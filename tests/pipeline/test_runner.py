"""The runner's promises, on real windowing and the memory backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.backends.base import Lease
from eqlwatch.backends.memory import MemoryEventSource, MemorySink, MemoryStateStore
from eqlwatch.engine import SourceEvent
from eqlwatch.errors import RetryableBackendError
from eqlwatch.pipeline.runner import RuleRunner, RunnerSettings
from eqlwatch.windowing import WindowPolicy, policy_for
from tests.pipeline.doubles import HitsSource, hit_at, make_rule, simple_alert

T0 = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
KEY = "job/r1"


def _policy(**kw: Any) -> WindowPolicy:
    args: dict[str, Any] = {
        "maxspan": None,
        "has_until": False,
        "has_trailing_missing": False,
        "kind": "event",
        "ingest_delay": timedelta(seconds=30),
        "look_back": timedelta(hours=2),
        "max_chunk": timedelta(hours=1),
        "max_slices": 24,
        "min_split": timedelta(seconds=1),
        "max_sequence_span": timedelta(hours=1),
    }
    args.update(kw)
    return policy_for(**args)


def _runner(
    source: HitsSource, sink: MemorySink, state: MemoryStateStore, size: int = 1000
) -> RuleRunner:
    return RuleRunner(
        settings=RunnerSettings(job_id="job", size=size, backoff_s=0.0),
        source=source,
        sink=sink,
        state=state,
        make_alert=simple_alert,
        owner="me",
        sleep=lambda _s: None,
    )


def _hits(n: int, start: datetime, step: timedelta) -> list[tuple[datetime, object]]:
    return [(start + i * step, hit_at(start + i * step, i)) for i in range(n)]


def test_first_run_covers_look_back_and_advances_checkpoint() -> None:
    now = T0 + timedelta(hours=3)
    source = HitsSource(_hits(50, T0, timedelta(minutes=4)))  # type: ignore[arg-type]
    sink, state = MemorySink(), MemoryStateStore()
    report = _runner(source, sink, state).run(make_rule(), _policy(), now=now, run_id="1")
    assert report.status == "ok"
    start = now - timedelta(hours=2)
    expected = {
        i for i in range(50) if start <= T0 + i * timedelta(minutes=4) < now - timedelta(seconds=30)
    }
    assert {a.document["refs"] for a in sink.alerts.values()} == {f"idx/{i}" for i in expected}
    assert state.get_checkpoint(KEY) == now - timedelta(seconds=30)


def test_failed_write_keeps_checkpoint_and_next_run_delivers_once() -> None:
    now = T0 + timedelta(hours=1)
    source = HitsSource(_hits(10, T0 + timedelta(minutes=10), timedelta(minutes=1)))  # type: ignore[arg-type]
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0)
    sink.fail_next = 1
    runner = _runner(source, sink, state)
    report = runner.run(make_rule(), _policy(), now=now, run_id="1")
    assert report.status == "error"
    assert state.get_checkpoint(KEY) == T0
    assert not sink.alerts
    report = runner.run(make_rule(), _policy(), now=now, run_id="2")
    assert report.status == "ok"
    assert len(sink.alerts) == 10
    assert report.alerts_created == 10


def test_transient_search_failures_are_retried_with_backoff() -> None:
    slept: list[float] = []
    source = HitsSource(_hits(3, T0 + timedelta(minutes=1), timedelta(minutes=1)), fail_next=2)  # type: ignore[arg-type]
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0)
    runner = _runner(source, sink, state)
    runner.settings = runner.settings.__class__(job_id="job", backoff_s=1.0)
    runner.sleep = slept.append
    report = runner.run(make_rule(), _policy(), now=T0 + timedelta(minutes=30), run_id="1")
    assert report.status == "ok"
    assert slept == [1.0, 2.0]
    assert len(sink.alerts) == 3


def test_full_page_splits_the_window_and_loses_nothing() -> None:
    source = HitsSource(_hits(40, T0 + timedelta(seconds=5), timedelta(seconds=20)))  # type: ignore[arg-type]
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0)
    runner = _runner(source, sink, state, size=8)
    report = runner.run(make_rule(), _policy(), now=T0 + timedelta(minutes=30), run_id="1")
    assert report.status == "ok"
    assert len(sink.alerts) == 40
    assert report.searches > 5


def test_lease_held_elsewhere_skips_without_touching_state() -> None:
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0)
    assert state.acquire_lease(KEY, "other", datetime.now(UTC), 600) is not None
    source = HitsSource(_hits(3, T0, timedelta(minutes=1)))  # type: ignore[arg-type]
    report = _runner(source, sink, state).run(
        make_rule(), _policy(), now=T0 + timedelta(hours=1), run_id="1"
    )
    assert report.status == "skipped"
    assert state.get_checkpoint(KEY) == T0
    assert not source.requests


def test_backfill_replays_a_period_without_moving_the_checkpoint() -> None:
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0 + timedelta(days=1))
    source = HitsSource(_hits(6, T0, timedelta(minutes=10)))  # type: ignore[arg-type]
    from eqlwatch.model import TimeWindow

    period = TimeWindow(T0, T0 + timedelta(minutes=35))
    report = _runner(source, sink, state).run(
        make_rule(), _policy(), now=T0 + timedelta(days=2), run_id="b", period=period
    )
    assert report.status == "ok"
    assert {a.document["refs"] for a in sink.alerts.values()} == {f"idx/{i}" for i in range(4)}
    assert state.get_checkpoint(KEY) == T0 + timedelta(days=1)


class _FlakyState(MemoryStateStore):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def acquire_lease(self, key: str, owner: str, now: datetime, ttl_s: float) -> Lease | None:
        if self.failures > 0:
            self.failures -= 1
            raise RetryableBackendError("state store unreachable")
        return super().acquire_lease(key, owner, now, ttl_s)


def test_unreachable_state_store_is_retried_then_reported() -> None:
    source = HitsSource(_hits(2, T0 + timedelta(minutes=1), timedelta(minutes=1)))  # type: ignore[arg-type]
    sink = MemorySink()
    state = _FlakyState(failures=2)
    report = _runner(source, sink, state).run(
        make_rule(), _policy(), now=T0 + timedelta(minutes=30), run_id="1"
    )
    assert report.status == "ok"
    state = _FlakyState(failures=100)
    report = _runner(source, MemorySink(), state).run(
        make_rule(), _policy(), now=T0 + timedelta(minutes=30), run_id="2"
    )
    assert report.status == "error"
    assert "acquire lease failed after 4 attempts" in report.errors[0]
    assert state.get_checkpoint(KEY) is None


def test_first_run_records_its_start_even_when_it_fails() -> None:
    now = T0 + timedelta(hours=1)
    source = HitsSource(_hits(5, T0 + timedelta(minutes=10), timedelta(minutes=1)))  # type: ignore[arg-type]
    sink, state = MemorySink(), MemoryStateStore()
    sink.fail_next = 1
    runner = _runner(source, sink, state)
    assert runner.run(make_rule(), _policy(), now=now, run_id="1").status == "error"
    assert state.get_checkpoint(KEY) == now - timedelta(hours=2)
    later = now + timedelta(hours=5)  # a later first success must not skip the start
    while runner.run(make_rule(), _policy(), now=later, run_id="2").window_end not in (
        None,
        later - timedelta(seconds=30),
    ):
        pass
    assert len(sink.alerts) == 5


class _StateDownAfterRun(MemoryStateStore):
    """Serves the run, then fails releasing the lease and reading the checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def release_lease(self, lease: Lease) -> None:
        self.down = True
        raise RetryableBackendError("state store unreachable")

    def get_checkpoint(self, key: str) -> datetime | None:
        if self.down:
            raise RetryableBackendError("state store unreachable")
        return super().get_checkpoint(key)


def test_state_store_failing_at_the_end_does_not_fail_the_run() -> None:
    source = HitsSource(_hits(2, T0 + timedelta(minutes=1), timedelta(minutes=1)))  # type: ignore[arg-type]
    state = _StateDownAfterRun()
    state.set_checkpoint(KEY, T0)
    sink = MemorySink()
    report = _runner(source, sink, state).run(
        make_rule(), _policy(), now=T0 + timedelta(minutes=30), run_id="1"
    )
    assert report.status == "ok"
    assert report.alerts_created == 2
    assert report.checkpoint is None


# --- Source evidence: problems, watermark, deadline (issue 9 item 3, issue 14 item 1) -------


def _gated(source: Any, state: MemoryStateStore, sink: MemorySink, **kw: Any) -> RuleRunner:
    return RuleRunner(
        settings=RunnerSettings(job_id="job", backoff_s=0.0, **kw),
        source=source,
        sink=sink,
        state=state,
        make_alert=simple_alert,
        owner="me",
        sleep=lambda _s: None,
    )


def test_source_problems_hold_the_checkpoint_and_are_reported() -> None:
    source = HitsSource(_hits(3, T0 + timedelta(minutes=1), timedelta(minutes=1)))  # type: ignore[arg-type]
    source.problems = ("data/*.ndjson: no file matches",)
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0)
    report = _gated(source, state, sink).run(
        make_rule(), _policy(), now=T0 + timedelta(hours=1), run_id="1"
    )
    assert report.status == "no-data"
    assert report.failed
    assert report.errors == ("data/*.ndjson: no file matches",)
    assert state.get_checkpoint(KEY) == T0
    assert not source.requests  # nothing searched on a source that was not read
    assert not sink.alerts


def test_no_event_at_all_waits_and_is_not_an_error() -> None:
    source = MemoryEventSource()
    sink, state = MemorySink(), MemoryStateStore()
    runner = _gated(source, state, sink, max_wait=timedelta(minutes=15))
    now = T0 + timedelta(hours=5)
    report = runner.run(make_rule(), _policy(), now=now, run_id="1")
    assert report.status == "waiting"
    assert not report.failed
    assert report.errors == ()
    assert state.get_checkpoint(KEY) == now - timedelta(hours=2)  # the history starts here
    assert source.status_calls == 1


def _event(n: int, at: datetime) -> SourceEvent:
    stamp = at.isoformat().replace("+00:00", "Z")
    doc = {"@timestamp": stamp, "event": {"category": "process"}, "process": {"name": "x"}}
    return SourceEvent("logs-test", f"e{n}", doc)


def test_windows_past_the_watermark_wait_then_are_evaluated_with_the_lag() -> None:
    source = MemoryEventSource([_event(i, T0 + timedelta(minutes=i)) for i in range(10)])
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0)
    runner = _gated(source, state, sink, max_wait=timedelta(minutes=15))
    report = runner.run(make_rule(), _policy(), now=T0 + timedelta(minutes=20), run_id="1")
    assert report.status == "ok"
    assert state.get_checkpoint(KEY) == T0 + timedelta(minutes=9)  # the newest event
    assert report.source_lag_s is None
    # An event at 9m30s arrives late: it is found, since the checkpoint waited for it.
    source.add([_event(99, T0 + timedelta(minutes=9, seconds=30))])
    report = runner.run(make_rule(), _policy(), now=T0 + timedelta(minutes=21), run_id="2")
    assert state.get_checkpoint(KEY) == T0 + timedelta(minutes=9, seconds=30)
    assert report.status == "ok"
    assert len(sink.alerts) == 10
    # Nothing more arrives: once due for max_wait the windows are evaluated, lag recorded.
    report = runner.run(make_rule(), _policy(), now=T0 + timedelta(minutes=50), run_id="3")
    assert state.get_checkpoint(KEY) == T0 + timedelta(minutes=34, seconds=30)
    assert report.source_lag_s == 25 * 60
    assert "past the source's newest event" in report.notes[-1]


def test_a_run_with_nothing_due_before_the_watermark_says_waiting() -> None:
    source = MemoryEventSource([_event(1, T0)])
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0 + timedelta(minutes=5))  # already past the newest event
    runner = _gated(source, state, sink, max_wait=timedelta(minutes=15))
    report = runner.run(make_rule(), _policy(), now=T0 + timedelta(minutes=10), run_id="1")
    assert report.status == "waiting"
    assert report.searches == 0
    assert state.get_checkpoint(KEY) == T0 + timedelta(minutes=5)


def test_the_deadline_ends_a_long_catch_up_with_the_checkpoint_at_the_last_window() -> None:
    source = HitsSource(_hits(30, T0, timedelta(minutes=10)))  # type: ignore[arg-type]
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0)
    runner = _gated(source, state, sink, deadline_s=0.0)  # passed once the first window is done
    report = runner.run(
        make_rule(), _policy(max_chunk=timedelta(minutes=30)), now=T0 + timedelta(hours=5),
        run_id="1",
    )  # fmt: skip
    assert report.status == "partial"
    assert "run deadline (0s) reached" in report.notes[-1]
    assert state.get_checkpoint(KEY) == T0 + timedelta(minutes=30)
    assert len(sink.alerts) == 3


@settings(max_examples=60, deadline=None)
@given(
    delays=st.lists(st.integers(0, 40 * 60), min_size=1, max_size=30),
    run_minutes=st.lists(st.integers(1, 240), min_size=1, max_size=12),
)
def test_late_events_are_never_lost_while_within_max_wait(
    delays: list[int], run_minutes: list[int]
) -> None:
    """The pipeline stalls for up to 40 minutes at a time but delivers in order (what a
    watermark can vouch for: reordering beyond ingest_delay is ingest_delay's business);
    with max_wait = 1h every event is alerted exactly once, however the runs fall. Without
    the watermark the windows would be evaluated before the stalled events arrive."""
    events: list[tuple[datetime, int]] = []
    arrival = T0
    for i, delay in enumerate(delays):
        at = T0 + timedelta(minutes=2 * i + 1)
        arrival = max(arrival, at + timedelta(seconds=delay))
        events.append((at, int((arrival - at).total_seconds())))
    source = MemoryEventSource()
    sink, state = MemorySink(), MemoryStateStore()
    state.set_checkpoint(KEY, T0)
    runner = _gated(source, state, sink, max_wait=timedelta(hours=1))
    arrived: set[int] = set()
    for minute in [*sorted(run_minutes), 24 * 60]:
        now = T0 + timedelta(minutes=minute)
        fresh = [
            i
            for i, (at, delay) in enumerate(events)
            if i not in arrived and at + timedelta(seconds=delay) <= now
        ]
        source.add(_event(i, events[i][0]) for i in fresh)
        arrived.update(fresh)
        for _ in range(5):
            runner.run(make_rule(), _policy(max_chunk=timedelta(hours=4)), now=now, run_id="x")
    refs = sorted(a.document["refs"] for a in sink.alerts.values())
    assert refs == sorted(f"logs-test/e{i}" for i in range(len(events)))
