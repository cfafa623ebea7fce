"""The Elasticsearch EventSource over real HTTP: request shape, results, async, faults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import BadRequestError

from eqlwatch.backends.elasticsearch import ElasticsearchEventSource, EqlOptions
from eqlwatch.backends.elasticsearch.optional_fields import make_optional, unknown_columns
from eqlwatch.errors import QueryError, RetryableBackendError
from eqlwatch.model import SearchRequest, TimeWindow
from tests.backends.es_cluster import Cluster, cluster_kinds, open_cluster

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
NO_WAIT = EqlOptions(poll_interval_s=0.0, max_wait_s=5.0)


@pytest.fixture(params=cluster_kinds())
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    yield from open_cluster(request.param)


@pytest.fixture
def fake_cluster() -> Iterator[Cluster]:
    """Fault injection needs the stand-in."""
    yield from open_cluster("fake")


def _event(
    n: int, category: str, seconds: int, host: str = "h1", **extra: object
) -> dict[str, object]:
    return {
        "_id": f"e{n}",
        "@timestamp": (T0 + timedelta(seconds=seconds)).isoformat(),
        "event": {"category": category},
        "host": {"name": host},
        "process": {"name": "regsvr32.exe"},
        **extra,
    }


EVENTS = [
    _event(1, "process", 0),
    _event(2, "network", 5),
    _event(3, "process", 10, host="h2"),
    _event(4, "network", 70, host="h2"),
    _event(5, "process", 200),
]


def _request(query: str, start: int = 0, end: int = 300, size: int = 100) -> SearchRequest:
    window = TimeWindow(T0 + timedelta(seconds=start), T0 + timedelta(seconds=end))
    return SearchRequest(query=query, indices=("eqlwatch-test-events-*",), window=window, size=size)


def _ids(result) -> list[list[str]]:
    return [[e.id for e in hit.events] for hit in result.hits]


def test_event_query_is_limited_to_the_window(cluster: Cluster) -> None:
    cluster.load(EVENTS)
    source = ElasticsearchEventSource(cluster.client, NO_WAIT)
    result = source.search(_request('process where process.name == "regsvr32.exe"', 0, 200))
    assert sorted(_ids(result)) == [["e1"], ["e3"]]
    assert all(hit.kind == "event" for hit in result.hits)


def test_sequence_hits_carry_events_in_order_and_join_keys(cluster: Cluster) -> None:
    cluster.load(EVENTS)
    source = ElasticsearchEventSource(cluster.client, NO_WAIT)
    result = source.search(
        _request("sequence by host.name [process where true] [network where true]")
    )
    by_key = {hit.join_keys: [e.id for e in hit.events] for hit in result.hits}
    assert by_key == {("h1",): ["e1", "e2"], ("h2",): ["e3", "e4"]}
    assert {hit.kind for hit in result.hits} == {"sequence"}


def test_request_refuses_partial_results_and_sends_the_window(fake_cluster: Cluster) -> None:
    fake_cluster.load(EVENTS)
    ElasticsearchEventSource(fake_cluster.client, NO_WAIT).search(
        _request("any where true", 60, 120)
    )
    assert fake_cluster.fake is not None
    (sent,) = fake_cluster.fake.requests_to("/_eql/search")
    body = sent.json()
    assert body["allow_partial_search_results"] is False
    assert body["allow_partial_sequence_results"] is False
    assert body["filter"]["bool"]["filter"][0]["range"]["@timestamp"] == {
        "gte": "2026-03-01T10:01:00.000Z",
        "lt": "2026-03-01T10:02:00.000Z",
        "format": "strict_date_optional_time",
    }
    assert body["size"] == 100
    assert body["fetch_size"] == 1000
    assert body["event_category_field"] == "event.category"


def test_a_full_page_is_reported_so_the_caller_splits(cluster: Cluster) -> None:
    cluster.load(EVENTS)
    source = ElasticsearchEventSource(cluster.client, NO_WAIT)
    request = _request("any where true", size=2)
    result = source.search(request)
    assert len(result.hits) == 2
    assert result.is_full(request.size)
    assert not source.search(_request("any where true", size=10)).is_full(10)


@pytest.mark.parametrize("fault", ["partial", "shard_failure"])
def test_partial_results_mean_not_evaluated(fake_cluster: Cluster, fault: str) -> None:
    fake_cluster.load(EVENTS)
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add(fault)  # type: ignore[arg-type]
    source = ElasticsearchEventSource(fake_cluster.client, NO_WAIT)
    with pytest.raises(RetryableBackendError, match="not fully evaluated"):
        source.search(_request("any where true"))
    assert len(source.search(_request("any where true")).hits) == 5


def test_long_search_goes_async_is_polled_and_deleted(fake_cluster: Cluster) -> None:
    fake_cluster.load(EVENTS)
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("async", polls=2)
    source = ElasticsearchEventSource(fake_cluster.client, NO_WAIT)
    result = source.search(_request("network where true"))
    assert sorted(_ids(result)) == [["e2"], ["e4"]]
    assert len(fake_cluster.fake.requests_to("/_eql/search/FakeAsyncId1")) == 4  # 3 gets + delete
    assert fake_cluster.fake.async_searches == {}


def test_async_search_that_never_ends_is_retryable_and_deleted(fake_cluster: Cluster) -> None:
    fake_cluster.load(EVENTS)
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("async", polls=1000)
    clock = iter(range(1000))
    source = ElasticsearchEventSource(
        fake_cluster.client,
        EqlOptions(poll_interval_s=0.0, max_wait_s=3.0),
        monotonic=lambda: float(next(clock)),
    )
    with pytest.raises(RetryableBackendError, match="still running"):
        source.search(_request("any where true"))
    assert fake_cluster.fake.async_searches == {}


@pytest.mark.parametrize("status", [429, 502, 503])
def test_throttling_and_server_errors_are_retried_by_the_client(
    fake_cluster: Cluster, status: int
) -> None:
    fake_cluster.load(EVENTS)
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("status", path="_eql", status=status, times=2)
    result = ElasticsearchEventSource(fake_cluster.client, NO_WAIT).search(
        _request("any where true")
    )
    assert len(result.hits) == 5


def test_persistent_5xx_is_retryable(fake_cluster: Cluster) -> None:
    fake_cluster.load(EVENTS)
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("status", path="_eql", status=500, times=10)
    with pytest.raises(RetryableBackendError, match="HTTP 500"):
        ElasticsearchEventSource(fake_cluster.client, NO_WAIT).search(_request("any where true"))


def test_timeout_is_retryable(fake_cluster: Cluster) -> None:
    fake_cluster.load(EVENTS)
    assert fake_cluster.fake is not None
    fake_cluster.fake.faults.add("delay", path="_eql", delay_s=0.5, times=2)
    impatient = fake_cluster.client.options(request_timeout=0.2, max_retries=1)
    with pytest.raises(RetryableBackendError, match="ConnectionTimeout"):
        ElasticsearchEventSource(impatient, NO_WAIT).search(_request("any where true"))


def test_connection_refused_is_retryable(fake_cluster: Cluster) -> None:
    fake_cluster.load(EVENTS)
    assert fake_cluster.fake is not None
    fake_cluster.fake.stop()
    with pytest.raises(RetryableBackendError, match="ConnectionError"):
        ElasticsearchEventSource(fake_cluster.client, NO_WAIT).search(_request("any where true"))


def test_fields_unmapped_everywhere_become_optional(cluster: Cluster) -> None:
    cluster.load(EVENTS)
    source = ElasticsearchEventSource(cluster.client, NO_WAIT)
    query = (
        'process where process.name == "regsvr32.exe" and '
        '(process.Ext.token.integrity_level_name == "System" or host.name == "h2")'
    )
    result = source.search(_request(query))
    assert _ids(result) == [["e3"]]
    assert result.warnings
    assert "process.Ext.token.integrity_level_name" in result.warnings[0]


def test_a_syntax_error_is_a_query_error(cluster: Cluster) -> None:
    cluster.load(EVENTS)
    with pytest.raises(QueryError):
        ElasticsearchEventSource(cluster.client, NO_WAIT).search(_request("process where ((("))


def test_unknown_columns_are_read_from_the_reason() -> None:
    reason = (
        "Found 2 problems\nline 1:9: Unknown column [a.b]\n"
        "line 1:30: Unknown column [c], did you mean [cc]?"
    )
    assert unknown_columns(reason) == ("a.b", "c")


@pytest.mark.parametrize(
    ("query", "fields", "expected"),
    [
        ('x.y == "x.y"', ["x.y"], '?x.y == "x.y"'),
        ("?x.y == 1 and x.y != 2", ["x.y"], "?x.y == 1 and ?x.y != 2"),
        ("x.yz == 1 and wx.y == 2", ["x.y"], "x.yz == 1 and wx.y == 2"),
        ('a : """a \\ "b" a""" or a == 1', ["a"], '?a : """a \\ "b" a""" or ?a == 1'),
        ("sequence by a [p where a == 1]", ["a"], "sequence by ?a [p where ?a == 1]"),
    ],
)
def test_make_optional_edits_fields_only(query: str, fields: list[str], expected: str) -> None:
    assert make_optional(query, fields) == expected


def test_the_stand_in_rejects_fields_the_specification_lacks(fake_cluster: Cluster) -> None:
    """So a misspelled request field fails here as it would on a real cluster."""
    fake_cluster.load(EVENTS)
    with pytest.raises(BadRequestError, match="x_content_parse_exception"):
        fake_cluster.client.perform_request(
            "POST",
            f"/{fake_cluster.events}/_eql/search",
            body={"query": "any where true", "allow_partial_results": False},
            headers={"content-type": "application/json", "accept": "application/json"},
        )
