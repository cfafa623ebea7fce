"""The promises every sink and state store keeps, run on each backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eqlwatch.model import Alert
from tests.backends.conftest import BackendPair

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
