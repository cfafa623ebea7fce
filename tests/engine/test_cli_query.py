"""`eqlwatch query`: Elasticsearch's response shape, mappings per file, errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.engine.identity import record_id

RUNNER = CliRunner()


def _write(path: Path, docs: list[dict[str, object]], bad: bool = False) -> Path:
    lines = [json.dumps(d) for d in docs]
    if bad:
        lines.insert(1, "{nope")
    path.write_text("\n".join(lines) + "\n")
    return path


def _docs() -> list[dict[str, object]]:
    return [
        {"@timestamp": "2024-01-01T00:00:00Z", "event": {"category": "process"}, "pid": 1},
        {"@timestamp": "2024-01-01T00:00:01Z", "event": {"category": "network"}, "pid": 1},
        {"@timestamp": "2024-01-01T00:00:02Z", "event": {"category": "process"}, "pid": 2},
    ]


def test_event_query_json(tmp_path: Path) -> None:
    path = _write(tmp_path / "ev.ndjson", _docs(), bad=True)
    result = RUNNER.invoke(app, ["query", "process where true", "--events", str(path)])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    hits = body["hits"]
    assert hits["total"] == {"value": 2, "relation": "eq"}
    docs = _docs()  # ids come from each record's content
    assert [(e["_index"], e["_id"], e["_source"]["pid"]) for e in hits["events"]] == [
        ("ev", record_id(docs[0]), 1),
        ("ev", record_id(docs[2]), 2),
    ]
    assert f"{path}:2:" in result.stderr
    assert "1 malformed line(s) skipped" in result.stderr


def test_sequence_with_missing_slot_and_join_keys(tmp_path: Path) -> None:
    path = _write(tmp_path / "ev.ndjson", _docs())
    query = (
        "sequence by pid with maxspan=1m"
        " [process where true] ![file where true] [network where true]"
    )
    result = RUNNER.invoke(app, ["query", query, "--events", str(path)])
    assert result.exit_code == 0, result.output
    (seq,) = json.loads(result.stdout)["hits"]["sequences"]
    assert seq["join_keys"] == [1]
    assert [e.get("missing", False) for e in seq["events"]] == [False, True, False]
    ids = [record_id(d) for d in _docs()[:2]]
    assert [e["_id"] for e in seq["events"] if not e.get("missing")] == ids


def test_mapping_per_file(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.ndjson", [{"@timestamp": 1, "kind": "process", "x": "1"}])
    b = _write(tmp_path / "b.ndjson", [{"@timestamp": 2, "type": "process", "x": "2"}])
    ma, mb = tmp_path / "a.json", tmp_path / "b.json"
    alias = {"event": {"properties": {"category": {"type": "alias", "path": "kind"}}}}
    ma.write_text(json.dumps({"properties": {**alias, "kind": {"type": "keyword"}}}))
    alias_b = {"event": {"properties": {"category": {"type": "alias", "path": "type"}}}}
    mb.write_text("# comment\n" + json.dumps({"properties": alias_b}))
    args = ["query", "process where true", "--events", str(a), "--events", str(b)]
    result = RUNNER.invoke(app, [*args, "--mapping", str(ma), "--mapping", str(mb)])
    assert result.exit_code == 0, result.output
    assert [e["_index"] for e in json.loads(result.stdout)["hits"]["events"]] == ["a", "b"]


def test_bad_query_exits_2(tmp_path: Path) -> None:
    path = _write(tmp_path / "ev.ndjson", _docs())
    result = RUNNER.invoke(app, ["query", "process where | x", "--events", str(path)])
    assert result.exit_code == 2
    assert "1:15" in result.stderr


def test_table_format(tmp_path: Path) -> None:
    path = _write(tmp_path / "ev.ndjson", _docs())
    args = ["query", "network where true", "--events", str(path), "--format", "table"]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0
    assert "network" in result.stdout
