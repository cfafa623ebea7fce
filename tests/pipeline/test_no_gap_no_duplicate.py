"""The product's central promise, as a property.

For random event streams, running a rule as a sequence of scheduled runs at random times
(random chunk sizes, processes lost between runs with only the checkpoint kept, sinks that
fail now and then) yields exactly the alerts of one pass over everything: nothing missing,
nothing twice. Real engine, real windowing, real runner; local files for the state.
Processes also die holding their lease (a stale lease of a dead pid is left in the state
file) and mid-append (a torn alert line is left at the end of the alerts file).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.backends.local_sink import LocalFileSink
from eqlwatch.backends.local_source import LocalEventSource
from eqlwatch.backends.local_state import LocalStateStore, Process
from eqlwatch.engine import SourceEvent, compile_query
from eqlwatch.errors import BackendError
from eqlwatch.model import Alert, WriteResult
from eqlwatch.pipeline.runner import RuleRunner, RunnerSettings
from eqlwatch.windowing import WindowPolicy
from tests.pipeline.doubles import make_rule, policy_for_query, simple_alert

T0 = datetime(2026, 11, 21, tzinfo=UTC)
SPAN = timedelta(hours=3)
QUERIES = {
    "event": 'network where destination.port == 443 and process.name : "regsvr32.exe"',
    "sequence": (
        "sequence by process.entity_id with maxspan=5m "
        '[process where process.name == "regsvr32.exe"] [network where destination.port == 443]'
    ),
    "missing": (
        "sequence by process.entity_id with maxspan=2m "
        '[process where process.name == "regsvr32.exe"] ![network where destination.port == 443]'
    ),
}


def _event(n: int, offset_s: int, kind: str, key: int) -> SourceEvent:
    ts = (T0 + timedelta(seconds=offset_s)).isoformat().replace("+00:00", "Z")
    source: dict[str, Any]
    if kind == "start":
        source = {"event": {"category": "process"}, "process": {"name": "regsvr32.exe"}}
    else:
        source = {
            "event": {"category": "network"},
            "destination": {"port": 443},
            "process": {"name": "regsvr32.exe"},
        }
    source["@timestamp"] = ts
    source["process"]["entity_id"] = f"p{key}"
    return SourceEvent("logs-test", str(n), source)


events_strategy = st.lists(
    st.tuples(
        st.integers(0, int(SPAN.total_seconds()) - 1),
        st.sampled_from(["start", "net"]),
        st.integers(0, 3),
    ),
    max_size=60,
).map(lambda rows: [_event(i, *row) for i, row in enumerate(rows)])


def _policy(query: str, max_chunk: timedelta) -> WindowPolicy:
    return policy_for_query(
        query, max_chunk=max_chunk, max_slices=3, look_back=SPAN + timedelta(hours=1)
    )


class FlakySink:
    """A durable sink (the local file) that fails on chosen calls: before writing, or
    having appended only part of a line (the process died mid-write)."""

    def __init__(self, inner: LocalFileSink, failures: set[int], torn: set[int]) -> None:
        self.inner, self.failures, self.torn, self.calls = inner, failures, torn, 0

    def write(self, alerts: Sequence[Alert]) -> WriteResult:
        self.calls += 1
        if self.calls in self.torn and alerts:
            line = orjson.dumps({"eqlwatch": {"alert_id": alerts[0].id}, "x": "y" * 40})
            with self.inner.path.open("ab") as handle:
                handle.write(line[: len(line) // 2])
            raise BackendError("injected crash mid-append")
        if self.calls in self.failures:
            raise BackendError("injected sink failure")
        return self.inner.write(alerts)


@cache
def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _leave_stale_lease(state_path: Path) -> None:
    """What a run killed while holding the rule's lease leaves behind (not yet expired)."""
    dead = Process(Process.current().host, _dead_pid(), None)
    lease = LocalStateStore(state_path, process=dead).acquire_lease(
        "j/r1",
        "killed",
        datetime.now(UTC),
        600,  # leases run on the wall clock
    )
    assert lease is not None


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=events_strategy,
    kind=st.sampled_from(sorted(QUERIES)),
    run_offsets=st.lists(
        st.integers(1, int((SPAN + timedelta(hours=1)).total_seconds())), min_size=1, max_size=8
    ),
    chunk_minutes=st.integers(3, 90),
    restarts=st.sets(st.integers(0, 8)),
    failures=st.sets(st.integers(1, 12), max_size=3),
    torn=st.sets(st.integers(1, 12), max_size=2),
    stale=st.sets(st.integers(0, 8)),
)
def test_windowed_runs_equal_one_pass(
    tmp_path_factory, events, kind, run_offsets, chunk_minutes, restarts, failures, torn, stale
) -> None:
    query = QUERIES[kind]
    rule = make_rule(query)
    folder: Path = tmp_path_factory.mktemp("run")
    policy = _policy(query, timedelta(minutes=chunk_minutes))
    assert policy.max_slices == 3
    source = LocalEventSource.from_events(events)
    reference = {
        simple_alert(rule, h, detected_at=T0).id for h in compile_query(query).run(source.events)
    }

    def runner() -> RuleRunner:
        sink = FlakySink(LocalFileSink(folder / "alerts.ndjson"), failures, torn)
        return RuleRunner(
            RunnerSettings(job_id="j", size=10_000, backoff_s=0),
            source,
            sink,
            LocalStateStore(folder / "state.json"),
            simple_alert,
            "me",
            sleep=lambda _s: None,
        )

    current = runner()
    times = sorted(T0 + timedelta(seconds=s) for s in run_offsets)
    for i, now in enumerate(times):
        if i in restarts:
            current = runner()  # process lost: only the files remain
        if i in stale:  # ... and it died holding the lease
            _leave_stale_lease(folder / "state.json")
            current = runner()
        report = current.run(rule, policy, now=now, run_id=str(i))
        assert report.status != "skipped", "a dead process's lease blocked the rule"
    # Then the job keeps running, long after the data, until it has caught up.
    final = T0 + SPAN + timedelta(hours=2)
    state = LocalStateStore(folder / "state.json")
    for i in range(1000):
        checkpoint = state.get_checkpoint("j/r1")
        if checkpoint is not None and checkpoint >= final - timedelta(minutes=10):
            break
        current.run(rule, policy, now=final, run_id=f"catch-up-{i}")
    else:
        raise AssertionError("never caught up")

    alerts_file = folder / "alerts.ndjson"
    written = alerts_file.read_bytes().splitlines() if alerts_file.exists() else []
    ids = [orjson.loads(line)["eqlwatch"]["alert_id"] for line in written]
    assert len(ids) == len(set(ids)), "an alert was written twice"
    assert set(ids) == reference
