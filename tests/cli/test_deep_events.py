"""An event with one field nested past what orjson writes (254 levels) or msgspec reads
(~1,000): it parsed and matched, then killed `hunt` and `query` that named or wrote it,
and failed every run of a job's rules with it in their window (checkpoints held, so
every later run failed the same way). Each command now alerts on it like any other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from eqlwatch.depth import room
from tests.cli.local_job import run_once, stamp

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/fixtures/rulepack/defend-regsvr32-renamed.ndjson"  # 1 alert
DEPTHS = [300, 1010]  # past orjson's writer; past msgspec's reader too


def padded(event: dict[str, object], depth: int) -> bytes:
    """`event` as one NDJSON line with a field `pad` nested `depth` arrays deep."""
    return orjson.dumps(event)[:-1] + b',"pad":' + b"[" * depth + b"]" * depth + b"}\n"


def eqlwatch(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", *args], capture_output=True, text=True, cwd=cwd,
        timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def event() -> dict[str, object]:
    first: dict[str, object] = json.loads(FIXTURE.read_text().splitlines()[0])
    return first


@pytest.mark.parametrize("depth", DEPTHS)
def test_hunt_alerts_on_a_deep_event(event: dict[str, object], depth: int, tmp_path: Path) -> None:
    data = tmp_path / "deep.ndjson"
    data.write_bytes(padded(event, depth))
    done = eqlwatch("hunt", "--rules", "queries", "--format", "ndjson", "--no-progress", str(data))
    assert done.returncode == 0, done.stderr
    (alert,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert alert["rule"]["name"] == "Renamed Regsvr32 Execution"


@pytest.mark.parametrize("depth", DEPTHS)
def test_query_answers_with_a_deep_event(
    event: dict[str, object], depth: int, tmp_path: Path
) -> None:
    data = tmp_path / "deep.ndjson"
    data.write_bytes(padded(event, depth))
    done = eqlwatch("query", 'process where process.name : "winupd.exe"', "--events", str(data))
    assert done.returncode == 0, done.stderr
    (hit,) = orjson.loads(done.stdout)["hits"]["events"]
    with room():  # comparing recurses as deep as the field nests
        assert orjson.loads(padded(event, depth))["pad"] == hit["_source"]["pad"]
    table = eqlwatch("query", "process where true", "--events", str(data), "--format", "table")
    assert table.returncode == 0, table.stderr


def test_a_job_alerts_on_deep_events_and_moves_on(event: dict[str, object], tmp_path: Path) -> None:
    files = {f"deep{depth}": padded({**event, "@timestamp": stamp(-10)}, depth) for depth in DEPTHS}
    done = run_once(tmp_path, files)
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = (tmp_path / "out" / "alerts.ndjson").read_text().splitlines()
    assert len(alerts) == len(DEPTHS)
