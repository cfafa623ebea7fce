"""A job over event files written for a test, run once through the CLI as a user would."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def stamp(minutes_from_now: float) -> str:
    """An `@timestamp` that many minutes from now (negative: in the past)."""
    return (datetime.now(UTC) + timedelta(minutes=minutes_from_now)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )


def run_once(tmp_path: Path, files: dict[str, bytes]) -> subprocess.CompletedProcess[str]:
    """`eqlwatch run --once` with the example job over `files` (names under
    `logs-endpoint.events.process-`) and one later event, so the source holds the window
    the job's rules wait for. Alerts go to `tmp_path / "out" / "alerts.ndjson"`."""
    data = tmp_path / "data"
    data.mkdir()
    for name, body in files.items():
        (data / f"logs-endpoint.events.process-{name}.ndjson").write_bytes(body)
    later = {"@timestamp": stamp(5), "event": {"category": "process"}, "process": {"name": "x"}}
    (data / "logs-endpoint.events.process-zz-later.ndjson").write_bytes(orjson.dumps(later) + b"\n")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    text = (ROOT / "jobs" / "default.toml").read_text()
    text = text.replace('paths = ["data/demo/*.ndjson"]', f'paths = ["{data}/*.ndjson"]')
    text = text.replace("generate_demo = true", "generate_demo = false")
    text = text.replace('paths = ["queries/*.toml"]', f'paths = ["{ROOT}/queries/*.toml"]')
    (jobs / "test.toml").write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", "run", "--once", "--jobs", str(jobs)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
