"""`hunt` honours a rule's `[eqlwatch] max_samples_per_key`, as a scheduled run sends it to
Elasticsearch: the same rule over the same file yields the samples it allows."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from tests.rules.conftest import minimal_rule

SAMPLE = "sample by host.name [process where true] [process where true]"


def _hunt(tmp_path: Path, per_key: int) -> list[dict[str, object]]:
    rules = tmp_path / f"rules-{per_key}"
    rules.mkdir()
    text = minimal_rule("s").replace('process where process.name : "regsvr32.exe"', SAMPLE)
    if per_key != 1:
        text += f"\n[eqlwatch]\nmax_samples_per_key = {per_key}\n"
    (rules / "sample.toml").write_text(text)
    events = tmp_path / "events.ndjson"
    events.write_bytes(b"".join(
        orjson.dumps({"@timestamp": f"2026-01-01T00:00:0{i}Z", "event": {"category": "process"},
                      "host": {"name": "h1"}, "process": {"pid": i}}) + b"\n"
        for i in range(6)
    ))  # fmt: skip
    args = ["hunt", "--rules", str(rules), "--format", "ndjson", "--no-progress", str(events)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.stderr
    return [orjson.loads(line) for line in result.stdout.splitlines() if line]


def test_hunt_yields_the_samples_a_rule_allows_per_key(tmp_path: Path) -> None:
    assert len(_hunt(tmp_path, 1)) == 1
    alerts = _hunt(tmp_path, 3)
    assert len(alerts) == 3
    distinct = {orjson.dumps(a["eqlwatch"]["events"]) for a in alerts}  # type: ignore[index]
    assert len(distinct) == 3


def test_a_sample_of_events_without_timestamps_alerts_instead_of_crashing(
    tmp_path: Path, repo_root: Path
) -> None:
    """A `sample` needs no timestamp (as in Elasticsearch); hunt ordered its hits by
    completion time and crashed on such a hit with a traceback."""
    events = tmp_path / "untimed.ndjson"
    start = {"event": {"category": "process", "type": "start"},
             "process": {"name": "regsvr32.exe", "entity_id": "e1"}}  # fmt: skip
    connect = {"event": {"category": "network"}, "destination": {"ip": "8.8.8.8"},
               "process": {"name": "regsvr32.exe", "entity_id": "e1"}}  # fmt: skip
    events.write_bytes(orjson.dumps(start) + b"\n" + orjson.dumps(connect) + b"\n")
    args = ["hunt", "--rules", str(repo_root / "queries"), "--format", "ndjson",
            "--no-progress", str(events)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0, result.stderr
    alerts = [orjson.loads(line) for line in result.stdout.splitlines() if line]
    assert [a["rule"]["name"] for a in alerts] == ["Network Connection via Registration Utility"]
