"""A connection whose ports no flow can have is mapped without a community id, not a crash."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from typer.testing import CliRunner

from eqlwatch.cli.app import app


def _connection(record: int, source_port: str) -> dict[str, object]:
    return {
        "EventTime": "2019-04-27 15:57:25", "Hostname": "H", "EventID": 3,
        "SourceName": "Microsoft-Windows-Sysmon",
        "Channel": "Microsoft-Windows-Sysmon/Operational", "RecordNumber": record,
        "Protocol": "tcp", "SourceIp": "10.0.0.1", "DestinationIp": "10.0.0.2",
        "SourcePort": source_port, "DestinationPort": "443", "Image": "C:\\\\a.exe",
    }  # fmt: skip


def test_query_keeps_a_connection_with_a_port_out_of_range(tmp_path: Path) -> None:
    events = tmp_path / "nxlog.json"
    lines = [_connection(1, "65536"), _connection(2, "-1"), _connection(3, "49152")]
    events.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    result = CliRunner().invoke(
        app, ["query", "network where true", "--events", str(events), "--size", "10"]
    )
    assert result.exit_code == 0, result.output
    hits = [e["_source"] for e in json.loads(result.stdout)["hits"]["events"]]
    assert [h["winlog"]["record_id"] for h in hits] == ["1", "2", "3"]
    assert [h["source"]["port"] for h in hits] == [65536, -1, 49152]
    assert ["community_id" in h["network"] for h in hits] == [False, False, True]
    assert all(h["process"]["name"] == "a.exe" for h in hits)
