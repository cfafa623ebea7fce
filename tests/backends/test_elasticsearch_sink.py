"""The Elasticsearch AlertSink over real HTTP: exactly once through rollovers and faults.

Every fault scenario ends the same way: the caller retries what raised, and afterwards the
data stream holds each alert id exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from eqlwatch.backends.elasticsearch import ElasticsearchRunReports
from eqlwatch.backends.elasticsearch.sink import ElasticsearchAlertSink, bulk_create
from eqlwatch.errors import BackendError, RetryableBackendError
from eqlwatch.model import Alert, WriteResult
from eqlwatch.pipeline.reports import RunReport
from tests.backends.es_cluster import FAST_BULK, Cluster, cluster_kinds, open_cluster

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(params=cluster_kinds())
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    yield from open_cluster(request.param)


@pytest.fixture
def fake_cluster() -> Iterator[Cluster]:
    yield from open_cluster("fake")


def _alerts(*numbers: int) -> list[Alert]:
    return [
        Alert(
            id=f"alert-{n:04d}",
            rule_id="r1",
            document={"@timestamp": T0.isoformat(), "event": {"kind": "alert"}, "n": n},
        )
        for n in numbers
    ]


def _write_until_done(sink: ElasticsearchAlertSink, alerts: Sequence[Alert]) -> list[str]:
    """What a runner does: retry a retryable failure (here at once) until the write is durable."""
    errors: list[str] = []
    for _ in range(20):
        try:
            sink.write(alerts)
            return errors
        except RetryableBackendError as exc:
            errors.append(str(exc))
    raise AssertionError(f"never succeeded: {errors[-3:]}")


def _assert_exactly_once(cluster: Cluster, numbers: range) -> None:
    counts = Counter(cluster.alert_ids())
    assert counts == Counter(f"alert-{n:04d}" for n in numbers)


def test_no_duplicate_after_a_rollover(cluster: Cluster) -> None:
    sink = cluster.sink()
    assert sink.write(_alerts(1, 2, 3)) == WriteResult(created=3, existing=0)
    cluster.client.indices.rollover(alias=cluster.alerts)
    assert sink.write(_alerts(2, 3, 4)) == WriteResult(created=1, existing=2)
    _assert_exactly_once(cluster, range(1, 5))
    backing = cluster.client.indices.get_data_stream(name=cluster.alerts)
    assert len(backing.body["data_streams"][0]["indices"]) == 2


def test_alert_without_timestamp_gets_the_write_time(fake_cluster: Cluster) -> None:
    sink = ElasticsearchAlertSink(fake_cluster.client, fake_cluster.alerts, clock=lambda: T0)
    sink.write([Alert(id="x", rule_id="r", document={"event": {"kind": "alert"}})])
    doc = fake_cluster.client.search(index=fake_cluster.alerts).body["hits"]["hits"][0]
    assert doc["_source"]["@timestamp"] == T0.isoformat()


def test_writes_are_create_with_the_deterministic_id_and_wait_for_refresh(
    fake_cluster: Cluster,
) -> None:
    fake_cluster.sink().write(_alerts(7))
    assert fake_cluster.fake is not None
    (bulk,) = fake_cluster.fake.requests_to("/_bulk")
    assert bulk.params["refresh"] == "wait_for"
    action = bulk.raw.decode().splitlines()[0]
    assert '"create"' in action
    assert '"alert-0007"' in action


def test_a_409_from_a_concurrent_writer_counts_as_existing(cluster: Cluster) -> None:
    """The gap between the ids check and the bulk: the id landed meanwhile, bulk gets 409."""
    cluster.sink().write(_alerts(1))
    result = bulk_create(cluster.client, cluster.alerts, _alerts(1, 2), FAST_BULK, T0.isoformat())
    assert result == WriteResult(created=1, existing=1)
    _assert_exactly_once(cluster, range(1, 3))


def test_429_storm_on_items_is_retried_with_backoff(fake_cluster: Cluster) -> None:
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("item_status", status=429, times=12)
    result = fake_cluster.sink().write(_alerts(*range(10)))
    assert result == WriteResult(created=10, existing=0)
    assert fake_cluster.fake.faults.fired["item_status"] == 12
    _assert_exactly_once(fake_cluster, range(10))


def test_429_storm_longer_than_the_retries_raises_then_completes(fake_cluster: Cluster) -> None:
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("status", path="_bulk", status=429, times=40)
    errors = _write_until_done(fake_cluster.sink(), _alerts(*range(5)))
    assert errors
    assert all("429" in e for e in errors)
    _assert_exactly_once(fake_cluster, range(5))


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_then_recovery_writes_once(fake_cluster: Cluster, status: int) -> None:
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("status", path="_bulk", status=status, times=5)
    _write_until_done(fake_cluster.sink(), _alerts(*range(6)))
    _assert_exactly_once(fake_cluster, range(6))


def test_timeout_after_the_server_applied_the_write_is_not_a_duplicate(
    fake_cluster: Cluster,
) -> None:
    """The bulk lands but the answer comes too late: the retry sees the ids, writes nothing."""
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("delay", path="_bulk", delay_s=0.4, times=1)
    impatient = fake_cluster.client.options(request_timeout=0.15, max_retries=0)
    errors = _write_until_done(fake_cluster.sink(impatient), _alerts(*range(4)))
    assert any("ConnectionTimeout" in e for e in errors)
    _assert_exactly_once(fake_cluster, range(4))


def test_connection_refused_mid_run_then_resumed(fake_cluster: Cluster) -> None:
    assert fake_cluster.fake is not None
    sink = fake_cluster.sink()
    sink.write(_alerts(0, 1, 2))
    fake_cluster.fake.stop()
    with pytest.raises(RetryableBackendError, match="ConnectionError"):
        sink.write(_alerts(2, 3, 4))
    fake_cluster.fake.start()
    assert sink.write(_alerts(2, 3, 4)) == WriteResult(created=2, existing=1)
    _assert_exactly_once(fake_cluster, range(5))


def test_a_rejected_document_is_a_hard_error(fake_cluster: Cluster) -> None:
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("item_status", status=400, times=1)
    with pytest.raises(BackendError, match="HTTP 400") as info:
        fake_cluster.sink().write(_alerts(1))
    assert not isinstance(info.value, RetryableBackendError)


def test_run_reports_go_to_their_own_data_stream(cluster: Cluster) -> None:
    report = RunReport(
        job_id="j",
        run_id="run1",
        rule_id="r1",
        rule_name="Rule one",
        started=T0,
        duration_s=0.5,
        status="ok",
        hits=3,
        alerts_created=1,
    )
    ElasticsearchRunReports(cluster.client, cluster.runs, FAST_BULK).write_reports([report])
    cluster.client.indices.refresh(index=cluster.runs)
    hits = cluster.client.search(index=cluster.runs).body["hits"]["hits"]
    assert [h["_source"]["eqlwatch"]["run"]["hits"] for h in hits] == [3]
    assert cluster.client.search(index=cluster.alerts).body["hits"]["hits"] == []


def test_a_rejected_run_report_raises(fake_cluster: Cluster) -> None:
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("item_status", status=400)
    report = RunReport(
        job_id="j",
        run_id="run1",
        rule_id="r1",
        rule_name="Rule one",
        started=T0,
        duration_s=0.5,
        status="ok",
    )
    with pytest.raises(BackendError, match="HTTP 400"):
        ElasticsearchRunReports(fake_cluster.client, fake_cluster.runs).write_reports([report])
