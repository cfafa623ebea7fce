"""An EVTX file shorter than the chunks its header lists (a copy or transfer cut short)
is said to be so, naming the file, by every command that reads it: the `evtx` parser skips
an incomplete last chunk without a word, so its records were lost unreported. The records
of the whole chunks before it are still read."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = (
    ROOT / "tests/data/evtx-attack-samples/evtx/AutomatedTestingTools"
    "/PanacheSysmon_vs_AtomicRedTeam01.evtx"
)
CUT = 4096 + 65536 + 30000  # the file header, one whole chunk, part of the next


def eqlwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=300,
    )  # fmt: skip


@pytest.fixture
def cut(tmp_path: Path) -> Path:
    path = tmp_path / "copy.evtx"
    path.write_bytes(CAPTURE.read_bytes()[:CUT])
    return path


def test_hunt_says_the_file_was_cut_short(cut: Path) -> None:
    done = eqlwatch("hunt", "--rules", "queries", "--no-progress", "--format", "ndjson", str(cut))
    assert done.returncode == 1, done.stderr  # as for any input not read in full
    assert f"{cut}: EVTX file cut short: {CUT:,} bytes" in done.stderr
    assert "the records past chunk 1 were not read" in done.stderr
    assert "44 events" in done.stderr  # the first chunk's records, read
    assert len(done.stdout.splitlines()) == 1  # and the alert among them


def test_query_says_the_file_was_cut_short(cut: Path) -> None:
    done = eqlwatch("query", "process where true", "--events", str(cut), "--size", "1")
    assert done.returncode == 0, done.stderr
    assert f"{cut}: EVTX file cut short" in done.stderr
    assert done.stdout.strip()  # the records before the cut are found


def test_a_whole_file_and_a_gzipped_one_say_nothing(tmp_path: Path) -> None:
    packed = tmp_path / "capture.evtx.gz"
    packed.write_bytes(gzip.compress(CAPTURE.read_bytes()))
    for path in (CAPTURE, packed):
        done = eqlwatch(
            "hunt", "--rules", "queries", "--no-progress", "--format", "ndjson", str(path)
        )
        assert done.returncode == 0, done.stderr
        assert "cut short" not in done.stderr
        assert "565 events, 0 malformed skipped" in done.stderr
