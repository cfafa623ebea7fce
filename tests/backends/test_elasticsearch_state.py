"""State in Elasticsearch: leases under real races, and replicas sharing a rule's windows.

The replica scenario runs a minimal window loop (lease → search → write → checkpoint →
release) in two threads with separate clients, the way two eqlwatch containers would, and
checks that every window ran once, none was skipped, and every alert exists once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from eqlwatch.backends.elasticsearch import ElasticsearchEventSource, EqlOptions
from eqlwatch.errors import RetryableBackendError
from eqlwatch.model import Alert, SearchRequest, TimeWindow
from tests.backends.es_cluster import (
    Cluster,
    cluster_kinds,
    fast_client,
    open_cluster,
    real_client,
)
from tests.fakes.es_server import FakeElasticsearch

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
LEASE_S = 2.0
Ran = tuple[str, datetime]
STEP = timedelta(minutes=1)
WINDOWS = 12


@pytest.fixture(params=cluster_kinds())
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    yield from open_cluster(request.param)


@pytest.fixture
def fake_cluster() -> Iterator[Cluster]:
    yield from open_cluster("fake")


def _client_for(cluster: Cluster) -> Elasticsearch:
    """A second "replica" with its own connection pool."""
    return fast_client(cluster.fake.url) if cluster.fake is not None else real_client()


def test_only_one_of_many_racing_replicas_gets_the_lease(cluster: Cluster) -> None:
    clients = [_client_for(cluster) for _ in range(6)]
    stores = [cluster.state_store(c) for c in clients]
    barrier = threading.Barrier(len(stores))
    won: list[str] = []

    def race(i: int) -> None:
        barrier.wait()
        if stores[i].acquire_lease("job/rule", f"replica-{i}", T0, ttl_s=60) is not None:
            won.append(f"replica-{i}")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    assert len(won) == 1


def test_a_dead_replicas_lease_expires(cluster: Cluster) -> None:
    state = cluster.state_store()
    assert state.acquire_lease("job/rule", "dead", T0, ttl_s=30) is not None
    assert state.acquire_lease("job/rule", "alive", T0 + timedelta(seconds=29), 30) is None
    taken = state.acquire_lease("job/rule", "alive", T0 + timedelta(seconds=31), 30)
    assert taken is not None
    assert taken.owner == "alive"
    assert state.acquire_lease("job/rule", "dead", T0 + timedelta(seconds=32), 30) is None


def test_checkpoint_keys_with_slashes_round_trip(cluster: Cluster) -> None:
    state = cluster.state_store()
    state.set_checkpoint("job a/rule/1", T0)
    state.set_checkpoint("job a/rule/2", T0 + STEP)
    assert state.get_checkpoint("job a/rule/1") == T0
    assert state.get_checkpoint("job a/rule/2") == T0 + STEP


def _events() -> list[dict[str, object]]:
    """Two events per window, so every window yields alerts."""
    return [
        {
            "_id": f"ev{n}",
            "@timestamp": (T0 + timedelta(seconds=30 * n)).isoformat(),
            "event": {"category": "process"},
            "host": {"name": f"h{n % 3}"},
        }
        for n in range(2 * WINDOWS)
    ]


def _alert_id(rule: str, refs: list[tuple[str, str]]) -> str:
    return hashlib.sha256((rule + "".join(i + ix for ix, i in refs)).encode()).hexdigest()


def _one_window(cluster: Cluster, name: str, client: Elasticsearch, ran: list[Ran]) -> bool:
    """Run the next window if this replica holds the lease; True once all windows are done."""
    state, sink = cluster.state_store(client), cluster.sink(client)
    lease = state.acquire_lease("job/r1", name, datetime.now(UTC), ttl_s=LEASE_S)
    if lease is None:
        return False
    try:
        start = state.get_checkpoint("job/r1") or T0
        if start >= T0 + WINDOWS * STEP:
            return True
        window = TimeWindow(start, start + STEP)
        source = ElasticsearchEventSource(client, EqlOptions(poll_interval_s=0.0))
        result = source.search(SearchRequest("any where true", (cluster.events,), window, size=100))
        alerts = [
            Alert(
                _alert_id("r1", [(e.index, e.id) for e in h.events]),
                "r1",
                {"@timestamp": start.isoformat(), "window": start.isoformat()},
            )
            for h in result.hits
        ]
        sink.write(alerts)
        state.set_checkpoint("job/r1", window.end)
        ran.append((name, start))
        return False
    finally:
        state.release_lease(lease)


def _replica(cluster: Cluster, name: str, ran: list[Ran], timeout_s: float) -> None:
    """One replica: a retryable failure means "not evaluated", so just try again."""
    client = _client_for(cluster).options(request_timeout=timeout_s)
    try:
        for _ in range(200 * WINDOWS):
            try:
                if _one_window(cluster, name, client, ran):
                    return
            except RetryableBackendError:
                pass  # the checkpoint did not move: the same window runs again
            time.sleep(0.002)
        raise AssertionError(f"{name} never finished")
    finally:
        client.close()


def _outage(fake: FakeElasticsearch, ran: list[Ran]) -> None:
    """Refuse connections for a moment once a few windows are done, then come back."""
    while len(ran) < 3:
        time.sleep(0.001)
    fake.stop()
    time.sleep(0.2)
    fake.start()


def _run_replicas(cluster: Cluster, *, timeout_s: float = 2.0, outage: bool = False) -> None:
    ran: list[Ran] = []
    threads = [
        threading.Thread(target=_replica, args=(cluster, f"replica-{i}", ran, timeout_s))
        for i in range(2)
    ]
    if outage:
        assert cluster.fake is not None
        threads.append(threading.Thread(target=_outage, args=(cluster.fake, ran)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts = [start for _, start in ran]
    assert starts == [T0 + i * STEP for i in range(WINDOWS)]  # in order, each once, no gap
    assert Counter(cluster.alert_ids()) == Counter(
        {_alert_id("r1", [(cluster.events, f"ev{n}")]): 1 for n in range(2 * WINDOWS)}
    )


def test_two_replicas_share_windows_without_gap_or_duplicate(cluster: Cluster) -> None:
    cluster.load(_events())
    _run_replicas(cluster)


def test_two_replicas_through_faults_and_an_outage(fake_cluster: Cluster) -> None:
    """Partial results, 5xx, 429 storms, dropped connections, a bulk that lands after the
    client timed out, and connections refused mid-run: still each window once, no gap,
    each alert once."""
    fake_cluster.load(_events())
    fake = fake_cluster.fake
    assert fake is not None
    fake.faults.add("partial", times=3)
    fake.faults.add("shard_failure", times=2)
    fake.faults.add("status", path="_bulk", status=503, times=6)
    fake.faults.add("item_status", status=429, times=4)
    fake.faults.add("drop", path="_doc", times=4)
    fake.faults.add("delay", path="_bulk", delay_s=0.5, times=2)
    _run_replicas(fake_cluster, timeout_s=0.3, outage=True)
    assert fake.faults.fired == {
        "partial": 3,
        "shard_failure": 2,
        "status": 6,
        "item_status": 4,
        "drop": 4,
        "delay": 2,
    }
