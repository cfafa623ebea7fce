"""A UTF-8 byte-order mark (PowerShell's `Out-File -Encoding utf8BOM`, Notepad) at the start
of an NDJSON file: the first line's event was reported as malformed and lost."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.local_job import run_once, stamp

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/fixtures/rulepack/defend-regsvr32-renamed.ndjson"  # 1 alert
BOM = b"\xef\xbb\xbf"
FILLER = b'{"@timestamp":"2024-01-01T00:00:%02dZ","event":{"category":"process"},"n":%d}\n'


def eqlwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=300,
    )  # fmt: skip


def marked(tmp_path: Path, body: bytes, packed: bool) -> Path:
    path = tmp_path / ("events.ndjson.gz" if packed else "events.ndjson")
    path.write_bytes(gzip.compress(BOM + body) if packed else BOM + body)
    return path


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("lines", [3, 20_000])  # line by line, and in blocks (over 1 MiB)
def test_query_reads_the_first_line(tmp_path: Path, packed: bool, lines: int) -> None:
    body = b"".join(FILLER % (i % 60, i) for i in range(lines))
    done = eqlwatch("query", "process where n < 2", "--events", str(marked(tmp_path, body, packed)))
    assert done.returncode == 0, done.stderr
    assert "malformed" not in done.stderr
    assert [e["_source"]["n"] for e in json.loads(done.stdout)["hits"]["events"]] == [0, 1]


@pytest.mark.parametrize("packed", [False, True])
def test_hunt_alerts_on_the_first_line(tmp_path: Path, packed: bool) -> None:
    body = FIXTURE.read_bytes().splitlines(keepends=True)[0]
    path = marked(tmp_path, body, packed)
    done = eqlwatch("hunt", "--rules", "queries", "--format", "ndjson", "--no-progress", str(path))
    assert done.returncode == 0, done.stderr
    assert "1 events, 0 malformed skipped" in done.stderr
    (alert,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert alert["rule"]["name"] == "Renamed Regsvr32 Execution"


def test_a_job_alerts_on_the_first_line(tmp_path: Path) -> None:
    """`run` indexes plain NDJSON in place and reads events back by position."""
    event = {**json.loads(FIXTURE.read_bytes().splitlines()[0]), "@timestamp": stamp(-10)}
    done = run_once(tmp_path, {"default": BOM + json.dumps(event).encode() + b"\n"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "malformed" not in done.stdout + done.stderr
    (alert,) = (tmp_path / "out" / "alerts.ndjson").read_text().splitlines()
    assert json.loads(alert)["rule"]["name"] == "Renamed Regsvr32 Execution"
