"""Raw Windows events in NXLog's JSON shape, from real captures, for the raw `hunt` bench.

Reads the evtx-rs JSON exports of the shipped (or shared) EVTX-ATTACK-SAMPLES captures and
writes each record as NXLog im_msvistalog writes it: metadata and EventData side by side,
plus the rendered `Message` (Sysmon's "Label: value" lines, the long part of real NXLog
records). The captures are repeated (record numbers and times shifted) until `--events`
records are written, so the mix of Sysmon event ids and Security events is theirs.

    uv run python bench/gen_raw.py --events 200000 --out /tmp/raw-nxlog.json
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from eqlwatch.sysmon.sources import json_records

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT / "tests/data/evtx-attack-samples/ndjson"


def _attr(node: Any, name: str) -> Any:
    return node.get("#attributes", {}).get(name) if isinstance(node, dict) else None


def _nxlog(record: dict[str, Any], number: int, shift: timedelta) -> dict[str, Any] | None:
    system = record.get("System") or (record.get("Event") or {}).get("System")
    data = record.get("EventData") or (record.get("Event") or {}).get("EventData") or {}
    if not isinstance(system, dict) or not isinstance(data, dict):
        return None
    eid = system.get("EventID")
    eid = eid.get("#text") if isinstance(eid, dict) else eid
    stamp = _attr(system.get("TimeCreated"), "SystemTime") or "2019-01-01T00:00:00Z"
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + shift
    fields = {k: v for k, v in data.items() if k != "#attributes" and v is not None}
    message = "\r\n".join(f"{k}: {v}" for k, v in fields.items())
    return {
        "EventTime": when.strftime("%Y-%m-%d %H:%M:%S"),
        "Hostname": system.get("Computer"),
        "Keywords": system.get("Keywords"),
        "EventType": "INFO",
        "SeverityValue": 2,
        "Severity": "INFO",
        "EventID": eid,
        "SourceName": _attr(system.get("Provider"), "Name"),
        "ProviderGuid": _attr(system.get("Provider"), "Guid"),
        "Version": system.get("Version"),
        "Task": system.get("Task"),
        "OpcodeValue": system.get("Opcode"),
        "RecordNumber": number,
        "ExecutionProcessID": _attr(system.get("Execution"), "ProcessID"),
        "ExecutionThreadID": _attr(system.get("Execution"), "ThreadID"),
        "Channel": system.get("Channel"),
        "Domain": "NT AUTHORITY",
        "AccountName": "SYSTEM",
        "UserID": _attr(system.get("Security"), "UserID"),
        "AccountType": "User",
        "Category": f"Task {system.get('Task')}",
        "Opcode": "Info",
        **fields,
        "Message": f"Event {eid}:\r\n{message}",
        "EventReceivedTime": when.strftime("%Y-%m-%d %H:%M:%S"),
        "SourceModuleName": "eventlog",
        "SourceModuleType": "im_msvistalog",
    }


def captures(source: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        records.extend(v for _, v in json_records(path) if isinstance(v, dict))
    return records


def generate(records: list[dict[str, Any]], events: int) -> Iterator[bytes]:
    written, rounds = 0, 0
    while written < events:
        shift = timedelta(days=rounds)
        for record in records:
            line = _nxlog(record, written + 1, shift)
            if line is None:
                continue
            yield orjson.dumps(line) + b"\n"
            written += 1
            if written >= events:
                return
        rounds += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args()
    records = captures(args.source)
    with args.out.open("wb") as out:
        for line in generate(records, args.events):
            out.write(line)
    size = args.out.stat().st_size
    print(f"wrote {args.events} NXLog records ({size / args.events:.0f} bytes each) to {args.out}")


if __name__ == "__main__":
    main()
