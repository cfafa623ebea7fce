"""The supported range (8.9 to 9.x) through the CLI, against stand-ins playing each version.

Each stand-in refuses body fields its version does not know (400), as the real one does, so
a request shaped for the wrong version fails here. A bulk item sent to the failure store
(9.x, `2xx` with `failure_store: "used"`) must never count as a written alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eqlwatch.backends.elasticsearch.sink import bulk_create
from eqlwatch.backends.elasticsearch.version import StackVersion, parse_info
from eqlwatch.cli.app import app
from eqlwatch.errors import BackendError, RetryableBackendError
from eqlwatch.model import Alert
from eqlwatch.settings import RUNS_DATA_STREAM
from tests.backends.es_cluster import FAST_BULK, fast_client
from tests.backends.test_elasticsearch_run import (
    ALERTS,
    JOB,
    NOW,
    RULE,
    STATE,
    _checkpoint,
    _events,
    _run,
)
from tests.fakes.es_project import es_project, started_stand_in
from tests.fakes.es_server import FakeElasticsearch

VERSIONS = ["8.9.2", "8.17.4", "8.18.0", "9.2.1"]
SAMPLE_RULE = RULE.replace('rule_id = "r-regsvr32"', 'rule_id = "r-sample"').replace(
    "query = 'process where process.name == \"regsvr32.exe\"'",
    "query = 'sample by host.name [process where true] [process where true]'",
)


def _start(version: str) -> FakeElasticsearch:
    return started_stand_in(ALERTS, STATE, version)


@pytest.fixture(params=VERSIONS)
def versioned(request: pytest.FixtureRequest) -> Iterator[FakeElasticsearch]:
    server = _start(request.param)
    yield server
    server.stop()


def _project(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, *rules: str) -> None:
    es_project(tmp_path, url, monkeypatch, JOB, {f"rule{n}.toml": r for n, r in enumerate(rules)})


def test_every_supported_version_runs_event_and_sample_rules_without_a_400(
    versioned: FakeElasticsearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(tmp_path, versioned.url, monkeypatch, RULE, SAMPLE_RULE)
    events = _events(5, NOW - timedelta(minutes=20))
    for event in events:
        event["host"] = {"name": "h1"}
    versioned.add_events("logs-test-a", events)
    before = len(versioned.log)
    code, out = _run(NOW)
    assert code == 0, out
    assert '"errors": 0, "event": "run finished"' in out, out
    assert '"level": "error"' not in out
    assert "6 new alert(s)" in out  # 5 events + 1 sample of the one host
    searches = versioned.requests_to("_eql/search")
    assert searches
    flags = {"allow_partial_search_results", "allow_partial_sequence_results"}
    for search in searches:
        sent = set(search.json())
        if versioned.at_least(8, 18):
            assert flags <= sent
        else:
            assert not flags & sent
    info_reads = [r for r in versioned.log[before:] if r.path == "/" and r.method == "GET"]
    assert len(info_reads) == 1  # the version is read once per run, not per search


def test_the_stand_in_refuses_partial_flags_before_8_18() -> None:
    """The test above proves something only if an 8.17 server really refuses the flags."""
    server = FakeElasticsearch(version="8.17.4").start()
    try:
        client = fast_client(server.url)
        server.add_events("logs-x", [{"_id": "1", "@timestamp": "2026-01-01T00:00:00Z"}])
        with pytest.raises(Exception, match="allow_partial"):
            client.eql.search(index="logs-x", query="any where true",
                              allow_partial_search_results=False)  # fmt: skip
        client.close()
    finally:
        server.stop()


def test_shard_failure_on_an_old_server_is_an_error_not_zero_hits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before 8.18 a shard failure fails the whole EQL search (an error answer)."""
    server = _start("8.17.4")
    try:
        _project(tmp_path, server.url, monkeypatch, RULE)
        server.add_events("logs-test-a", _events(5, NOW - timedelta(minutes=20)))
        code, _ = _run(NOW - timedelta(minutes=30))
        start = _checkpoint(server)
        assert code == 0
        assert start is not None
        server.faults.add("status", path=r"/_eql/search$", status=503, times=50)
        code, out = _run(NOW)
        assert code == 1, out
        assert "503" in out
        assert _checkpoint(server) == start
    finally:
        server.stop()


