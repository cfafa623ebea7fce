"""Start-up: what `eqlwatch --help`, `--version` and a small `query` load, and what help says.

Each case runs the real console entry point in a fresh interpreter (a test process has
already imported everything) and reports which heavy top-level packages got imported.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from eqlwatch.cli.app import COMMANDS, app, load_command
from tests.console_probe import RUN_MAIN

HEAVY = (
    "apscheduler",
    "elasticsearch",
    "elastic_transport",
    "eql",
    "lark",
    "jinja2",
    "rich",
    "structlog",
    "pydantic",
    "hyperscan",
    "msgspec",
    "evtx",
    "sigma",
)

# Runs `eqlwatch ARGS...` through the same function the console script calls, then writes
# the heavy packages that ended up imported to the file named by EQLWATCH_TEST_MODULES.
_PROBE = (
    """
import json, os, sys
"""
    + RUN_MAIN
    + """wanted = json.loads(os.environ["HEAVY"])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(wanted))
heavy += sorted(m for m in sys.modules if m in wanted and "." in m)
with open(os.environ["EQLWATCH_TEST_MODULES"], "w") as out:
    json.dump(heavy, out)
sys.exit(code)
"""
)

RUNNER = CliRunner()

# One Sysmon process start as evtx-rs writes it (values made up for the tests).
SYSMON_START = {
    "System": {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
        "EventID": 1,
        "TimeCreated": {"#attributes": {"SystemTime": "2026-01-01T00:00:00Z"}},
        "EventRecordID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "ws1",
    },
    "EventData": {"Image": "C:\\Windows\\System32\\regsvr32.exe", "ProcessId": 10},
}


def _probe(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    return _probe_with(tmp_path, [], *args)


def _probe_with(
    tmp_path: Path, modules: list[str], *args: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`_probe`, also reporting which of `modules` (dotted names) were imported."""
    report = tmp_path / "modules.json"
    watched = json.dumps([*HEAVY, *modules])
    env = {**os.environ, "HEAVY": watched, "EQLWATCH_TEST_MODULES": str(report)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    loaded: list[str] = json.loads(report.read_text()) if report.exists() else ["<no report>"]
    return done, loaded


def test_root_help_imports_nothing_heavy(tmp_path: Path) -> None:
    done, loaded = _probe(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    assert loaded == []
    for name in COMMANDS:
        assert re.search(rf"^  {name}\s", done.stdout, re.MULTILINE), name


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    done, loaded = _probe(tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"eqlwatch {version('eqlwatch')}"
    assert loaded == []


def test_small_query_loads_no_client_scheduler_templates_or_terminal(tmp_path: Path) -> None:
    events = tmp_path / "tiny.ndjson"
    docs = [
        {"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process"}, "n": 1},
        {"@timestamp": "2026-01-01T00:00:01Z", "event": {"category": "network"}, "n": 2},
    ]
    events.write_text("".join(json.dumps(d) + "\n" for d in docs))
    done, loaded = _probe(tmp_path, "query", "process where true", "--events", str(events))
    assert done.returncode == 0, done.stderr
    assert [e["_source"]["n"] for e in json.loads(done.stdout)["hits"]["events"]] == [1]
    # The engine needs eql (and its lark parser); nothing else heavy is needed.
    # (typer from 0.29 on would import pydantic here: pinned below it, see pyproject.toml)
    assert set(loaded) <= {"eql", "lark"}, loaded


def test_hunt_over_toml_rules_loads_no_sigma_jobs_or_actions(
    tmp_path: Path, repo_root: Path
) -> None:
    """pySigma (~70 ms), the job/actions machinery (~0.1 s) and rich's Markdown (~30 ms)
    are not what a hunt over TOML rules needs (`python -X importtime`); alert building
    (notes, Jinja, enrichment: ~0.1 s) is not what a hunt that finds nothing needs."""
    events = tmp_path / "one.ndjson"
    events.write_text(json.dumps({**SYSMON_START, "EventData": {}}) + "\n")
    watched = [
        "eqlwatch.actions.dispatch",
        "eqlwatch.actions.messages",
        "eqlwatch.jobs",
        "eqlwatch.cli.common",
        "rich.markdown",
        "eqlwatch.pipeline.alerting",
        "jinja2",
    ]
    args = ["hunt", "--rules", str(repo_root / "queries"), "--no-progress", str(events)]
    done, loaded = _probe_with(tmp_path, watched, *args)
    assert done.returncode == 0, done.stderr
    assert "sigma" not in loaded
    assert not set(watched) & set(loaded), loaded
    sigma = repo_root / "tests" / "fixtures" / "sigma"
    done, loaded = _probe_with(tmp_path, watched, "hunt", "--rules", str(sigma), str(events))
    assert done.returncode == 0, done.stderr
    assert "sigma" in loaded  # a Sigma rule folder still loads through pySigma


def test_run_help_loads_no_client_or_scheduler(tmp_path: Path) -> None:
    done, loaded = _probe(tmp_path, "run", "--help")
    assert done.returncode == 0, done.stderr
    assert not {"apscheduler", "elasticsearch", "elastic_transport"} & set(loaded), loaded


def test_unknown_command_suggests_a_close_one(tmp_path: Path) -> None:
    done, loaded = _probe(tmp_path, "rnu")
    assert done.returncode == 2
    assert "No such command 'rnu'" in done.stderr
    assert "'run'" in done.stderr
    assert not {"eql", "rich", "structlog", "elasticsearch"} & set(loaded), loaded


@pytest.mark.parametrize("name", list(COMMANDS))
def test_root_summary_is_the_commands_own_first_line(name: str) -> None:
    command = load_command(name)
    own = (command.help or "").strip().splitlines()[0]
    assert COMMANDS[name].summary == own


def _help(*args: str) -> str:
    result = RUNNER.invoke(app, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_has_no_bool_metavar(name: str) -> None:
    text = _help(name)
    assert "<bool>" not in text
    assert "--help" in text


@pytest.mark.parametrize("name", ["run", "backfill", "setup", "load"])
def test_help_names_the_environment(name: str) -> None:
    text = _help(name)
    for variable in (
        "ELASTICSEARCH_URL",
        "ELASTICSEARCH_CLOUD_ID",
        "ELASTICSEARCH_API_KEY",
        "ELASTICSEARCH_USERNAME",
        "ELASTICSEARCH_PASSWORD",
        "ELASTICSEARCH_BEARER_TOKEN",
        "ELASTICSEARCH_CA_CERTS",
        "ELASTICSEARCH_VERIFY_CERTS",
        "ELASTICSEARCH_TIMEOUT",
        "KIBANA_URL",
        "NAME_FILE",
    ):
        assert variable in text, (name, variable)


@pytest.mark.parametrize("name", ["run", "backfill"])
def test_help_of_commands_that_notify_names_action_variables(name: str) -> None:
    text = " ".join(_help(name).split())
    assert "action URLs and headers name as ${NAME}" in text


def test_environment_help_lists_every_variable_settings_reads() -> None:
    from eqlwatch import settings

    source = Path(settings.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'env(?:\.get\(|\[|, )"([A-Z_]+)"', source))
    assert read  # the pattern still finds what settings_from_env reads
    assert {v for v in read if v not in settings.ENVIRONMENT_HELP} == set()


def test_every_command_module_registers_what_commands_lists() -> None:
    modules = {entry.module for entry in COMMANDS.values()}
    registered: set[str] = set()
    for module in modules:
        sub = typer.Typer()
        __import__(f"eqlwatch.cli.{module}", fromlist=["register"]).register(sub)
        registered |= set(typer.main.get_group(sub).commands)
    assert registered == set(COMMANDS)


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_logs_are_json_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    """`query` over a raw Windows export with a broken record: the reader's warning is one
    JSON line on stderr (however long), the answer on stdout stays clean JSON."""
    folder = tmp_path / ("a-long-folder-name-so-lines-pass-eighty-columns" * 2)
    folder.mkdir()
    events = folder / "sysmon.json"
    events.write_text(json.dumps(SYSMON_START) + "\n" + '{"System": [1, 2]}\n')
    done, loaded = _probe(tmp_path, "query", "process where true", "--events", str(events))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hits"]["total"]["value"] == 1
    logs = _json_lines(done.stderr)
    assert [line["event"] for line in logs] == ["skipped record"], done.stderr
    assert logs[0]["level"] == "warning"
    assert str(events) in logs[0]["error"]
    assert "structlog" in loaded  # logging was set up when the reader first logged


def test_messages_are_not_wrapped_when_stderr_is_a_file(tmp_path: Path) -> None:
    rules = tmp_path / ("rules-in-a-folder-with-a-name-long-enough-to-pass-eighty-columns" * 2)
    rules.mkdir()
    broken = rules / "broken.toml"
    broken.write_text('[rule]\nname = "no query"\n')
    events = tmp_path / "e.ndjson"
    events.write_text('{"@timestamp": 1, "event": {"category": "process"}}\n')
    done, _ = _probe(tmp_path, "hunt", "--rules", str(rules), str(events))
    assert done.returncode == 2
    lines = [x for x in done.stderr.splitlines() if x.startswith("rule not loaded")]
    assert lines, done.stderr
    assert all(str(broken) in line and len(line) > 120 for line in lines), lines


def test_logs_are_console_text_when_stderr_is_a_terminal(tmp_path: Path) -> None:
    pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX only")
    events = tmp_path / "sysmon.json"
    events.write_text(json.dumps(SYSMON_START) + "\n" + '{"System": [1, 2]}\n')
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "eqlwatch", "query", "any where true", "--events", str(events)],
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    terminal = b"".join(chunks).decode(errors="replace")
    assert done.returncode == 0
    assert "skipped record" in terminal
    assert not any(line.lstrip().startswith("{") for line in terminal.splitlines())
