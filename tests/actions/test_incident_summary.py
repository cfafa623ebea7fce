"""Summary messages gather alerts by `eqlwatch.group.id`: `run --once` on the demo data
sends one message per run that says "one incident, N rules" per host and time cell."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data
from tests.actions.receiver import receiver

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_a_summary_lists_incidents_each_with_its_rules(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, tmp_path / name)
    write_demo_data(tmp_path / "data" / "demo", end=NOW - timedelta(minutes=1))
    job = tmp_path / "jobs" / "default.toml"
    text = job.read_text().replace('kibana_url = "', 'group_span = "2h"\nkibana_url = "')
    assert "group_span" in text
    job.write_text(
        text + "\n[[job.actions]]\n"
        'name = "digest"\ntype = "webhook"\nurl = "http://127.0.0.1:${PORT}/digest"\n'
        'when = "summary"\n'
        "[[job.actions]]\n"
        'name = "chat"\ntype = "apprise"\nurl = "json://127.0.0.1:${PORT}/chat"\n'
        'when = "summary"\n'
    )
    monkeypatch.chdir(tmp_path)
    with receiver() as rx:
        monkeypatch.setenv("PORT", str(rx.port))
        result = CliRunner().invoke(
            app, ["run", "--once", "--now", NOW.isoformat()], catch_exceptions=False
        )
    assert result.exit_code == 0, result.output
    docs = [orjson.loads(x) for x in (tmp_path / "out" / "alerts.ndjson").read_bytes().splitlines()]
    expected: dict[str, set[str]] = defaultdict(set)
    for doc in docs:
        group = doc["eqlwatch"]["group"]  # every demo alert has a host: every one is grouped
        assert group["by"] in ("host.id", "host.name")
        expected[group["id"]].add(doc["rule"]["name"])
    digest = next(r for r in rx.received if r.path.startswith("/digest")).json()
    assert digest["count"] == len(docs)
    got = {i["group"]: set(i["rules"]) for i in digest["incidents"]}
    assert got == expected
    assert sum(len(i["alerts"]) for i in digest["incidents"]) == len(docs)
    assert max(len(rules) for rules in got.values()) >= 3  # one incident, three rules
    assert len(got) < len(docs)
    chat = next(r for r in rx.received if r.path.startswith("/chat")).json()
    assert chat["title"] == f"[eqlwatch] {len(docs)} alerts, {len(got)} incident(s), job default"
    assert f"{len(got)} incident(s):" in chat["message"]
