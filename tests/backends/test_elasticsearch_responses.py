"""What the Elasticsearch backend does with answers that are not what it asked for.

Over real HTTP to the stand-in: a body that is not a well-formed EQL response is a
retryable error (never zero hits, never a moved checkpoint); "no index yet" is waiting for
data, not an error; the watermark is the newest event across the job's indices; error
bodies echoing credentials are redacted before a log line or a report; one retry layer,
bounded by the rule run's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eqlwatch.backends.elasticsearch import ElasticsearchEventSource, EqlOptions
from eqlwatch.backends.elasticsearch.redact import redact, redact_text
from eqlwatch.errors import BackendError, RetryableBackendError
from eqlwatch.model import SearchRequest, TimeWindow
from eqlwatch.pipeline.runner import RuleRunner, RunnerSettings
from eqlwatch.windowing import WindowPolicy
from tests.backends.es_cluster import Cluster, fast_client, open_cluster
from tests.fakes.es_server import FakeElasticsearch
from tests.pipeline.doubles import make_rule, policy_for_query, simple_alert

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
QUERY = 'process where process.name == "regsvr32.exe"'
RULE = make_rule(QUERY)
NO_WAIT = EqlOptions(poll_interval_s=0.0, max_wait_s=5.0)
EQL = r"/_eql/search$"


@pytest.fixture
def fake_cluster() -> Iterator[Cluster]:
    yield from open_cluster("fake")


def _events(n: int, start: datetime = T0) -> list[dict[str, Any]]:
    return [
        {
            "_id": f"e{i}",
            "@timestamp": (start + timedelta(minutes=i)).isoformat(),
            "event": {"category": "process"},
            "process": {"name": "regsvr32.exe"},
        }
        for i in range(n)
    ]


def _request(cluster: Cluster) -> SearchRequest:
    window = TimeWindow(T0, T0 + timedelta(hours=1))
    return SearchRequest(query=QUERY, indices=(cluster.events,), window=window, size=100)


def _policy() -> WindowPolicy:
    return policy_for_query(
        QUERY, max_chunk=timedelta(hours=1), max_slices=4, look_back=timedelta(hours=1)
    )


def _runner(cluster: Cluster, **settings: Any) -> RuleRunner:
    options: dict[str, Any] = {"job_id": "job", "indices": (cluster.events,), "backoff_s": 0.0}
    return RuleRunner(
        settings=RunnerSettings(**{**options, **settings}),
        source=ElasticsearchEventSource(cluster.client, NO_WAIT),
        sink=cluster.sink(),
        state=cluster.state_store(),
        make_alert=simple_alert,
        owner="me",
        sleep=lambda _s: None,
    )


MALFORMED: dict[str, Any] = {
    "empty object": {},
    "hits is a list": {"hits": []},
    "no total": {"is_partial": False, "hits": {"events": []}},
    "total is a number": {"hits": {"total": 0, "events": []}},
    "total value is text": {"hits": {"total": {"value": "0", "relation": "eq"}, "events": []}},
    "unknown relation": {"hits": {"total": {"value": 0, "relation": "lt"}, "events": []}},
    "events is an object": {"hits": {"total": {"value": 0, "relation": "eq"}, "events": {}}},
    "event without _id": {
        "hits": {"total": {"value": 1, "relation": "eq"}, "events": [{"_index": "i"}]}
    },
    "fewer total than hits": {
        "hits": {
            "total": {"value": 0, "relation": "eq"},
            "events": [{"_index": "i", "_id": "1", "_source": {}}],
        }
    },
    "a JSON string": "ok",
    "not JSON": b"<html>502 bad gateway</html>",
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_eql_answer_is_retryable_never_zero_hits(
    fake_cluster: Cluster, body: Any
) -> None:
    assert fake_cluster.fake is not None
    fake_cluster.load(_events(3))
    fake_cluster.fake.faults.add("respond", path=EQL, status=200, body=body)
    source = ElasticsearchEventSource(fake_cluster.client, NO_WAIT)
    with pytest.raises(RetryableBackendError):
        source.search(_request(fake_cluster))
    assert len(source.search(_request(fake_cluster)).hits) == 3  # the next answer is fine


def test_200_empty_object_holds_the_checkpoint_then_the_next_run_alerts(
    fake_cluster: Cluster,
) -> None:
    assert fake_cluster.fake is not None
    fake_cluster.load(_events(5, T0 + timedelta(minutes=1)))
    state = fake_cluster.state_store()
    state.set_checkpoint("job/r1", T0)
    fake_cluster.fake.faults.add("respond", path=EQL, status=200, body={}, times=100)
    now = T0 + timedelta(minutes=20)
    report = _runner(fake_cluster).run(RULE, _policy(), now=now, run_id="1")
    assert report.status == "error"
    assert "malformed EQL response" in report.errors[0]
    assert report.alerts_created == 0
    assert state.get_checkpoint("job/r1") == T0
    assert len(fake_cluster.fake.requests_to("_eql/search")) == 4  # one retry layer: 4 tries
    fake_cluster.fake.faults.clear()
    report = _runner(fake_cluster).run(RULE, _policy(), now=now, run_id="2")
    assert report.status == "ok", report.errors
    assert report.alerts_created == 5
    assert state.get_checkpoint("job/r1") == now - timedelta(seconds=30)


def test_watermark_is_the_newest_event_across_the_indices(fake_cluster: Cluster) -> None:
    fake_cluster.load(_events(3))
    source = ElasticsearchEventSource(fake_cluster.client, NO_WAIT)
    status = source.status((fake_cluster.events, "logs-nothing-*"), "@timestamp")
    assert status.newest == T0 + timedelta(minutes=2)
    assert status.problems == ()


@pytest.mark.parametrize("indices", [("logs-endpoint.events.*",), ("no-such-index",)])
def test_no_index_yet_is_no_data_not_an_error(
    fake_cluster: Cluster, indices: tuple[str, ...]
) -> None:
    source = ElasticsearchEventSource(fake_cluster.client, NO_WAIT)
    assert source.status(indices, "@timestamp").newest is None
    with pytest.raises(BackendError, match="index_not_found_exception"):
        source.search(SearchRequest(query=QUERY, indices=indices))  # what EQL itself says


def test_index_not_found_from_the_server_is_waiting_for_data(fake_cluster: Cluster) -> None:
    assert fake_cluster.fake is not None
    body = {
        "error": {"type": "index_not_found_exception", "reason": "no such index [logs-x]"},
        "status": 404,
    }
    fake_cluster.fake.faults.add("respond", path=r"/_search$", status=404, body=body)
    source = ElasticsearchEventSource(fake_cluster.client, NO_WAIT)
    assert source.status(("logs-x",), "@timestamp").newest is None


def test_a_fresh_stack_waits_then_alerts_from_where_it_started(fake_cluster: Cluster) -> None:
    """Issue 14: before any data, every run says "waiting", not an error; nothing is skipped."""
    runner = _runner(fake_cluster, max_wait=timedelta(minutes=15))
    state = fake_cluster.state_store()
    first = T0 + timedelta(minutes=10)
    for i, now in enumerate((first, first + timedelta(minutes=5))):
        report = runner.run(RULE, _policy(), now=now, run_id=str(i))
        assert report.status == "waiting"
        assert report.errors == ()
        assert "waiting for data" in report.notes[0]
        assert report.searches == 0
    assert state.get_checkpoint("job/r1") == first - timedelta(hours=1)  # history starts here
    fake_cluster.load(_events(20, T0 - timedelta(minutes=30)))  # late data, old timestamps
    now = T0 + timedelta(minutes=40)
    report = runner.run(RULE, _policy(), now=now, run_id="2")
    assert report.status == "ok", report.errors
    expected = [
        i
        for i in range(20)
        if first - timedelta(hours=1)
        <= T0 + timedelta(minutes=i - 30)
        < now - timedelta(minutes=30)
    ]
    assert report.alerts_created == len(expected)


def test_windows_wait_for_the_watermark_then_max_wait(fake_cluster: Cluster) -> None:
    fake_cluster.load(_events(10, T0))  # newest event T0 + 9m
    state = fake_cluster.state_store()
    state.set_checkpoint("job/r1", T0)
    runner = _runner(fake_cluster, max_wait=timedelta(minutes=15))
    report = runner.run(RULE, _policy(), now=T0 + timedelta(minutes=20), run_id="1")
    assert report.status == "ok"
    assert state.get_checkpoint("job/r1") == T0 + timedelta(minutes=9)  # up to the watermark
    assert "waiting for data after" in report.notes[0]
    assert report.source_newest == T0 + timedelta(minutes=9)
    report = runner.run(RULE, _policy(), now=T0 + timedelta(minutes=40), run_id="2")
    # Due since 9m30s; after 15 minutes of waiting the windows are evaluated, lag recorded.
    assert state.get_checkpoint("job/r1") == T0 + timedelta(minutes=24, seconds=30)
    assert report.source_lag_s == (15 * 60 + 30)
    assert any("past the source's newest event" in n for n in report.notes)


def test_an_error_echoing_the_authorization_header_is_redacted(
    fake_cluster: Cluster,
) -> None:
    assert fake_cluster.fake is not None
    client = fast_client(fake_cluster.fake.url, api_key="c2VjcmV0LWlkOnNlY3JldC1rZXk=")
    fake_cluster.fake.faults.add("respond", path=EQL, status=403, echo_headers=True)
    source = ElasticsearchEventSource(client, NO_WAIT)
    with pytest.raises(BackendError) as caught:
        source.search(_request(fake_cluster))
    message = str(caught.value)
    assert "security_exception" in message
    assert "c2VjcmV0LWlkOnNlY3JldC1rZXk=" not in message
    assert "ApiKey ***" in message


def test_redaction_of_text_and_bodies() -> None:
    text = (
        "headers {Authorization=Basic ZWxhc3RpYzpodW50ZXIy, X-Api-Key: abc123def} "
        '"password": "hunter2", token=eyJhbGciOi.x.y and Bearer eyJhbGciOiJIUzI1NiJ9'
    )
    clean = redact_text(text)
    for secret in ("ZWxhc3RpYzpodW50ZXIy", "abc123def", "hunter2", "eyJhbGciOi"):
        assert secret not in clean
    assert redact_text("field [process.name] is unknown, 3 tokens") == (
        "field [process.name] is unknown, 3 tokens"
    )
    assert redact({"error": {"header": {"authorization": ["Basic x"]}, "n": 1}}) == {
        "error": {"header": {"authorization": "***"}, "n": 1}
    }


def test_the_run_deadline_stops_retrying(fake_cluster: Cluster) -> None:
    assert fake_cluster.fake is not None
    fake_cluster.load(_events(3, T0 + timedelta(minutes=1)))
    fake_cluster.state_store().set_checkpoint("job/r1", T0)
    fake_cluster.fake.faults.add("status", path=EQL, status=503, times=10_000)
    runner = _runner(fake_cluster, deadline_s=1.0, backoff_s=0.2, max_attempts=1000)
    runner.sleep = time.sleep
    began = time.monotonic()
    report = runner.run(RULE, _policy(), now=T0 + timedelta(minutes=20), run_id="1")
    took = time.monotonic() - began
    assert report.status == "error"
    assert "run deadline (1s)" in report.errors[0]
    assert took < 3.0
    assert fake_cluster.state_store().get_checkpoint("job/r1") == T0


def test_status_fails_retryably_when_the_cluster_is_down() -> None:
    fake = FakeElasticsearch().start()
    client = fast_client(fake.url, max_retries=0)
    fake.stop()
    with pytest.raises(RetryableBackendError):
        ElasticsearchEventSource(client, NO_WAIT).status(("logs-*",), "@timestamp")
