"""`eqlwatch run --once` on the Elasticsearch backend, through the CLI, over real HTTP to the
stand-in: a fresh stack waits (exit 0, said once) and alerts when data arrives; a proxy
echoing the credentials fails the rule without the secret reaching output or run reports.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.settings import RUNS_DATA_STREAM
from tests.fakes.es_project import es_job, es_project, started_stand_in
from tests.fakes.es_server import FakeElasticsearch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "pw-7f3a-never-log-me"
ALERTS = "logs-eqlwatch.alerts-runtest"
STATE = "eqlwatch-state-runtest"
RULE = """
[metadata]
creation_date = "2026/03/01"
[rule]
rule_id = "r-regsvr32"
name = "Regsvr32 started"
description = "test"
type = "eql"
language = "eql"
index = ["logs-test-*"]
query = 'process where process.name == "regsvr32.exe"'
risk_score = 50
severity = "medium"
"""
JOB = es_job(ALERTS, STATE)


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    server = started_stand_in(ALERTS, STATE)
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path, fake: FakeElasticsearch, monkeypatch: pytest.MonkeyPatch) -> Path:
    return es_project(tmp_path, fake.url, monkeypatch, JOB, {"rule.toml": RULE}, password=SECRET)


def _run(now: datetime) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["run", "--once", "--now", now.isoformat(), "--log-format", "json"],
        catch_exceptions=False, env={"COLUMNS": "200"},
    )  # fmt: skip
    return result.exit_code, result.output


def _checkpoint(fake: FakeElasticsearch) -> str | None:
    found = fake.store.get(STATE, "checkpoint:es%2Fr-regsvr32")
    if found is None:
        return None
    value = found[1].source.get("checkpoint")
    return None if value is None else str(value)


def _events(n: int, start: datetime) -> list[dict[str, object]]:
    return [
        {
            "_id": f"e{i}",
            "@timestamp": (start + timedelta(minutes=i)).isoformat(),
            "event": {"category": "process"},
            "process": {"name": "regsvr32.exe"},
        }
        for i in range(n)
    ]


def test_a_fresh_stack_waits_for_data_then_alerts(fake: FakeElasticsearch, project: Path) -> None:
    code, out = _run(NOW)
    assert code == 0, out
    assert "waiting for data: 1 rule(s) wait for their source" in out
    assert out.count('"event": "waiting for data"') == 1  # one log line per run, no error
    assert '"level": "error"' not in out
    assert not fake.requests_to("_eql/search")  # nothing searched before data exists
    fake.add_events("logs-test-a", _events(5, NOW - timedelta(minutes=20)))
    code, out = _run(NOW + timedelta(minutes=5))
    assert code == 0, out
    assert "5 new alert(s)" in out


def test_a_proxy_echoing_credentials_fails_the_rule_without_leaking_them(
    fake: FakeElasticsearch, project: Path
) -> None:
    fake.add_events("logs-test-a", _events(5, NOW - timedelta(minutes=20)))
    fake.faults.add("respond", path=r"/_eql/search$", status=403, echo_headers=True, times=50)
    code, out = _run(NOW)
    assert code == 1, out
    assert "security_exception" in out
    basic = base64.b64encode(f"elastic:{SECRET}".encode()).decode()
    sent = {k.lower(): v for k, v in fake.requests_to("_eql/search")[0].headers.items()}
    assert sent["authorization"] == f"Basic {basic}"  # what the proxy echoed back
    assert SECRET not in out
    assert basic not in out
    reports = json.dumps([s for _, _, s in fake.store.documents(RUNS_DATA_STREAM)])
    assert "security_exception" in reports
    assert basic not in reports
    assert SECRET not in reports


def test_200_empty_object_is_an_error_and_holds_the_checkpoint(
    fake: FakeElasticsearch, project: Path
) -> None:
    fake.add_events("logs-test-a", _events(5, NOW - timedelta(minutes=20)))
    code, _ = _run(NOW - timedelta(minutes=30))  # first run: records the history's start
    assert code == 0
    start = _checkpoint(fake)
    assert start is not None
    searches = len(fake.requests_to("_eql/search"))
    fake.faults.add("respond", path=r"/_eql/search$", status=200, body={}, times=50)
    code, out = _run(NOW)
    assert code == 1, out
    assert "malformed EQL response" in out
    assert _checkpoint(fake) == start
    assert len(fake.requests_to("_eql/search")) - searches == 4  # one retry layer, not 3 x 4
