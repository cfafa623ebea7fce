"""Issue 15's transcript through the CLI: an event at 02:50 that arrives at 03:03, after the
03:00 run moved the checkpoint past it, is alerted by the 03:05 run, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from tests.fakes.es_project import es_job, es_project, started_stand_in
from tests.fakes.es_server import FakeElasticsearch

ALERTS = "logs-eqlwatch.alerts-late"
STATE = "eqlwatch-state-late"


def at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2026-03-01T{hhmm}:00+00:00").astimezone(UTC)


def rule(override: bool) -> str:
    line = 'timestamp_override = "event.ingested"\n' if override else ""
    return f"""
[metadata]
creation_date = "2026/03/01"
[rule]
rule_id = "r-whoami"
name = "Whoami"
description = "test"
type = "eql"
language = "eql"
index = ["logs-test-*"]
query = 'process where process.name == "whoami.exe"'
risk_score = 50
severity = "medium"
{line}"""


def event(ident: str, when: str, ingested: str | None, name: str) -> dict[str, object]:
    doc: dict[str, object] = {
        "_id": ident,
        "@timestamp": at(when).isoformat(),
        "event": {"category": "process"},
        "process": {"name": name},
    }
    if ingested is not None:
        doc["event"] = {"category": "process", "ingested": at(ingested).isoformat()}
    return doc


def run(now: str) -> str:
    result = CliRunner().invoke(
        app, ["run", "--once", "--now", at(now).isoformat(), "--log-format", "json"],
        catch_exceptions=False, env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    server = started_stand_in(ALERTS, STATE)
    yield server
    server.stop()


def es_late_project(
    tmp_path: Path, fake: FakeElasticsearch, mp: pytest.MonkeyPatch, override: bool
) -> None:
    job = es_job(ALERTS, STATE, extra='max_wait = "0s"')
    es_project(tmp_path, fake.url, mp, job, {"rule.toml": rule(override)})


@pytest.mark.parametrize("override", [True, False])
def test_elasticsearch_late_event_alerted_by_ingest_time(
    tmp_path: Path, fake: FakeElasticsearch, monkeypatch: pytest.MonkeyPatch, override: bool
) -> None:
    es_late_project(tmp_path, fake, monkeypatch, override)
    fake.add_events("logs-test-a", [event("early", "02:40", "02:40", "cmd.exe")])
    assert "0 new alert(s)" in run("03:00")  # checkpoint 02:59:30
    fake.add_events("logs-test-a", [event("late", "02:50", "03:03", "whoami.exe")])
    out = run("03:05")
    if override:  # selected by event.ingested: inside the 03:05 run's window
        assert "1 new alert(s)" in out
        assert "0 new alert(s)" in run("03:10")  # once
    else:  # the control: without the override the rule selects by @timestamp and misses it
        assert "0 new alert(s)" in out


def local_project(tmp_path: Path, mp: pytest.MonkeyPatch, override: bool) -> Path:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "rule.toml").write_text(rule(override))
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "local.toml").write_text("""
[job]
id = "local"
schedule = { interval = "5m" }
rules = { paths = ["queries/*.toml"] }
look_back = "1h"
max_wait = "0s"
source = { backend = "local", paths = ["data/*.ndjson"] }
""")
    (tmp_path / "data").mkdir()
    mp.chdir(tmp_path)
    return tmp_path / "data"


def append(path: Path, *docs: dict[str, object]) -> None:
    with path.open("ab") as fh:
        for doc in docs:
            fh.write(orjson.dumps({k: v for k, v in doc.items() if k != "_id"}) + b"\n")


def alerts(root: Path) -> list[dict[str, object]]:
    path = root / "out" / "alerts.ndjson"
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("override", "ingested"), [(True, "03:03"), (False, "03:03"), (True, None), (False, None)]
)
def test_local_late_line_alerted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: bool, ingested: str | None
) -> None:
    """The transcript on local files: with event.ingested (override rule) or without it
    (the arrival clock: the line first seen by the 03:05 run arrives at 03:00)."""
    data = local_project(tmp_path, monkeypatch, override)
    append(data / "logs-test-host.ndjson", event("a", "02:40", None, "cmd.exe"))
    assert "0 new alert(s)" in run("03:00")
    append(data / "logs-test-host.ndjson", event("b", "02:50", ingested, "whoami.exe"))
    out = run("03:05")
    assert "1 new alert(s)" in out
    # Said what was late: the line first seen now arrived 10 min after it happened.
    assert "late events: 1 first seen this run" in out
    assert "largest delay 600s; logs-test-host.ndjson 1" in out
    report = orjson.loads((tmp_path / "out" / "runs.ndjson").read_bytes().splitlines()[-1])
    run_doc = report["eqlwatch"]["run"]
    assert (run_doc["late_events"], run_doc["late_max_delay_s"]) == (1, 600.0)
    assert run_doc["late_hits"] == 1
    assert "0 new alert(s)" in run("03:10")
    assert len(alerts(tmp_path)) == 1
    assert (tmp_path / "state" / "arrivals-local.json").is_file()


def test_local_file_dropped_in_late_is_alerted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host's buffered file copied in an hour late, then rotated (renamed): evaluated
    once, by the first run that sees it; the rename brings nothing new."""
    data = local_project(tmp_path, monkeypatch, False)
    append(data / "logs-test-a.ndjson", event("a", "02:40", None, "cmd.exe"))
    assert "0 new alert(s)" in run("03:00")
    append(
        data / "logs-test-laptop.ndjson",
        *(event(f"w{i}", f"01:5{i}", None, "whoami.exe") for i in range(3)),
    )
    assert "3 new alert(s)" in run("03:05")
    (data / "logs-test-laptop.ndjson").rename(data / "logs-test-laptop-old.ndjson")
    out = run("03:10")
    assert "0 new alert(s)" in out
    assert len(alerts(tmp_path)) == 3
