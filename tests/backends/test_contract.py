"""The promises every sink and state store keeps, run on each backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eqlwatch.backends.base import EventSource
from eqlwatch.model import Alert
from eqlwatch.pipeline.runner import RuleRunner, RunnerSettings
from eqlwatch.windowing import WindowPolicy
from tests.backends.conftest import BackendPair
from tests.pipeline.doubles import make_rule, policy_for_query, simple_alert

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _alert(n: int) -> Alert:
    return Alert(id=f"id-{n}", rule_id="r1", document={"rule": {"id": "r1"}, "n": n})


def test_writing_the_same_alert_twice_creates_one(backend: BackendPair) -> None:
    first = backend.sink.write([_alert(1), _alert(2)])
    again = backend.sink.write([_alert(2), _alert(3), _alert(3)])
    assert (first.created, first.existing) == (2, 0)
    assert (again.created, again.existing) == (1, 2)


def test_ids_survive_a_restart(backend: BackendPair) -> None:
    backend.sink.write([_alert(1)])
    sink, _ = backend.reopen()
    result = sink.write([_alert(1), _alert(2)])
    assert (result.created, result.existing) == (1, 1)


def test_checkpoint_round_trip_and_restart(backend: BackendPair) -> None:
    assert backend.state.get_checkpoint("job/rule") is None
    backend.state.set_checkpoint("job/rule", T0)
    _, state = backend.reopen()
    assert state.get_checkpoint("job/rule") == T0
    assert state.get_checkpoint("job/other") is None


def test_lease_is_exclusive_until_it_expires(backend: BackendPair) -> None:
    mine = backend.state.acquire_lease("job/rule", "a", T0, ttl_s=60)
    assert mine is not None
    assert backend.state.acquire_lease("job/rule", "b", T0 + timedelta(seconds=30), 60) is None
    renewed = backend.state.acquire_lease("job/rule", "a", T0 + timedelta(seconds=30), 60)
    assert renewed is not None
    assert renewed.expires == T0 + timedelta(seconds=90)
    taken = backend.state.acquire_lease("job/rule", "b", T0 + timedelta(seconds=91), 60)
    assert taken is not None
    assert taken.owner == "b"


def test_released_lease_is_free(backend: BackendPair) -> None:
    lease = backend.state.acquire_lease("job/rule", "a", T0, ttl_s=600)
    assert lease is not None
    backend.state.release_lease(lease)
    assert backend.state.acquire_lease("job/rule", "b", T0, ttl_s=600) is not None


def test_leases_are_per_key(backend: BackendPair) -> None:
    assert backend.state.acquire_lease("job/r1", "a", T0, ttl_s=60) is not None
    assert backend.state.acquire_lease("job/r2", "b", T0, ttl_s=60) is not None


# --- Pipeline scenarios: the runner over each backend's own search, sink and state ---------

SEQUENCE = (
    "sequence by process.entity_id with maxspan=2m "
    '[process where process.name == "regsvr32.exe"] [network where destination.port == 443]'
)
EVENT = 'network where destination.port == 443 and process.name == "regsvr32.exe"'


def _doc(n: int, at: datetime, kind: str, key: str) -> dict[str, Any]:
    stamp = at.isoformat().replace("+00:00", "Z")
    doc: dict[str, Any] = {
        "_id": f"e{n}",
        "@timestamp": stamp,
        "process": {"name": "regsvr32.exe", "entity_id": key},
    }
    if kind == "start":
        doc["event"] = {"category": "process"}
    else:
        doc["event"] = {"category": "network"}
        doc["destination"] = {"port": 443}
    return doc


def _runner(backend: BackendPair, index: str, source: EventSource, size: int = 1000) -> RuleRunner:
    return RuleRunner(
        settings=RunnerSettings(job_id="job", size=size, indices=(index,), backoff_s=0.0),
        source=source,
        sink=backend.sink,
        state=backend.state,
        make_alert=simple_alert,
        owner="me",
        sleep=lambda _s: None,
    )


def _policy(query: str, max_chunk: timedelta) -> WindowPolicy:
    return policy_for_query(query, max_chunk=max_chunk, max_slices=4, look_back=timedelta(hours=1))


def test_sequence_across_a_window_edge_is_alerted_once(backend: BackendPair) -> None:
    # Start just before the first window's end, connection just after: only the overlap sees both.
    events = [
        _doc(1, T0 + timedelta(minutes=9, seconds=50), "start", "p1"),
        _doc(2, T0 + timedelta(minutes=10, seconds=20), "net", "p1"),
    ]
    source, index = backend.source(events)
    backend.state.set_checkpoint("job/r1", T0)
    runner = _runner(backend, index, source)
    rule = make_rule(SEQUENCE)
    policy = _policy(SEQUENCE, timedelta(minutes=10))
    first = runner.run(rule, policy, now=T0 + timedelta(minutes=10, seconds=30), run_id="1")
    second = runner.run(rule, policy, now=T0 + timedelta(minutes=40), run_id="2")
    assert first.alerts_created + second.alerts_created == 1
    assert backend.state.get_checkpoint("job/r1") == T0 + timedelta(minutes=39, seconds=30)


def test_catch_up_in_bounded_chunks_then_restart_writes_nothing_twice(
    backend: BackendPair,
) -> None:
    events = [_doc(i, T0 + timedelta(minutes=3 * i + 1), "net", f"p{i}") for i in range(30)]
    source, index = backend.source(events)
    backend.state.set_checkpoint("job/r1", T0)
    rule = make_rule(EVENT)
    policy = _policy(EVENT, timedelta(minutes=10))
    now = T0 + timedelta(hours=2)
    runs = [
        _runner(backend, index, source).run(rule, policy, now=now, run_id=str(i)) for i in range(3)
    ]
    assert [r.searches for r in runs][:2] == [4, 4]  # at most 4 slices per run
    assert sum(r.alerts_created for r in runs) == 30
    sink, state = backend.reopen()  # a restart: fresh objects, same storage
    state.set_checkpoint("job/r1", T0)  # even a lost checkpoint only replays
    replay = RuleRunner(
        settings=RunnerSettings(job_id="job", indices=(index,), backoff_s=0.0),
        source=source,
        sink=sink,
        state=state,
        make_alert=simple_alert,
        owner="me",
        sleep=lambda _s: None,
    )
    again = [replay.run(rule, policy, now=now, run_id=f"r{i}") for i in range(3)]
    assert sum(r.alerts_created for r in again) == 0
    assert sum(r.alerts_existing for r in again) == 30


def test_full_pages_split_the_window(backend: BackendPair) -> None:
    events = [_doc(i, T0 + timedelta(seconds=10 * i + 5), "net", f"p{i}") for i in range(24)]
    source, index = backend.source(events)
    backend.state.set_checkpoint("job/r1", T0)
    rule = make_rule(EVENT)
    report = _runner(backend, index, source, size=5).run(
        rule, _policy(EVENT, timedelta(hours=1)), now=T0 + timedelta(minutes=30), run_id="1"
    )
    assert report.status == "ok", report.errors
    assert report.alerts_created == 24
    assert report.searches > 5
