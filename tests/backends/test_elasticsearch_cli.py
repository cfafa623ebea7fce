"""`eqlwatch setup` and `eqlwatch load` end to end, over real HTTP to the stand-in.

The stand-in also answers Kibana's saved objects import, checking the `kbn-xsrf` header and
that every reference in the NDJSON resolves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eqlwatch.backends.elasticsearch import ElasticsearchEventSource, EqlOptions
from eqlwatch.cli.app import app
from eqlwatch.kibana import bundled_ndjson, saved_objects, to_ndjson
from eqlwatch.kibana.objects import ALERTS_VIEW, DASHBOARD, TRIAGE_SEARCH
from eqlwatch.model import SearchRequest, TimeWindow
from tests.fakes.es_server import FakeElasticsearch

SECRET = "s3cr3t-pw-do-not-log"


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch().start()
    yield server
    server.stop()


@pytest.fixture
def env(fake: FakeElasticsearch, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "ELASTICSEARCH_URL": fake.url,
        "ELASTICSEARCH_USERNAME": "elastic",
        "ELASTICSEARCH_PASSWORD": SECRET,
        "KIBANA_URL": fake.url,
    }
    for name in [*list(values), "ELASTICSEARCH_API_KEY", "ELASTICSEARCH_CLOUD_ID"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_setup_creates_everything_and_is_idempotent(
    fake: FakeElasticsearch, env: dict[str, str]
) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["setup"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["setup"])
    assert second.exit_code == 0, second.output
    store = fake.store
    assert set(store.policies) == {"eqlwatch-alerts", "eqlwatch-runs"}
    assert store.templates["logs-eqlwatch.alerts"]["index_patterns"] == ["logs-eqlwatch.alerts-*"]
    assert store.templates["logs-eqlwatch.alerts"]["priority"] > 200
    assert set(store.data_streams) == {"logs-eqlwatch.alerts-default", "logs-eqlwatch.runs-default"}
    assert store.indices["eqlwatch-state"].hidden
    ids = {(o["type"], o["id"]) for o in store.saved_objects}
    assert {
        ("index-pattern", ALERTS_VIEW),
        ("search", TRIAGE_SEARCH),
        ("dashboard", DASHBOARD),
    } <= ids
    assert len(store.saved_objects) == len(saved_objects())  # overwrite: no duplicates
    assert f"Kibana saved objects imported: {len(saved_objects())}" in first.output
    assert SECRET not in first.output + second.output
    (kibana,) = fake.requests_to("/api/saved_objects/_import")[:1]
    assert kibana.params["overwrite"] == "true"
    assert kibana.headers["Authorization"].startswith("Basic ")


def test_setup_without_kibana_url_skips_kibana(
    fake: FakeElasticsearch, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KIBANA_URL")
    result = CliRunner().invoke(app, ["setup"])
    assert result.exit_code == 0, result.output
    assert "Kibana skipped" in result.output
    assert fake.store.saved_objects == []


def test_setup_against_a_dead_cluster_says_retry(
    fake: FakeElasticsearch, env: dict[str, str]
) -> None:
    fake.stop()
    result = CliRunner().invoke(app, ["setup"])
    assert result.exit_code == 75
    assert "retry later" in result.output


def test_kibana_rejects_an_import_without_xsrf_header(fake: FakeElasticsearch) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{fake.url}/api/saved_objects/_import", data=b"", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 400
    info.value.close()


def test_bundled_ndjson_is_the_generated_one() -> None:
    assert bundled_ndjson() == to_ndjson(saved_objects()), (
        "regenerate src/eqlwatch/kibana/saved_objects.ndjson from eqlwatch.kibana.objects"
    )


def test_every_reference_resolves_and_the_dashboard_has_every_panel() -> None:
    objects = saved_objects()
    known = {(o["type"], o["id"]) for o in objects}
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in known, (obj["id"], ref)
    (board,) = [o for o in objects if o["type"] == "dashboard"]
    panels = json.loads(board["attributes"]["panelsJSON"])
    assert len(panels) == len(objects) - 3  # all but the two data views and the dashboard
    names = {p["panelRefName"] for p in panels}
    assert {r["name"].split(":", 1)[1] for r in board["references"]} == names


def _ecs_file(tmp_path: Path) -> Path:
    lines = [
        {
            "@timestamp": f"2026-03-01T10:00:0{n}Z",
            "event": {"category": ["process"]},
            "process": {"name": "regsvr32.exe", "pid": n},
            "host": {"name": "h1"},
            "source": {"ip": "10.0.0.1"},
        }
        for n in range(3)
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_load_ecs_ndjson_is_idempotent_and_searchable(
    fake: FakeElasticsearch, env: dict[str, str], tmp_path: Path
) -> None:
    path = _ecs_file(tmp_path)
    args = [
        "load",
        str(path),
        "--data-stream",
        "logs-endpoint.events.process-test",
        "--no-progress",
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "loaded 3, already there 0, failed 0" in first.output
    again = CliRunner().invoke(app, args)
    assert "loaded 0, already there 3" in again.output
    template = fake.store.templates["eqlwatch-events-logs-endpoint.events.process-test"]
    assert template["template"]["mappings"]["properties"]["@timestamp"] == {"type": "date"}
    docs = fake.store.documents("logs-endpoint.events.process-test")
    assert {d[2]["data_stream"]["dataset"] for d in docs} == {"endpoint.events.process"}
    from elasticsearch import Elasticsearch

    with Elasticsearch(fake.url) as client:
        window = TimeWindow(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
        result = ElasticsearchEventSource(client, EqlOptions()).search(
            SearchRequest(
                'process where process.name == "regsvr32.exe"', ("logs-endpoint.events.*",), window
            )
        )
    assert len(result.hits) == 3


def test_load_raw_sysmon_through_the_normaliser(
    fake: FakeElasticsearch, env: dict[str, str], data_dir: Path
) -> None:
    path = (
        data_dir
        / "evtx-attack-samples/ndjson/Defense Evasion"
        / "de_powershell_execpolicy_changed_sysmon_13.ndjson.gz"
    )
    result = CliRunner().invoke(app, ["load", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "loaded 5," in result.output
    (stream,) = fake.store.data_streams
    assert stream.startswith("logs-windows.sysmon_operational-")
    sources = [d[2] for d in fake.store.documents(stream)]
    assert all(s["event"]["code"] == "13" for s in sources)


def test_load_reports_a_missing_file(
    fake: FakeElasticsearch, env: dict[str, str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["load", str(tmp_path / "nope.ndjson"), "--no-progress"])
    assert result.exit_code == 1
    assert "nope.ndjson" in result.output


def test_setup_retry_for_outlasts_a_cluster_still_starting(
    fake: FakeElasticsearch, env: dict[str, str]
) -> None:
    fake.faults.add("status", path=r"^/$", status=503, times=8)  # the client tries 4 times
    result = CliRunner().invoke(app, ["setup", "--retry-for", "1m", "--retry-every", "10ms"])
    assert result.exit_code == 0, result.output
    assert result.output.count("retrying in") == 2
    assert "data stream logs-eqlwatch.alerts-default" in result.output


def test_setup_retry_for_gives_up_and_never_retries_a_refusal(
    fake: FakeElasticsearch, env: dict[str, str]
) -> None:
    fake.faults.add("status", path=r"^/$", status=503, times=1000)
    result = CliRunner().invoke(app, ["setup", "--retry-for", "50ms", "--retry-every", "20ms"])
    assert result.exit_code == 75, result.output
    assert "retry later" in result.output
    old = FakeElasticsearch(version="8.8.2").start()
    try:
        env_old = {**env, "ELASTICSEARCH_URL": old.url}
        result = CliRunner().invoke(app, ["setup", "--retry-for", "1m"], env=env_old)
        assert result.exit_code == 1, result.output
        assert "retrying" not in result.output
        assert len([r for r in old.log if r.path == "/"]) == 1
    finally:
        old.stop()


def test_dashboard_panels_never_overlap() -> None:
    """Every panel's grid rectangle is inside the 48-column grid and apart from the others,
    for the bundled dashboard and for odd panel counts before a full-width search."""
    from eqlwatch.kibana.objects import dashboard

    layouts = [
        next(o for o in saved_objects() if o["type"] == "dashboard"),
        dashboard([("visualization", "a"), ("search", "s"), ("visualization", "b")]),
        dashboard([("visualization", str(n)) for n in range(5)] + [("search", "s")]),
    ]
    for layout in layouts:
        grids = [p["gridData"] for p in json.loads(layout["attributes"]["panelsJSON"])]
        assert all(g["x"] >= 0 and g["x"] + g["w"] <= 48 for g in grids)
        for n, a in enumerate(grids):
            for b in grids[n + 1 :]:
                apart = (
                    a["x"] + a["w"] <= b["x"]
                    or b["x"] + b["w"] <= a["x"]
                    or a["y"] + a["h"] <= b["y"]
                    or b["y"] + b["h"] <= a["y"]
                )
                assert apart, (a, b)
