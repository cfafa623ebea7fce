"""The pipeline's RuleRunner on the Elasticsearch backend: catch-up, splitting, faults.

The runner plans windows from the checkpoint, splits any window whose page is full, and
advances only after a durable write; here the cluster runs the EQL (the stand-in answers
with the embedded engine), so this is the production path end to end.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eqlwatch.backends.elasticsearch import ElasticsearchEventSource, EqlOptions
from eqlwatch.model import Hit, HitEvent
from eqlwatch.pipeline.reports import RunReport
from eqlwatch.pipeline.runner import RuleRunner, RunnerSettings
from eqlwatch.windowing import WindowPolicy, policy_for
from tests.backends.es_cluster import Cluster, cluster_kinds, open_cluster
from tests.pipeline.doubles import make_rule, simple_alert

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=3)
DELAY = timedelta(seconds=30)
EVENTS = 120  # one every 90 s over three hours
RULE = make_rule('process where process.name == "x"')


@pytest.fixture(params=cluster_kinds())
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    yield from open_cluster(request.param)


@pytest.fixture
def fake_cluster() -> Iterator[Cluster]:
    yield from open_cluster("fake")


def _policy() -> WindowPolicy:
    return policy_for(
        maxspan=None,
        has_until=False,
        has_trailing_missing=False,
        kind="event",
        ingest_delay=DELAY,
        look_back=timedelta(hours=1),
        max_chunk=timedelta(hours=1),
        max_slices=24,
        min_split=timedelta(seconds=1),
        max_sequence_span=timedelta(hours=1),
    )


def _events() -> list[dict[str, Any]]:
    return [
        {
            "_id": f"ev{n:03d}",
            "@timestamp": (T0 + timedelta(seconds=90 * n)).isoformat(),
            "event": {"category": "process"},
            "process": {"name": "x" if n % 4 else "y"},
        }
        for n in range(EVENTS)
    ]


def _expected(cluster: Cluster) -> Counter[str]:
    """One alert per matching event before NOW - ingest delay."""
    wanted = [n for n in range(EVENTS) if n % 4 and T0 + timedelta(seconds=90 * n) < NOW - DELAY]
    alerts = [simple_alert(RULE, _hit(cluster, n), detected_at=NOW) for n in wanted]
    return Counter(a.id for a in alerts)


def _hit(cluster: Cluster, n: int) -> Hit:
    return Hit("event", (HitEvent(cluster.events, f"ev{n:03d}", {}),))


def _runner(cluster: Cluster, owner: str, size: int = 10) -> RuleRunner:
    return RuleRunner(
        settings=RunnerSettings(
            job_id="job", size=size, indices=(cluster.events,), backoff_s=0.0, max_attempts=6
        ),
        source=ElasticsearchEventSource(cluster.client, EqlOptions(poll_interval_s=0.0)),
        sink=cluster.sink(),
        state=cluster.state_store(),
        make_alert=simple_alert,
        owner=owner,
        sleep=lambda _s: None,
    )


def test_catch_up_from_an_old_checkpoint_with_split_windows(cluster: Cluster) -> None:
    cluster.load(_events())
    state = cluster.state_store()
    state.set_checkpoint("job/r1", T0)
    report = _runner(cluster, "a").run(RULE, _policy(), now=NOW, run_id="1")
    assert report.status == "ok", report.errors
    assert report.searches > 3  # three hourly chunks, several of them split (size 10)
    assert Counter(cluster.alert_ids()) == _expected(cluster)
    assert state.get_checkpoint("job/r1") == NOW - DELAY
    again = _runner(cluster, "a").run(RULE, _policy(), now=NOW, run_id="2")
    assert (again.status, again.alerts_created) == ("ok", 0)


def test_runner_through_faults_writes_each_alert_once(fake_cluster: Cluster) -> None:
    fake_cluster.load(_events())
    fake = fake_cluster.fake
    assert fake is not None
    fake_cluster.state_store().set_checkpoint("job/r1", T0)
    fake.faults.add("partial", times=2)
    fake.faults.add("shard_failure", times=1)
    fake.faults.add("async", polls=2, times=2)
    fake.faults.add("status", path="_bulk", status=503, times=4)
    fake.faults.add("item_status", status=429, times=5)
    report = _runner(fake_cluster, "a").run(RULE, _policy(), now=NOW, run_id="1")
    assert report.status == "ok", report.errors
    assert Counter(fake_cluster.alert_ids()) == _expected(fake_cluster)
    assert fake.faults.fired == {
        "partial": 2,
        "shard_failure": 1,
        "async": 2,
        "status": 4,
        "item_status": 5,
    }


def test_two_runner_replicas_one_runs_the_other_skips(cluster: Cluster) -> None:
    cluster.load(_events())
    cluster.state_store().set_checkpoint("job/r1", T0)
    reports: list[RunReport] = []
    barrier = threading.Barrier(2)

    def replica(owner: str) -> None:
        runner = _runner(cluster, owner)
        barrier.wait()
        reports.append(runner.run(RULE, _policy(), now=NOW, run_id=owner))

    threads = [threading.Thread(target=replica, args=(o,)) for o in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in reports)
    assert statuses in (["ok", "skipped"], ["ok", "ok"])  # "ok" twice: one finished first
    assert Counter(cluster.alert_ids()) == _expected(cluster)
    assert sum(r.alerts_created for r in reports) == sum(_expected(cluster).values())
