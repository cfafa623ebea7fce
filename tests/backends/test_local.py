"""Local-file specifics: crash safety of the alerts file and the state file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from eqlwatch.backends.local_sink import LocalFileSink
from eqlwatch.backends.local_state import LocalStateStore
from eqlwatch.errors import DataError
from eqlwatch.model import Alert


def test_torn_tail_is_dropped_and_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "alerts.ndjson"
    LocalFileSink(path).write([Alert("a", "r", {"x": 1})])
    with path.open("ab") as handle:
        handle.write(b'{"eqlwatch": {"alert_id": "b"')  # crash mid-line
    result = LocalFileSink(path).write([Alert("a", "r", {}), Alert("b", "r", {"x": 2})])
    assert (result.created, result.existing) == (1, 1)
    lines = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    assert [doc["eqlwatch"]["alert_id"] for doc in lines] == ["a", "b"]


def test_unwritable_sink_raises_and_keeps_nothing_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "dir"
    blocker.write_text("a file where a directory should be")
    sink = LocalFileSink(blocker / "alerts.ndjson")
    with pytest.raises(Exception, match="cannot write alerts"):
        sink.write([Alert("a", "r", {})])


def test_corrupt_state_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match=str(path)):
        LocalStateStore(path).get_checkpoint("k")


def test_state_file_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = LocalStateStore(path)
    store.set_checkpoint("k", datetime(2026, 1, 1, tzinfo=UTC))
    assert not [
        p
        for p in tmp_path.iterdir()
        if p.name.startswith("state.json") and p.suffix not in (".json", ".lock")
    ]
    assert orjson.loads(path.read_bytes())["checkpoints"]["k"].startswith("2026-01-01")
