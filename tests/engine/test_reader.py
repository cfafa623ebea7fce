"""Event files: formats, ids, index names, and malformed lines reported with file:line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from eqlwatch.engine.identity import record_id
from eqlwatch.engine.reader import index_name, read_event_file
from eqlwatch.errors import DataError

LINES = [
    '{"@timestamp": 1, "a": 1}',
    "{broken",
    "",
    '{"@timestamp": 2, "id": 77}',
    '{"_id": "h1", "_index": "x", "_source": {"@timestamp": 3}}',
    "[1, 2]",
]


@pytest.mark.parametrize("gz", [False, True])
def test_ndjson_with_bad_lines(tmp_path: Path, gz: bool) -> None:
    data = ("\n".join(LINES) + "\n").encode()
    path = tmp_path / ("events.ndjson.gz" if gz else "events.ndjson")
    path.write_bytes(gzip.compress(data) if gz else data)
    events, errors = read_event_file(path)
    got = [(e.index, e.id, dict(e.source)) for e in events]
    assert got == [
        ("events", record_id({"a": 1, "@timestamp": 1}), {"@timestamp": 1, "a": 1}),
        ("events", "77", {"@timestamp": 2, "id": 77}),
        ("events", "h1", {"@timestamp": 3}),
    ]
    assert errors.count == 2
    assert [(e.location.file, e.location.line) for e in errors.errors if e.location] == [
        (str(path), 2),
        (str(path), 6),
    ]


def test_json_array_ids_come_from_content(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    path.write_text(json.dumps([{"x": 1}, 5, {"x": 2}]))
    events, errors = read_event_file(path, index="chosen")
    assert [(e.index, e.id) for e in events] == [
        ("chosen", record_id({"x": 1})),
        ("chosen", record_id({"x": 2})),
    ]
    assert errors.count == 1


def test_broken_json_array_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    path.write_text('[\n{"x": 1},\n{"x": ')
    events, errors = read_event_file(path)
    assert list(events) == []
    assert errors.count == 1
    assert errors.errors[0].location is not None
    assert errors.errors[0].location.line == 3


def test_missing_file_raises() -> None:
    with pytest.raises(DataError):
        read_event_file("/nonexistent/x.ndjson")


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("logs.ndjson.gz", "logs"),
        ("a.b.json", "a.b"),
        ("endgame-140.data", "endgame-140"),
        ("logs.ndjson.1", "logs"),  # rotated: the same index
        ("logs.ndjson.2.gz", "logs"),
        ("v1.2.ndjson", "v1.2"),
    ],
)
def test_index_names(name: str, index: str) -> None:
    assert index_name(name) == index
