"""Event files in UTF-16 or UTF-32 (Windows PowerShell 5 writes UTF-16 with `>`,
`Out-File` and `Export-Csv`'s cousins): every line was reported as malformed JSON and every
event lost. They are read as the same events their UTF-8 copy holds."""

from __future__ import annotations

import codecs
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.local_job import run_once, stamp

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/rulepack"
ATOMIC = ROOT / "tests/data/eqllib-atomic/sysmon-atomic-red-team.json.gz"  # ConvertTo-Json
FILLER = '{"@timestamp":"2024-01-01T00:00:%02dZ","event":{"category":"process"},"n":%d,"u":"ü"}\n'
MARKS = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
         "utf-32-le": codecs.BOM_UTF32_LE}  # fmt: skip


def eqlwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=300,
    )  # fmt: skip


def encoded(text: str, codec: str, marked: bool = True) -> bytes:
    return (MARKS[codec] if marked else b"") + text.encode(codec)


@pytest.mark.parametrize(
    ("codec", "marked", "packed", "lines"),
    [
        ("utf-16-le", True, False, 3),
        ("utf-16-le", True, False, 20_000),  # read in blocks (over 1 MiB)
        ("utf-16-le", True, True, 20_000),
        ("utf-16-be", True, False, 3),
        ("utf-16-le", False, False, 3),  # no mark: told from the zero bytes
        ("utf-32-le", True, False, 3),
    ],
)
def test_query_reads_every_line(
    tmp_path: Path, codec: str, marked: bool, packed: bool, lines: int
) -> None:
    data = encoded("".join(FILLER % (i % 60, i) for i in range(lines)), codec, marked)
    path = tmp_path / ("events.ndjson.gz" if packed else "events.ndjson")
    path.write_bytes(gzip.compress(data) if packed else data)
    done = eqlwatch("query", f"process where n < 2 or n == {lines - 1}", "--events", str(path))
    assert done.returncode == 0, done.stderr
    assert "malformed" not in done.stderr
    hits = json.loads(done.stdout)["hits"]["events"]
    assert [(e["_source"]["n"], e["_source"]["u"]) for e in hits] == [
        (0, "ü"), (1, "ü"), (lines - 1, "ü")
    ][: 3 if lines > 2 else 2]  # fmt: skip


def _alerts(stdout: str) -> list[str]:
    return sorted(json.loads(line)["event"]["id"] for line in stdout.splitlines())


def test_hunt_finds_the_same_alerts_in_utf16_copies(tmp_path: Path) -> None:
    """The rule pack's fixtures (sequences whose held lines are read again by position,
    ECS and raw Sysmon) and a PowerShell `ConvertTo-Json` export, UTF-8 against UTF-16."""
    plain, wide = tmp_path / "plain", tmp_path / "wide"
    plain.mkdir()
    wide.mkdir()
    for fixture in sorted(FIXTURES.glob("*.ndjson")):
        (plain / fixture.name).write_bytes(fixture.read_bytes())
        (wide / fixture.name).write_bytes(encoded(fixture.read_text("utf-8"), "utf-16-le"))
    atomic = gzip.decompress(ATOMIC.read_bytes()).decode("utf-8")
    (plain / "atomic.json").write_text(atomic, "utf-8")
    (wide / "atomic.json.gz").write_bytes(gzip.compress(encoded(atomic, "utf-16-be")))
    runs = []
    for folder in (plain, wide):
        done = eqlwatch("hunt", "--rules", "queries", "--format", "ndjson", "--no-progress",
                        str(folder))  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert " 0 malformed skipped, 0 input(s) not read" in done.stderr, done.stderr
        runs.append(_alerts(done.stdout))
    assert len(runs[0]) >= 10
    assert runs[0] == runs[1]


def test_a_bad_line_is_reported_by_number_and_the_others_read(tmp_path: Path) -> None:
    """A lone surrogate is not turned into valid text: its line is malformed, by number."""
    lines = [FILLER % (i, i) for i in range(4)]
    lines[2] = '{"n":"\ud800"}\n'
    path = tmp_path / "events.ndjson"
    path.write_bytes(codecs.BOM_UTF16_LE + "".join(lines).encode("utf-16-le", "surrogatepass"))
    done = eqlwatch("query", "process where true", "--events", str(path))
    assert done.returncode == 0, done.stderr
    assert f"{path}:3" in done.stderr
    assert [e["_source"]["n"] for e in json.loads(done.stdout)["hits"]["events"]] == [0, 1, 3]


def test_a_job_alerts_on_a_utf16_file(tmp_path: Path) -> None:
    """`run` indexes plain UTF-8 NDJSON in place; a UTF-16 file is read as its events."""
    event = {**json.loads(FIXTURES.joinpath("defend-regsvr32-renamed.ndjson").read_bytes()
                          .splitlines()[0]), "@timestamp": stamp(-10)}  # fmt: skip
    done = run_once(tmp_path, {"default": encoded(json.dumps(event) + "\n", "utf-16-le")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "malformed" not in done.stdout + done.stderr
    (alert,) = (tmp_path / "out" / "alerts.ndjson").read_text().splitlines()
    assert json.loads(alert)["rule"]["name"] == "Renamed Regsvr32 Execution"
