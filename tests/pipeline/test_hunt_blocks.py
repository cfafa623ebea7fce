"""`NdjsonScan.stream_blocks` (a block of lines validated by msgspec and skipped by one
Hyperscan call) yields, counts and reports exactly what the line-by-line `stream` does:
the same events, the same errors with the same line numbers, the same event count,
whatever the block size, blank lines, escapes, damage or a missing last newline."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eqlwatch.cli.query import QueryScreen
from eqlwatch.engine import SourceEvent, compile_query
from eqlwatch.engine.identity import LATER
from eqlwatch.errors import DataError
from eqlwatch.pipeline import hunt_scan
from tests.cli.test_query_screen import ecs_query, event_line

ODD_LINES = [
    b"",
    b"   ",
    b"\r",
    b"{not json",
    b"[1, 2]",
    b'{"@timestamp": 1e999, "event": {"category": "process"}}',
    # valid for msgspec, refused by orjson: reported with its line number from a block
    b'{"@timestamp": 1e999, "event": {"category": "process"}, "process": {"name": "cmd.exe",'
    b' "parent": {"name": "regsvr32.exe"}, "command_line": "whoami /s scrobj"}}',
    b'{"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process"},'
    b' "process": {"name": "\\u0077hoami.exe"}}',
    '{"@timestamp": "2026-01-01T00:00:01Z", "event": {"category": "process"},'
    ' "process": {"name": "REGSVR32.EXE", "title": "\u0130"}}'.encode(),
]


def _answer(text: str, data: bytes, blocks: bool) -> tuple[Any, ...]:
    compiled = compile_query(text, size=None)
    screen = QueryScreen(compiled, True, [])
    scan = screen.scan
    assume(scan is not None)  # a query with no line screen reads no blocks: drawn again
    assert scan is not None
    errors: list[str] = []

    def on_error(error: DataError) -> None:
        errors.append(str(error))

    scan.on_error = on_error
    reader = io.BytesIO(data)
    path = Path("events.ndjson")
    read = scan.stream_blocks if blocks else scan.stream
    events = [whole(e) for e in read(reader, path, "events")]
    return events, errors, scan.counts.events, scan.counts.parsed


def whole(event: SourceEvent) -> tuple[str, str, bytes]:
    """An event read in part (its id is its line, see `query_docs`) as if read whole."""
    line: object = event.id
    if type(line) is bytes:
        return event.index, LATER, orjson.dumps(orjson.loads(line))
    return event.index, event.id, orjson.dumps(event.source)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    text=ecs_query(),
    lines=st.lists(st.one_of(event_line(), st.sampled_from(ODD_LINES)), min_size=1, max_size=30),
    block=st.integers(min_value=1, max_value=700),
    switch=st.sampled_from([1, 2, 5, 10**9]),
    last_newline=st.booleans(),
)
def test_blocks_answer_as_lines_do(
    text: str, lines: list[bytes], block: int, switch: int, last_newline: bool
) -> None:
    """`switch`: how many lines a block needs before many hits send the rest line by line."""
    data = b"\n".join(lines) + (b"\n" if last_newline else b"")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hunt_scan, "BLOCK_BYTES", block)
        patch.setattr(hunt_scan, "SWITCH_MIN_LINES", switch)
        *in_blocks, parsed_in_blocks = _answer(text, data, True)
    *by_line, parsed_by_line = _answer(text, data, False)
    assert in_blocks == by_line
    # `parsed` counts lines handed to orjson: a block never hands it a blank line
    assert parsed_in_blocks <= parsed_by_line


def test_a_gzipped_file_reads_in_blocks_as_lines(tmp_path: Path) -> None:
    hit = {"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process"},
           "process": {"name": "whoami.exe"}}  # fmt: skip
    other = hit | {"process": {"name": "cmd.exe"}}
    data = b"".join(orjson.dumps(d) + b"\n" for d in [other] * 300 + [hit] + [other] * 300)
    path = tmp_path / "events.ndjson.gz"
    path.write_bytes(gzip.compress(data + b"{broken\n"))
    text = 'process where process.name == "whoami.exe"'
    compiled = compile_query(text, size=None)
    screen = QueryScreen(compiled, True, [])
    assert screen.scan is not None
    errors: list[str] = []
    screen.scan.on_error = lambda error: errors.append(str(error))
    with hunt_scan.open_lines(path) as file, pytest.MonkeyPatch.context() as patch:
        patch.setattr(hunt_scan, "BLOCK_BYTES", 4096)
        events = list(screen.scan.stream_blocks(file, path, "events"))
    assert [e.source["process"]["name"] for e in events] == ["whoami.exe"]
    assert screen.scan.counts.events == 601
    assert screen.scan.counts.parsed < 20  # the other lines were validated, not parsed
    assert len(errors) == 1
    assert f"{path}:602" in errors[0]
