"""A Sigma rule through the Elasticsearch backend (the loopback stand-in, real HTTP): the
EQL it sends is accepted and it alerts on the same capture events as `hunt` does locally."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eqlwatch.backends.elasticsearch import setup_cluster
from eqlwatch.cli.app import app
from eqlwatch.settings import RUNS_DATA_STREAM
from tests.backends.es_cluster import fast_client
from tests.fakes.es_server import FakeElasticsearch
from tests.sigma.test_load import REGSVR32

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests/data/evtx-attack-samples/evtx/Execution/exec_sysmon_lobin_regsvr32_sct.evtx"
NOW = datetime(2019, 5, 12, 19, 0, tzinfo=UTC)  # 25 minutes after the capture
ALERTS = "logs-eqlwatch.alerts-sigmatest"
STATE = "eqlwatch-state-sigmatest"
JOB = f"""
[job]
id = "es"
schedule = {{ interval = "5m" }}
indices = ["logs-test-*"]
rules = {{ paths = ["queries/*.yml"] }}
look_back = "1h"
source = {{ backend = "elasticsearch" }}
alerts = {{ backend = "elasticsearch", data_stream = "{ALERTS}" }}
state = {{ backend = "elasticsearch", index = "{STATE}" }}
"""


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch().start()
    client = fast_client(server.url)
    setup_cluster(client, alerts_data_stream=ALERTS, runs_data_stream=RUNS_DATA_STREAM,
                  state_index=STATE)  # fmt: skip
    client.close()
    yield server
    server.stop()


def _capture_documents() -> list[dict[str, object]]:
    """The capture as our normaliser writes it (what `eqlwatch load` would index)."""
    proc = subprocess.run(
        [sys.executable, "-m", "eqlwatch", "query", "any where true", "--events", str(CAPTURE)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    hits = hits.get("hits", hits)
    return [{**e["_source"], "_id": e["_id"]} for e in hits["events"]]


def test_sigma_rule_alerts_alike_on_elasticsearch_and_locally(
    fake: FakeElasticsearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "rule.yml").write_text(REGSVR32, encoding="utf-8")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "es.toml").write_text(JOB, encoding="utf-8")
    for name in ("ELASTICSEARCH_API_KEY", "ELASTICSEARCH_CLOUD_ID", "KIBANA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ELASTICSEARCH_URL", fake.url)
    monkeypatch.setenv("ELASTICSEARCH_USERNAME", "elastic")
    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", "pw")
    fake.add_events("logs-test-a", _capture_documents())
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["run", "--once", "--now", NOW.isoformat(), "--log-format", "json"],
        catch_exceptions=False, env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sent = [r.json()["query"] for r in fake.requests_to("_eql/search")]
    assert sent, "no EQL search reached the cluster"
    assert all(".caseless" not in q and "process.command_line" in q for q in sent)
    remote = [s for _, _, s in fake.store.documents(ALERTS)]
    assert [a["rule"]["name"] for a in remote] == ["Regsvr32 Scriptlet From the Network"]
    local = subprocess.run(
        [sys.executable, "-m", "eqlwatch", "hunt", "--rules", str(tmp_path / "queries"),
         "--format", "ndjson", str(CAPTURE)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    local_alerts = [json.loads(line) for line in local.stdout.splitlines() if line.strip()]
    assert len(local_alerts) == len(remote) == 1
    local_event = local_alerts[0]["eqlwatch"]["events"][0]
    remote_event = remote[0]["eqlwatch"]["events"][0]
    assert local_event["id"] == remote_event["id"]  # the same capture event matched
    assert local_event["timestamp"] == remote_event["timestamp"]
