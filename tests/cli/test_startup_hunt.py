"""What a warm `hunt` pays before it reads an event, in a fresh interpreter.

A hunt whose rules come from the cache and which finds nothing must not import enrichment,
build the rule models' validators (pydantic's schema build and plugin scan: ~30-45 ms),
set up structlog (~45 ms with what it imports) or make a full collection while importing
(the imports' ~85,000 objects walked again: 20-35 ms). A cold cache still works and gives
the same output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from tests.console_probe import RUN_MAIN

# Runs `eqlwatch ARGS...` as the console script does, then reports what it cares about.
_PROBE = (
    """
import gc, json, os, sys
"""
    + RUN_MAIN
    + """from eqlwatch.rules.model import Rule
report = {
    "structlog": "structlog" in sys.modules,
    "enrichment": "eqlwatch.enrich" in sys.modules,
    "plugin_scan": "pydantic.plugin._loader" in sys.modules,
    "rule_validator_built": bool(Rule.__pydantic_complete__),
    "full_collections": gc.get_stats()[2]["collections"],
}
with open(os.environ["EQLWATCH_TEST_REPORT"], "w") as out:
    json.dump(report, out)
sys.exit(code)
"""
)

EVENT = {
    "@timestamp": "2026-01-01T00:00:00Z",
    "event": {"category": "process"},
    "process": {"name": "x.exe"},
}


def _hunt(tmp_path: Path, cache: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    env = {**os.environ, "EQLWATCH_CACHE_DIR": str(cache), "EQLWATCH_TEST_REPORT": str(report)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "hunt", "--no-progress", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    return done, json.loads(report.read_text())


def test_a_warm_hunt_builds_no_validator_sets_up_no_logging_and_makes_no_full_collection(
    tmp_path: Path, repo_root: Path
) -> None:
    events = tmp_path / "one.ndjson"
    events.write_bytes(orjson.dumps(EVENT) + b"\n")
    cache = tmp_path / "cache"
    args = ["--rules", str(repo_root / "queries"), str(events)]
    cold, first = _hunt(tmp_path, cache, *args)
    assert cold.returncode == 0, cold.stderr
    assert first["rule_validator_built"]  # the rule files were validated: nothing kept yet
    warm, report = _hunt(tmp_path, cache, *args)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == cold.stdout
    assert "1 events" in warm.stderr
    assert "8 rules, 0 alerts" in warm.stderr
    assert report == {
        "structlog": False,
        "enrichment": False,
        "plugin_scan": False,
        "rule_validator_built": False,
        "full_collections": 0,
    }


def test_a_hunt_that_alerts_and_logs_still_logs(tmp_path: Path, repo_root: Path) -> None:
    """structlog is set up lazily: a note that fails still logs its line, as JSON on a file."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "bad.md.j2").write_text("{{ 1 / 0 }}")
    rule = (repo_root / "queries" / "regsvr32_renamed.toml").read_text()
    rule = rule.replace('template = "regsvr32_renamed.md.j2"', 'template = "bad.md.j2"')
    assert 'template = "bad.md.j2"' in rule
    (tmp_path / "rules" / "r.toml").write_text(rule)
    event = {
        "@timestamp": "2026-01-01T00:00:00Z",
        "event": {"category": "process", "type": "start"},
        "host": {"name": "ws-1", "os": {"type": "windows"}},
        "process": {
            "name": "renamed.exe",
            "pe": {"original_file_name": "REGSVR32.EXE"},
            "command_line": "renamed.exe /s x.dll",
        },
    }
    events = tmp_path / "e.ndjson"
    events.write_bytes(orjson.dumps(event) + b"\n")
    done, report = _hunt(tmp_path, tmp_path / "cache", "--rules", "rules", str(events))
    assert done.returncode == 0, done.stderr
    assert "1 alerts, 1 note errors" in done.stderr
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any("bad.md.j2" in json.dumps(line) for line in logged), done.stderr
    assert report["structlog"]
