"""Suppression through `eqlwatch run --once` on the demo data: one alert per host with
docs_count N - 1 where the same rule without suppression gives N alerts."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.backends.local_sink import current_documents
from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _project(root: Path, repo_root: Path) -> Path:
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, root / name)
    write_demo_data(root / "data" / "demo", end=NOW - timedelta(minutes=1))
    return root


def _run_once(project: Path, monkeypatch: pytest.MonkeyPatch, now: datetime = NOW) -> str:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(
        app, ["run", "--once", "--now", now.isoformat()], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def _alerts(project: Path) -> dict[str, dict[str, object]]:
    lines = (project / "out" / "alerts.ndjson").read_bytes().splitlines()
    return current_documents(lines)


def test_demo_rule_with_suppression_gives_one_alert_per_host(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _project(tmp_path / "plain", repo_root)
    _run_once(plain, monkeypatch)
    per_rule = Counter(a["eqlwatch"]["rule_id"] for a in _alerts(plain).values())  # type: ignore[index]
    rule_id, n = per_rule.most_common(1)[0]
    assert n >= 2, per_rule
    by_host = Counter(
        a["host"]["name"]  # type: ignore[index]
        for a in _alerts(plain).values()
        if a["eqlwatch"]["rule_id"] == rule_id  # type: ignore[index]
    )

    suppressed = _project(tmp_path / "suppressed", repo_root)
    (path,) = [
        p for p in (suppressed / "queries").glob("*.toml") if f'"{rule_id}"' in p.read_text()
    ]
    text = path.read_text()
    setting = 'suppression = { group_by = ["host.name"], duration = "30d" }\n'
    path.write_text(text.replace("[eqlwatch]\n", "[eqlwatch]\n" + setting, 1))
    _run_once(suppressed, monkeypatch)
    _run_once(suppressed, monkeypatch, NOW + timedelta(hours=2))  # nothing counted twice

    alerts = _alerts(suppressed)
    mine = [a for a in alerts.values() if a["eqlwatch"]["rule_id"] == rule_id]  # type: ignore[index]
    got = {
        a["kibana"]["alert"]["suppression"]["terms"][0]["value"][0]: (  # type: ignore[index]
            a["kibana"]["alert"]["suppression"]["docs_count"]  # type: ignore[index]
        )
        for a in mine
    }
    assert got == {host: count - 1 for host, count in by_host.items()}
    assert sum(got.values()) + len(got) == n
    assert len(mine) < n  # suppression did merge matches
    # The other rules are untouched.
    others = Counter(a["eqlwatch"]["rule_id"] for a in alerts.values())  # type: ignore[index]
    assert {r: c for r, c in others.items() if r != rule_id} == {
        r: c for r, c in per_rule.items() if r != rule_id
    }
    # The file holds each version as a line with the same id; the last one is current.
    raw = [
        orjson.loads(x) for x in (suppressed / "out" / "alerts.ndjson").read_bytes().splitlines()
    ]
    assert len(raw) >= len(alerts)
