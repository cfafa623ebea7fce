"""A line with bytes that are not UTF-8 inside a string is malformed, and said so with its
line number, however the line is read. msgspec, which checks lines that no rule or query
needs parsed, skips strings it need not keep without reading them: such a line passed as
valid in hunt (any file) and in query (files of 1 MiB and more, checked by blocks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = '{"@timestamp":"2024-01-01T00:00:%02dZ","event":{"category":"process"},"n":%d,"pad":"%s"}\n'
BAD = b'{"@timestamp":"2024-01-01T00:00:01Z","event":{"category":"process"},"x":"a\xff\xfeb"}\n'


def events_file(tmp_path: Path, lines: int) -> Path:
    """`lines` good lines, the second line of the file bad (`lines` 20,000: 3.3 MB)."""
    body = [(GOOD % (i % 60, i, "p" * 120)).encode() for i in range(lines)]
    body.insert(1, BAD)
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(body))
    return path


def eqlwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("lines", [2, 20_000])
def test_query_reports_the_line(tmp_path: Path, lines: int) -> None:
    path = events_file(tmp_path, lines)
    done = eqlwatch("query", "process where n == -1", "--events", str(path))
    assert done.returncode == 0, done.stderr
    assert f"{path}:2: malformed JSON" in done.stderr
    assert "1 malformed line(s) skipped" in done.stderr


@pytest.mark.parametrize("lines", [2, 20_000])
def test_hunt_reports_the_line(tmp_path: Path, lines: int) -> None:
    path = events_file(tmp_path, lines)
    done = eqlwatch("hunt", "--rules", "queries", "--no-progress", str(path))
    assert done.returncode == 0, done.stderr
    assert f"{path}:2: malformed JSON" in done.stderr
    assert f"{lines} events, 1 malformed skipped" in done.stderr