@pytest.mark.parametrize("version", ["8.5.3", "8.8.0", "10.0.0"])
def test_setup_refuses_an_unsupported_cluster_naming_the_range(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeElasticsearch(version=version).start()
    try:
        monkeypatch.setenv("ELASTICSEARCH_URL", server.url)
        monkeypatch.delenv("KIBANA_URL", raising=False)
        result = CliRunner().invoke(app, ["setup"])
        assert result.exit_code == 1, result.output
        assert f"Elasticsearch {version} is not supported" in result.output
        assert "8.9 to 9.x" in result.output
        assert server.store.templates == {}  # refused before changing anything
        assert server.store.data_streams == {}
    finally:
        server.stop()


@pytest.mark.parametrize("version", VERSIONS)
def test_setup_shapes_templates_for_the_version(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeElasticsearch(version=version).start()
    try:
        monkeypatch.setenv("ELASTICSEARCH_URL", server.url)
        monkeypatch.delenv("KIBANA_URL", raising=False)
        result = CliRunner().invoke(app, ["setup"])
        assert result.exit_code == 0, result.output
        assert f"Elasticsearch {version}: supported" in result.output
        template = server.store.templates["logs-eqlwatch.alerts"]["template"]
        assert template["settings"]["index"]["mode"] == "standard"  # never logsdb on 9.x
        options = template.get("data_stream_options")
        if server.at_least(8, 19):
            assert options == {"failure_store": {"enabled": False}}
        else:
            assert options is None
        assert server.store.templates["logs-eqlwatch.alerts"]["priority"] > 500
    finally:
        server.stop()


def test_the_stand_in_refuses_data_stream_options_before_8_19() -> None:
    server = FakeElasticsearch(version="8.18.0").start()
    try:
        client = fast_client(server.url)
        with pytest.raises(Exception, match="data_stream_options"):
            client.indices.put_index_template(
                name="x", index_patterns=["x-*"], data_stream={},
                template={"data_stream_options": {"failure_store": {"enabled": False}}},
            )  # fmt: skip
        client.close()
    finally:
        server.stop()


def test_parse_info_versions_and_serverless() -> None:
    assert parse_info({"version": {"number": "9.2.0-SNAPSHOT"}}) == StackVersion(9, 2, 0)
    serverless = parse_info({"version": {"number": "8.11.0", "build_flavor": "serverless"}})
    assert serverless.supported
    assert serverless.at_least((8, 18))
    assert not StackVersion(8, 8, 9).supported
    assert StackVersion(8, 9, 0).supported
    with pytest.raises(BackendError, match=r"version\.number"):
        parse_info({"tagline": "You Know, for Search"})


# --- failure store: nothing counts as written unless it was ---------------------------------


def test_a_failure_store_item_is_never_counted_as_created() -> None:
    server = _start("9.2.1")
    try:
        server.faults.add("failure_store", times=1)
        client = fast_client(server.url)
        alerts = [Alert(id=f"a{n}", rule_id="r", document={"n": n}) for n in range(3)]
        with pytest.raises(BackendError, match="failure store") as caught:
            bulk_create(client, ALERTS, alerts, FAST_BULK, NOW.isoformat())
        assert not isinstance(caught.value, RetryableBackendError)  # a mapping failure
        assert "1 of 3" in str(caught.value)
        assert len(server.failure_store) == 1
        client.close()
    finally:
        server.stop()


def test_a_run_whose_alert_went_to_the_failure_store_holds_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _start("9.2.1")
    try:
        _project(tmp_path, server.url, monkeypatch, RULE)
        server.add_events("logs-test-a", _events(5, NOW - timedelta(minutes=20)))
        code, _ = _run(NOW - timedelta(minutes=30))
        start = _checkpoint(server)
        assert code == 0
        assert start is not None
        server.faults.add("failure_store", path=ALERTS, times=1000)
        code, out = _run(NOW)
        assert code == 1, out
        assert "failure store" in out
        assert _checkpoint(server) == start
        assert server.store.documents(ALERTS, ignore_unavailable=True) == []
        server.faults.clear()
        code, out = _run(NOW + timedelta(minutes=5))  # the mapping fixed: the window again
        assert code == 0, out
        assert len(server.store.documents(ALERTS, ignore_unavailable=True)) == 5
    finally:
        server.stop()


def test_run_on_an_unsupported_cluster_fails_each_rule_naming_the_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _start("8.19.0")  # set up while supported; then the cluster is "downgraded"
    try:
        _project(tmp_path, server.url, monkeypatch, RULE)
        server.add_events("logs-test-a", _events(5, NOW - timedelta(minutes=20)))
        code, _ = _run(NOW - timedelta(minutes=30))
        start = _checkpoint(server)
        assert code == 0
        assert start is not None
        searches = len(server.requests_to("_eql/search"))
        server.version = "8.8.2"
        code, out = _run(NOW)
        assert code == 1, out
        assert "Elasticsearch 8.8.2 is not supported" in out
        assert "8.9 to 9.x" in out
        assert len(server.requests_to("_eql/search")) == searches  # nothing sent to it
        assert _checkpoint(server) == start
    finally:
        server.stop()


# --- min_stack_version: a rule above the cluster's version is skipped, with the reason ------

NEW_RULE = RULE.replace('creation_date = "2026/03/01"',
                        'creation_date = "2026/03/01"\nmin_stack_version = "9.1.0"').replace(
    'rule_id = "r-regsvr32"', 'rule_id = "r-new"').replace(
    'name = "Regsvr32 started"', 'name = "Needs 9.1"')  # fmt: skip


@pytest.mark.parametrize(("version", "skipped"), [("8.18.0", True), ("9.2.1", False)])
def test_a_rule_above_the_cluster_version_is_skipped_with_the_reason(
    version: str, skipped: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _start(version)
    try:
        _project(tmp_path, server.url, monkeypatch, RULE, NEW_RULE)
        server.add_events("logs-test-a", _events(5, NOW - timedelta(minutes=20)))
        code, out = _run(NOW)
        assert code == 0, out  # a skip is not a failure
        reason = (
            f"Needs 9.1: needs Elastic Stack 9.1.0 (min_stack_version), the cluster runs {version}"
        )
        assert (f"skipped {reason}" in out) is skipped, out
        alerts = server.store.documents(ALERTS, ignore_unavailable=True)
        rules = sorted({s["rule"]["id"] for _, _, s in alerts})
        assert rules == (["r-regsvr32"] if skipped else ["r-new", "r-regsvr32"])
        report = [s for _, _, s in server.store.documents(RUNS_DATA_STREAM)
                  if s["eqlwatch"]["run"]["rule_id"] == "r-new"]  # fmt: skip
        assert report[-1]["eqlwatch"]["run"]["status"] == ("unsupported" if skipped else "ok")
    finally:
        server.stop()


MANY_SAMPLES_RULE = (
    SAMPLE_RULE.replace('rule_id = "r-sample"', 'rule_id = "r-samples"')
    + "\n[eqlwatch]\nmax_samples_per_key = 3\n"
)


@pytest.mark.parametrize("version", ["8.9.2", "9.2.1"])
def test_a_rules_max_samples_per_key_reaches_the_search_and_its_alerts(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule's `[eqlwatch] max_samples_per_key` is sent in the EQL body, and the alerts
    are the samples it allows (one host, five events: three samples instead of one)."""
    server = _start(version)
    try:
        _project(tmp_path, server.url, monkeypatch, SAMPLE_RULE, MANY_SAMPLES_RULE)
        events = _events(6, NOW - timedelta(minutes=20))
        for event in events:
            event["host"] = {"name": "h1"}
        server.add_events("logs-test-a", events)
        code, out = _run(NOW)
        assert code == 0, out
        bodies = [r.json() for r in server.requests_to("_eql/search")]
        sent = sorted(body.get("max_samples_per_key", 1) for body in bodies)
        assert sent == [1, 3], bodies
        alerts = server.store.documents(ALERTS, ignore_unavailable=True)
        per_rule: dict[str, int] = {}
        for _, _, source in alerts:
            per_rule[source["rule"]["id"]] = per_rule.get(source["rule"]["id"], 0) + 1
        assert per_rule == {"r-sample": 1, "r-samples": 3}
    finally:
        server.stop()
