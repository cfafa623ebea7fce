"""The local files' guarantees where users meet them: through `eqlwatch`, in real processes."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=20)


def _copy_project(target: Path, repo_root: Path) -> Path:
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, target / name)
    return target


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Path:
    """The project's rules, templates and default job, with demo data ending NOW."""
    _copy_project(tmp_path, repo_root)
    write_demo_data(tmp_path / "data" / "demo", end=NOW - timedelta(minutes=1))
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args], catch_exceptions=False, env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _alert_ids(project: Path, out: str = "out") -> list[str]:
    ids = []
    for line in (project / out / "alerts.ndjson").read_bytes().splitlines():
        if line.strip():
            try:
                ids.append(orjson.loads(line)["eqlwatch"]["alert_id"])
            except orjson.JSONDecodeError:
                continue
    return ids


def _state(project: Path) -> dict[str, dict[str, object]]:
    state: dict[str, dict[str, object]] = orjson.loads(
        (project / "state" / "state.json").read_bytes()
    )
    return state


def test_blank_and_garbage_lines_mid_file_lose_no_alert(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    before = _alert_ids(project)
    assert len(before) >= 10
    path = project / "out" / "alerts.ndjson"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:2], b"\n", *lines[2:6], b"{oops\n", *lines[6:]]))
    # A later run (checkpoints move on) and a backfill over the whole period (replays all).
    code, out = _run("run", "--once", "--now", LATER.isoformat())
    assert code == 0, out
    code, out = _run(
        "backfill", "--from", (NOW - timedelta(hours=1)).isoformat(), "--to", NOW.isoformat()
    )
    assert code == 0, out
    assert "0 new alert(s)" in out
    assert _alert_ids(project) == before  # all kept, none twice, same order
    assert path.read_bytes().splitlines()[2] == b""  # the bad lines stay for a person to see
    assert path.read_bytes().splitlines()[7] == b"{oops"


def test_damaged_state_file_keeps_the_checkpoints(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    assert _run("run", "--once", "--now", NOW.isoformat())[0] == 0
    checkpoints = _state(project)["checkpoints"]
    state_file = project / "state" / "state.json"
    state_file.write_bytes(state_file.read_bytes()[:50])  # e.g. a copy cut short
    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    assert "0 new alert(s)" in out
    assert _state(project)["checkpoints"] == checkpoints  # not reset to "no checkpoint"


def _eqlwatch(project: Path, *args: str) -> subprocess.Popen[bytes]:
    """The real CLI in its own process; its stderr (the logs) goes to a file in `project`."""
    with (project / f"stderr-{time.monotonic_ns()}.log").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "eqlwatch", *args],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _last_statuses(project: Path) -> list[str]:
    """The status of each rule in the last run report (out/runs.ndjson)."""
    lines = (project / "out" / "runs.ndjson").read_bytes().splitlines()
    runs = [orjson.loads(line)["eqlwatch"]["run"] for line in lines]
    return [r["status"] for r in runs if r["run_id"] == runs[-1]["run_id"]]


def _logs(project: Path) -> str:
    return "\n".join(p.read_text()[-2000:] for p in sorted(project.glob("stderr-*.log")))


def test_kill_9_then_run_once_runs_every_rule_at_once(
    project: Path, tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    proc = _eqlwatch(project, "run", "--once", "--now", NOW.isoformat())
    state_file = project / "state" / "state.json"
    deadline = time.monotonic() + 60
    held: dict[str, object] = {}
    try:
        while not held and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
            try:
                held = orjson.loads(state_file.read_bytes()).get("leases", {})
            except (FileNotFoundError, orjson.JSONDecodeError):
                continue
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert held, "never saw a lease held"
    left = _state(project)["leases"]
    assert left, "the killed run left no lease: nothing tested"
    assert {lease["pid"] for lease in left.values()} == {proc.pid}  # type: ignore[index]

    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    statuses = _last_statuses(project)
    assert "skipped" not in statuses
    assert len(statuses) == len(_state(project)["checkpoints"])
    assert _state(project)["leases"] == {}
    # Where a run never interrupted ends: the same checkpoints, the same alerts.
    clean = _copy_project(tmp_path / "clean", repo_root)
    shutil.copytree(project / "data", clean / "data")
    monkeypatch.chdir(clean)
    assert _run("run", "--once", "--now", NOW.isoformat())[0] == 0
    assert _state(project)["checkpoints"] == _state(clean)["checkpoints"]
    assert sorted(_alert_ids(project)) == sorted(_alert_ids(clean))


def _split_job(project: Path) -> None:
    """Jobs a and b: the default job, each with its own alerts and state (data/demo shared)."""
    default = project / "jobs" / "default.toml"
    text = default.read_text()
    default.unlink()
    for name in ("a", "b"):
        job = text.replace('id = "default"', f'id = "{name}"')
        job = job.replace("out/alerts.ndjson", f"out-{name}/alerts.ndjson")
        job = job.replace("state/state.json", f"state-{name}/state.json")
        (project / "jobs" / f"{name}.toml").write_text(job)


@pytest.mark.slow
def test_concurrent_first_runs_both_see_all_demo_data(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _copy_project(tmp_path / "reference", repo_root)
    monkeypatch.chdir(reference)
    assert _run("run", "--once", "--now", NOW.isoformat())[0] == 0  # alone: writes the demo
    expected = sorted(_alert_ids(reference))
    assert expected
    rng = random.Random(9)
    for trial in range(2):
        project = _copy_project(tmp_path / f"trial{trial}", repo_root)
        _split_job(project)
        args = ("run", "--once", "--now", NOW.isoformat(), "--jobs")
        first = _eqlwatch(project, *args, "jobs/a.toml")
        time.sleep(rng.uniform(0.0, 1.5))  # the second starts somewhere in the first's write
        second = _eqlwatch(project, *args, "jobs/b.toml")
        for proc in (first, second):
            assert proc.wait(timeout=120) == 0, _logs(project)
        for name in ("a", "b"):
            ids = sorted(_alert_ids(project, f"out-{name}"))
            assert ids == expected, f"trial {trial}, job {name}: {len(ids)} of {len(expected)}"
        assert not list((project / "data").glob(".*.tmp"))  # no staging folder left behind


@pytest.mark.parametrize(
    "command",
    [
        ("run", "--once", "--now", NOW.isoformat()),
        ("backfill", "--from", (NOW - timedelta(hours=1)).isoformat(), "--to", NOW.isoformat()),
    ],
)
def test_sigterm_releases_the_lease(project: Path, command: tuple[str, ...]) -> None:
    proc = _eqlwatch(project, *command)
    state_file = project / "state" / "state.json"
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
            try:
                if orjson.loads(state_file.read_bytes()).get("leases"):
                    proc.send_signal(signal.SIGTERM)
                    break
            except (FileNotFoundError, orjson.JSONDecodeError):
                continue
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert code == 143, f"exit {code}: ended before SIGTERM, or died of it\n{_logs(project)}"
    assert _state(project)["leases"] == {}
