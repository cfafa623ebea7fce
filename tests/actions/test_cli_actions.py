"""`eqlwatch actions test JOB` through the real CLI, against loopback receivers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.actions.receiver import receiver


def _job(tmp_path: Path, body: str) -> Path:
    (tmp_path / "jobs").mkdir()
    path = tmp_path / "jobs" / "notify.toml"
    path.write_text(
        '[job]\nid = "notify"\nschedule = { interval = "5m" }\n'
        '[job.source]\nbackend = "local"\npaths = ["data/*.ndjson"]\n' + body
    )
    return path


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=120,
    )


def test_actions_test_sends_one_sample_per_action_and_reports_failures(tmp_path: Path) -> None:
    secret = "tok-9f8e7d6c"
    with receiver() as rx:
        with receiver() as dead:
            dead_url = dead.url
        _job(
            tmp_path,
            "[[job.actions]]\n"
            'name = "hook"\ntype = "webhook"\nurl = "${HOOK_URL}"\n'
            'headers = { Authorization = "Bearer ${HOOK_TOKEN}" }\n'
            "[[job.actions]]\n"
            f'name = "chat"\ntype = "apprise"\nurl = "json://127.0.0.1:{rx.port}/chat"\n'
            "[[job.actions]]\n"
            f'name = "down"\ntype = "webhook"\nurl = "{dead_url}"\ntimeout = "2s"\n',
        )
        result = _cli(
            "actions",
            "test",
            "notify",
            env={"HOOK_URL": rx.url + "?secret=" + secret, "HOOK_TOKEN": secret},
            cwd=tmp_path,
        )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert any(line == "sent   hook (webhook ${HOOK_URL})" for line in lines)
    assert any(line.startswith("sent   chat (apprise json://127.0.0.1/") for line in lines)
    assert any(line.startswith("FAILED down") for line in lines)
    assert secret not in result.stdout + result.stderr
    paths = sorted(r.path.split("?")[0] for r in rx.received)
    assert paths == ["/chat", "/hook"]
    hook = next(r for r in rx.received if r.path.startswith("/hook"))
    assert hook.headers["Authorization"] == f"Bearer {secret}"
    assert hook.json()["alerts"][0]["rule"]["name"] == "eqlwatch actions test"


def test_a_job_without_actions_is_a_clear_error(tmp_path: Path) -> None:
    _job(tmp_path, "")
    result = _cli("actions", "test", "notify", env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "has no [[job.actions]]" in result.stderr


def test_a_bad_action_names_the_field(tmp_path: Path) -> None:
    _job(tmp_path, '[[job.actions]]\nname = "x"\ntype = "pager"\nurl = "http://x"\n')
    result = _cli("actions", "test", "notify", env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "job.actions" in result.stderr


def test_two_actions_of_one_name_are_refused(tmp_path: Path) -> None:
    action = '[[job.actions]]\nname = "x"\ntype = "webhook"\nurl = "http://x"\n'
    _job(tmp_path, action + action)
    result = _cli("actions", "test", "notify", env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "action names must be distinct within a job" in result.stderr
