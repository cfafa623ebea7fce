"""`eqlwatch run --once`, `backfill` and `hunt`, end to end through the CLI."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Path:
    """A copy of the project's rules, templates and default job, with demo data ending NOW."""
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, tmp_path / name)
    write_demo_data(tmp_path / "data" / "demo", end=NOW - timedelta(minutes=1))
    return tmp_path


def _run(project: Path, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(app, [*args], catch_exceptions=False, env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _alerts(project: Path) -> list[dict[str, object]]:
    path = project / "out" / "alerts.ndjson"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_run_once_alerts_on_demo_attacks_and_not_twice(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    code, out = _run(project, "run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    alerts = _alerts(project)
    hosts = {a["host"]["name"] for a in alerts}  # type: ignore[index]
    assert {"WS-FIN-014", "WS-HR-007", "SRV-APP-03", "WS-ENG-202"} <= hosts
    assert all(a["event"]["kind"] == "alert" for a in alerts)  # type: ignore[index]
    assert all(a["eqlwatch"]["note"].startswith("# ") for a in alerts)  # type: ignore[index]
    assert f"{len(alerts)} new alert(s)" in out
    # Same time again: nothing new; later: nothing new either (no new events).
    code, out = _run(project, "run", "--once", "--now", NOW.isoformat())
    assert code == 0
    assert "0 new alert(s)" in out
    code, out = _run(project, "run", "--once", "--now", (NOW + timedelta(hours=2)).isoformat())
    assert "0 new alert(s)" in out
    assert len(_alerts(project)) == len(alerts)
    # The data ends at NOW - 1m: windows past it waited max_wait (15m) for the source, then
    # were evaluated anyway, the lag said in the summary.
    state = orjson.loads((project / "state" / "state.json").read_bytes())
    assert all(v.startswith("2026-11-21T13:44:30") for v in state["checkpoints"].values())
    assert "waiting for data after" in out
    last = [orjson.loads(x) for x in (project / "out" / "runs.ndjson").read_bytes().splitlines()]
    run = last[-1]["eqlwatch"]["run"]
    assert run["source_lag_s"] > 6000  # the data ended ~2h before the window
    assert any(
        "past the source's newest event (max_wait 0:15:00 passed)" in n for n in run["notes"]
    )


def test_backfill_rewrites_nothing_and_keeps_checkpoints(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    _run(project, "run", "--once", "--now", NOW.isoformat())
    before = (project / "state" / "state.json").read_bytes()
    count = len(_alerts(project))
    start = (NOW - timedelta(hours=2)).isoformat()
    code, out = _run(project, "backfill", "--from", start, "--to", NOW.isoformat())
    assert code == 0, out
    assert "0 new alert(s)" in out
    assert len(_alerts(project)) == count
    assert (project / "state" / "state.json").read_bytes() == before


def test_broken_rule_is_reported_and_the_others_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    (project / "queries" / "broken.toml").write_text(
        '[rule]\nrule_id = "x"\nname = "broken"\ndescription = "d"\ntype = "eql"\n'
        "risk_score = 10\nseverity = \"low\"\nquery = 'process where process.name == '\n"
    )
    code, out = _run(project, "run", "--once", "--now", NOW.isoformat())
    assert code == 1
    assert "broken.toml" in out
    assert "[rule.query]" in out  # the field `validate` names for the same error
    assert len(_alerts(project)) > 5


def test_now_requires_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    code, out = _run(project, "run", "--now", NOW.isoformat())
    assert code == 2
    assert "--now" in out


def test_hunt_ndjson_on_evtx(
    data_dir: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)
    evtx = data_dir / "evtx-attack-samples/evtx/Execution"
    code, out = _run(
        repo_root, "hunt", "--rules", "queries", "--format", "ndjson", "--no-progress", str(evtx)
    )
    assert code == 0, out
    docs = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    lines = [d["process"]["command_line"] for d in docs if "process" in d]
    assert any("pastebin.com/raw/H4A4iDTA" in c for c in lines)
    assert any("jabber" in c.lower() for c in lines)
    assert all(d["eqlwatch"]["note"] for d in docs)


def test_hunt_table_prints_notes(
    data_dir: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)
    evtx = data_dir / "evtx-attack-samples/evtx/Execution"
    code, out = _run(repo_root, "hunt", "--rules", "queries", "--no-progress", str(evtx))
    assert code == 0
    assert "Regsvr32 Scriptlet Execution" in out
    assert "Questions for analysis" in out


def test_hunt_ndjson_demo_reports_malformed_lines_and_alerts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    data = project / "data" / "demo"
    process = next(data.glob("logs-endpoint.events.process-*.ndjson"))
    lines = process.read_bytes().splitlines()
    process.write_bytes(b"\n".join([lines[0], b'{"truncated": ', *lines[1:]]) + b"\n")
    code, out = _run(project, "hunt", "--rules", "queries", "--format", "ndjson", str(data))
    assert code == 0, out
    docs = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(d["rule"]["name"].startswith("Regsvr32 Scriptlet Execution") for d in docs)
    assert len({d["rule"]["id"] for d in docs}) >= 3
    assert f"{process}:2" in out.replace("\n", "")
    assert "1 malformed skipped" in out


def test_health_reads_the_heartbeat(tmp_path: Path) -> None:
    from eqlwatch.heartbeat import beat

    path = tmp_path / "hb"
    code, out = _run(tmp_path, "health", "--heartbeat", str(path))
    assert code == 1
    assert "no heartbeat" in out
    beat(path, datetime.now(UTC) - timedelta(hours=2))
    code, out = _run(tmp_path, "health", "--heartbeat", str(path), "--max-age", "30m")
    assert code == 1
    assert "limit" in out
    beat(path, datetime.now(UTC))
    code, out = _run(tmp_path, "health", "--heartbeat", str(path), "--max-age", "30m")
    assert code == 0, out


FILES_JOB = """
[job]
id = "files"
schedule = { interval = "5m" }
indices = ["logs-endpoint.events.*", "logs-windows.sysmon_operational-*"]
rules = { paths = ["queries/*.toml"] }
ingest_delay = "30s"
max_wait = "15m"

[job.source]
backend = "local"
paths = ["incoming/*.ndjson"]
"""


def _state(project: Path) -> dict[str, str]:
    path = project / "state" / "state.json"
    if not path.exists():
        return {}
    checkpoints: dict[str, str] = orjson.loads(path.read_bytes())["checkpoints"]
    return checkpoints


def test_a_glob_matching_nothing_fails_the_run_and_holds_the_checkpoint(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9: files absent -> 0 events read, checkpoints advanced, alerts lost for good."""
    monkeypatch.chdir(project)
    (project / "jobs" / "default.toml").unlink()
    (project / "jobs" / "files.toml").write_text(FILES_JOB)
    code, out = _run(project, "run", "--once", "--now", NOW.isoformat())
    assert code == 1, out
    assert "no-data" in out
    assert "incoming/*.ndjson: no file matches" in out
    held = _state(project)
    assert held  # the history's start is recorded: nothing before it is skipped later
    assert all(v.startswith("2026-11-21T11:00:00") for v in held.values())
    later = NOW + timedelta(minutes=10)
    code, out = _run(project, "run", "--once", "--now", later.isoformat())
    assert code == 1
    assert _state(project) == held
    assert not _alerts(project)
    # The files arrive (late, as copies of the demo data): the next run alerts on them all.
    (project / "incoming").mkdir()
    for file in (project / "data" / "demo").glob("*.ndjson"):
        shutil.copy(file, project / "incoming" / file.name)
    code, out = _run(project, "run", "--once", "--now", later.isoformat())
    assert code == 0, out
    hosts = {a["host"]["name"] for a in _alerts(project)}  # type: ignore[index]
    assert hosts == {"WS-FIN-014", "WS-HR-007", "SRV-APP-03", "WS-ENG-202"}
    assert all(v > held[k] for k, v in _state(project).items())


def test_a_rule_whose_lease_is_held_elsewhere_exits_3_and_says_which(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eqlwatch.backends.local_state import LocalStateStore
    from eqlwatch.rules import load_rules

    monkeypatch.chdir(project)
    rule = next(r for r in load_rules([project / "queries"]).rules if r.eqlwatch.enabled)
    state = LocalStateStore(project / "state" / "state.json")
    assert state.acquire_lease(f"default/{rule.rule_id}", "replica-b", datetime.now(UTC), 600)
    code, out = _run(project, "run", "--once", "--now", NOW.isoformat())
    assert code == 3, out
    assert f"skipped {rule.name}: another replica holds its lease" in out.replace("\n", " ")
    assert _alerts(project)  # the other rules ran
    (project / "queries" / "broken.toml").write_text("[rule]\nrule_id = 'x'\n")
    code, out = _run(project, "run", "--once", "--now", NOW.isoformat())
    assert code == 1  # a failure outranks a lease held elsewhere


def test_an_invalid_job_file_beside_a_valid_one_fails_the_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    (project / "jobs" / "typo.toml").write_text('[job]\nid = "typo"\nschedule = {}\n')
    code, out = _run(project, "run", "--once", "--now", NOW.isoformat())
    assert code == 1
    assert "job not loaded" in out
    assert "typo.toml" in out
    assert _alerts(project)  # the valid job still ran


def test_backfill_from_after_to_is_a_clean_usage_error(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(
        app,
        ["backfill", "--from", NOW.isoformat(), "--to", (NOW - timedelta(hours=1)).isoformat()],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "must be before --to" in result.output
    assert not (project / "out").exists()


def test_exit_codes_are_documented_in_help() -> None:
    for command in ("run", "backfill", "hunt"):
        result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        text = " ".join(result.output.split())
        assert "Exit codes" in text or "exit 0" in text, command
        assert "2 bad options" in text or "2 on bad options" in text, command


def test_hunt_with_a_missing_input_exits_1_and_does_not_call_it_malformed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    data = project / "data" / "demo"
    code, out = _run(
        project,
        "hunt", "--rules", "queries", "--format", "ndjson", "--no-progress",
        str(data / "nope.ndjson"), str(project / "elsewhere" / "*.evtx"), str(data),
    )  # fmt: skip
    assert code == 1
    text = " ".join(out.split())
    assert "0 malformed skipped, 2 input(s) not read" in text
    assert "nope.ndjson: no such file or directory" in text
    assert "*.evtx: no file matches" in text
    assert any(line.startswith("{") for line in out.splitlines())  # the rest was hunted


def test_a_job_whose_backends_cannot_open_does_not_stop_the_others(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    for name in ("ELASTICSEARCH_URL", "ELASTICSEARCH_CLOUD_ID"):
        monkeypatch.delenv(name, raising=False)
    (project / "jobs" / "cluster.toml").write_text(
        '[job]\nid = "cluster"\nschedule = { interval = "5m" }\n'
        'source = { backend = "elasticsearch" }\n'
    )
    code, out = _run(project, "run", "--once", "--now", NOW.isoformat())
    assert code == 1, out
    assert "job cluster" in out
    assert "ELASTICSEARCH_URL" in out
    assert _alerts(project)  # the default job ran


def test_one_shot_commands_leave_what_is_alive_frozen_for_exit(
    project: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interpreter's collection at exit walked every module, rule and matcher alive
    (0.14-0.17 s CPU of a ~0.6 s `run --once` or ~1 s `hunt`): one-shot commands freeze
    what is alive once their work is done, so that pass skips it. The daemon does not."""
    import gc

    monkeypatch.chdir(project)
    evtx = repo_root / "tests/data/evtx-attack-samples/evtx"
    commands = [
        ["run", "--once", "--now", NOW.isoformat()],
        ["hunt", "--rules", "queries", "--format", "ndjson", "--no-progress", str(evtx)],
        ["query", "process where true", "--events", str(project / "data" / "demo")],
    ]
    try:
        for command in commands:
            gc.unfreeze()
            code, out = _run(project, *command)
            assert code == 0, out
            assert gc.get_freeze_count() > 0, command
    finally:
        gc.unfreeze()
