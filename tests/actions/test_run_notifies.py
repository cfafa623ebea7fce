"""`eqlwatch run --once` with actions: alerts first, then their messages, none lost or repeated."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data
from tests.actions.receiver import receiver

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _project(tmp_path: Path, repo_root: Path, action: str) -> Path:
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, tmp_path / name)
    write_demo_data(tmp_path / "data" / "demo", end=NOW - timedelta(minutes=1))
    job = tmp_path / "jobs" / "default.toml"
    job.write_text(job.read_text() + "\n" + action)
    return tmp_path


def _run(when: datetime) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["run", "--once", "--now", when.isoformat()],
        catch_exceptions=False,
        env={"COLUMNS": "200"},
    )
    return result.exit_code, result.output


def _alert_ids(project: Path) -> set[str]:
    lines = (project / "out" / "alerts.ndjson").read_bytes().splitlines()
    return {orjson.loads(line)["eqlwatch"]["alert_id"] for line in lines}


def test_every_alert_is_announced_once_even_when_the_target_was_down(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiver() as dead:
        dead_port = dead.port
    action = (
        "[[job.actions]]\n"
        'name = "soc-hook"\ntype = "webhook"\nurl = "http://127.0.0.1:${HOOK_PORT}/hook"\n'
        'retry_backoff = "1ms"\n'
    )
    project = _project(tmp_path, repo_root, action)
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOOK_PORT", str(dead_port))
    code, out = _run(NOW)
    alerts = _alert_ids(project)
    assert alerts  # the alerts were written although nobody could be told
    assert "0 sent" in out
    assert f"{len(alerts)} to retry" in out
    with receiver() as rx:
        monkeypatch.setenv("HOOK_PORT", str(rx.port))
        code, out = _run(NOW + timedelta(minutes=10))
        assert code == 0, out
        code, out = _run(NOW + timedelta(minutes=20))
    assert code == 0
    announced = [r.json()["alerts"][0]["id"] for r in rx.received]
    assert sorted(announced) == sorted(alerts)  # each alert once, none lost
