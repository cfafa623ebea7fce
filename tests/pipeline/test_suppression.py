"""Suppression through the real runner on the local backend: windowed runs, restarts and
crashes between the alert write, the suppression state and the checkpoint give exactly the
suppressed alerts (ids, terms, start, end, docs_count) of one pass over everything."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.backends.base import (
    AlertSink,
    Lease,
    StateStore,
    SuppressingSink,
    SuppressionStore,
)
from eqlwatch.backends.local_sink import LocalFileSink, current_documents
from eqlwatch.backends.local_source import LocalEventSource
from eqlwatch.backends.local_state import LocalStateStore
from eqlwatch.errors import BackendError
from eqlwatch.model import Alert, WriteResult
from eqlwatch.pipeline.runner import RuleRunner, RunnerSettings
from eqlwatch.rules import Rule, parse_rule
from eqlwatch.suppression import GroupState, Version
from tests.pipeline.doubles import RULE_TOML, policy_for_query, simple_alert
from tests.pipeline.test_no_gap_no_duplicate import QUERIES, SPAN, T0, events_strategy


def suppressing_rule(query: str, group_by: Sequence[str], duration: str, missing: str) -> Rule:
    fields = ", ".join(f'"{f}"' for f in group_by)
    table = (
        f'\n[eqlwatch]\nsuppression = {{ group_by = [{fields}], duration = "{duration}", '
        f'missing_fields = "{missing}" }}\n'
    )
    rule, errors = parse_rule(RULE_TOML.format(query=query, rule_id="r1") + table, file="t.toml")
    assert rule is not None, errors
    return rule


class Crashes:
    """Which numbered calls die, and whether before or after their effect landed."""

    def __init__(self, calls: set[int]) -> None:
        self.calls, self.count = calls, 0

    def __call__(self) -> bool:
        self.count += 1
        return self.count in self.calls


class Sink(AlertSink, SuppressingSink, Protocol):
    """What the runner needs of a sink for a suppressing rule."""


class Store(StateStore, SuppressionStore, Protocol):
    """What the runner needs of a state store for a suppressing rule."""


class CrashingSink:
    def __init__(self, inner: Sink, crash: Crashes) -> None:
        self.inner, self.crash = inner, crash

    def write(self, alerts: Sequence[Alert]) -> WriteResult:
        result = self.inner.write(alerts)
        if self.crash():
            raise BackendError("injected crash after writing plain alerts")
        return result

    def suppress(self, versions: Sequence[Version]) -> WriteResult:
        result = self.inner.suppress(versions)
        if self.crash():
            raise BackendError("injected crash after writing suppressed versions")
        return result


class CrashingState:
    """A state store whose suppression saves and checkpoints die after landing."""

    def __init__(self, inner: Store, crash: Crashes) -> None:
        self.inner, self.crash = inner, crash

    def get_checkpoint(self, key: str) -> datetime | None:
        return self.inner.get_checkpoint(key)

    def set_checkpoint(self, key: str, value: datetime) -> None:
        # The history's first record is the runner's own concern (it only starts it).
        if self.inner.get_checkpoint(key) is not None and self.crash():
            raise BackendError("injected crash before the checkpoint")
        self.inner.set_checkpoint(key, value)

    def get_suppression(self, key: str) -> dict[str, GroupState]:
        return self.inner.get_suppression(key)

    def set_suppression(self, key: str, groups: Mapping[str, GroupState]) -> None:
        self.inner.set_suppression(key, groups)
        if self.crash():
            raise BackendError("injected crash after saving suppression state")

    def acquire_lease(self, key: str, owner: str, now: datetime, ttl_s: float) -> Lease | None:
        return self.inner.acquire_lease(key, owner, now, ttl_s)

    def release_lease(self, lease: Lease) -> None:
        self.inner.release_lease(lease)


def _view(path: Path) -> dict[str, Any]:
    lines = path.read_bytes().splitlines() if path.exists() else []
    docs = current_documents(lines)
    return {
        ident: ((doc.get("kibana") or {}).get("alert", {}).get("suppression"), doc.get("refs"))
        for ident, doc in docs.items()
    }


def _runner(
    folder: Path,
    source: LocalEventSource,
    crash: Crashes,
    sink: Sink | None = None,
    state: Store | None = None,
) -> RuleRunner:
    return RuleRunner(
        RunnerSettings(job_id="j", size=10_000, backoff_s=0, max_attempts=1),
        source,
        CrashingSink(sink or LocalFileSink(folder / "alerts.ndjson"), crash),
        CrashingState(state or LocalStateStore(folder / "state.json"), crash),
        simple_alert,
        "me",
        sleep=lambda _s: None,
    )


def _catch_up(
    runner: RuleRunner, rule: Rule, policy: Any, folder: Path, state: StateStore | None = None
) -> None:
    final = T0 + SPAN + timedelta(hours=2)
    state = state or LocalStateStore(folder / "state.json")
    for i in range(1000):
        checkpoint = state.get_checkpoint("j/r1")
        if checkpoint is not None and checkpoint >= final - timedelta(minutes=10):
            return
        runner.run(rule, policy, now=final, run_id=f"catch-up-{i}")
    raise AssertionError("never caught up")


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=events_strategy,
    kind=st.sampled_from(["event", "sequence"]),
    group_by=st.sampled_from([("process.entity_id",), ("process.entity_id", "user.name")]),
    duration=st.sampled_from(["5m", "30m", "2h"]),
    missing=st.sampled_from(["suppress", "doNotSuppress"]),
    run_offsets=st.lists(
        st.integers(1, int((SPAN + timedelta(hours=1)).total_seconds())), min_size=1, max_size=8
    ),
    chunk_minutes=st.integers(3, 90),
    crashes=st.sets(st.integers(1, 40), max_size=6),
)
def test_windowed_runs_with_crashes_equal_one_pass(
    tmp_path_factory, events, kind, group_by, duration, missing, run_offsets, chunk_minutes,
    crashes,
) -> None:  # fmt: skip
    query = QUERIES[kind]
    rule = suppressing_rule(query, group_by, duration, missing)
    source = LocalEventSource.from_events(events)
    look_back = SPAN + timedelta(hours=1)

    first_run = T0 + timedelta(seconds=min(run_offsets))
    one = tmp_path_factory.mktemp("one")  # one pass from where the history starts
    LocalStateStore(one / "state.json").set_checkpoint("j/r1", first_run - look_back)
    whole = policy_for_query(query, max_chunk=look_back * 4, max_slices=1, look_back=look_back)
    _catch_up(_runner(one, source, Crashes(set())), rule, whole, one)

    many = tmp_path_factory.mktemp("many")
    policy = policy_for_query(
        query, max_chunk=timedelta(minutes=chunk_minutes), max_slices=3, look_back=look_back
    )
    crash = Crashes(crashes)
    for i, offset in enumerate(sorted(run_offsets)):
        _runner(many, source, crash).run(  # each run a new process: only files remain
            rule, policy, now=T0 + timedelta(seconds=offset), run_id=str(i)
        )
    _catch_up(_runner(many, source, crash), rule, policy, many)

    expected = _view(one / "alerts.ndjson")
    assert _view(many / "alerts.ndjson") == expected
    suppressed = [v for v, _ in expected.values() if v is not None]
    matches = sum(v["docs_count"] + 1 for v in suppressed)
    plain = sum(1 for v, _ in expected.values() if v is None)
    assert matches + plain >= len(expected)  # every alert accounted for


def test_notifications_follow_the_suppressed_alert_not_each_match() -> None:
    """Five matches of one host over two runs: one alert notified, docs_count 4; a later
    match past the duration opens (and notifies) a second alert."""
    from eqlwatch.backends.memory import MemorySink, MemoryStateStore
    from tests.pipeline.test_no_gap_no_duplicate import _event

    offsets = [0, 60, 120, 3000, 3300, 3 * 3600]
    events = [_event(i, s, "net", 0) for i, s in enumerate(offsets)]
    rule = suppressing_rule(QUERIES["event"], ("process.entity_id",), "1h", "suppress")
    sink, state = MemorySink(), MemoryStateStore()
    told: list[str] = []
    runner = RuleRunner(
        RunnerSettings(job_id="j", size=10_000, backoff_s=0),
        LocalEventSource.from_events(events),
        sink,
        state,
        simple_alert,
        "me",
        sleep=lambda _s: None,
        on_alerts=lambda _rule, alerts: told.extend(a.id for a in alerts),
    )
    look_back = SPAN + timedelta(hours=1)
    policy = policy_for_query(
        QUERIES["event"], max_chunk=timedelta(minutes=20), max_slices=50, look_back=look_back
    )
    state.set_checkpoint("j/r1", T0 - timedelta(minutes=1))
    runner.run(rule, policy, now=T0 + timedelta(minutes=30), run_id="a")
    report = runner.run(rule, policy, now=T0 + timedelta(hours=4), run_id="b")
    counts = sorted(
        (a.document["kibana"]["alert"]["suppression"]["docs_count"], a.id)
        for a in sink.alerts.values()
    )
    assert [c for c, _ in counts] == [0, 4]
    assert sorted(told) == sorted(i for _, i in counts)  # each alert told once
    assert any("suppressed into existing alerts" in n for n in report.notes)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('{ group_by = [], duration = "1h" }', "[eqlwatch.suppression.group_by]"),
        ('{ group_by = ["a", "a"], duration = "1h" }', "distinct"),
        ('{ group_by = ["a"], duration = "0s" }', "duration must be positive"),
        ('{ group_by = ["a"], duration = "1h", missing_fields = "x" }', "doNotSuppress"),
        ('{ group_by = ["a"], durattion = "1h" }', "[eqlwatch.suppression.durattion]"),
    ],
)
def test_a_bad_suppression_setting_names_file_and_field(setting: str, message: str) -> None:
    text = RULE_TOML.format(query="process where true", rule_id="x")
    rule, errors = parse_rule(f"{text}\n[eqlwatch]\nsuppression = {setting}\n", file="t.toml")
    assert rule is None
    assert any(str(e).startswith("t.toml") and message in str(e) for e in errors), errors
