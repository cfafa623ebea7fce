"""`hunt` over a line whose `event.category` is not UTF-8, among lines the rule pack's
needles keep: the category read before parsing must not crash it; the line is reported
with its file and line number, as the straightforward path reports it."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from eqlwatch.cli.app import app


def test_a_kept_line_with_a_category_that_is_not_utf8_is_reported(
    tmp_path: Path, repo_root: Path
) -> None:
    start = {"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process",
             "type": "start"}, "process": {"name": "regsvr32.exe", "entity_id": "e1"}}  # fmt: skip
    damaged = orjson.dumps(start).replace(b'"process","type"', b'"proc\xffess","type"')
    events = tmp_path / "events.ndjson"
    events.write_bytes(orjson.dumps(start) + b"\n" + damaged + b"\n")
    args = ["hunt", "--rules", str(repo_root / "queries"), "--format", "ndjson",
            "--no-progress", str(events)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{events}:2: malformed JSON" in result.stderr
    assert "Traceback" not in result.stderr
