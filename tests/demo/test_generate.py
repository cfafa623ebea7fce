from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from eqlwatch.demo import ensure_demo_data, generate

END = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_same_seed_same_data() -> None:
    assert generate(end=END).indices == generate(end=END).indices
    assert generate(end=END).indices != generate(end=END, seed=8).indices


def test_every_document_is_labelled_synthetic_and_inside_the_period() -> None:
    data = generate(end=END, hours=6)
    start = "2026-11-21T06:00:00"
    for events in data.indices.values():
        for doc in events:
            assert doc["labels"]["synthetic"] == "true"
            assert start <= doc["@timestamp"] < "2026-11-21T12:00:00.001Z"


def test_both_shapes_and_planted_cases_present() -> None:
    data = generate(end=END)
    assert "logs-windows.sysmon_operational-default" in data.indices
    assert "logs-endpoint.events.process-default" in data.indices
    expects = {s["expect"] for s in data.scenarios}
    assert expects == {"alert", "silence"}
    names = {
        d["process"]["name"]
        for events in data.indices.values()
        for d in events
        if "start" in d["event"]["type"] and "process" in d["event"]["category"]
    }
    assert {"regsvr32.exe", "RegSvcs.exe", "RegAsm.exe", "jabber.exe"} <= names


def test_ensure_writes_once(tmp_path: Path) -> None:
    assert ensure_demo_data(tmp_path, now=END) is True
    assert ensure_demo_data(tmp_path, now=END) is False
    files = sorted(p.name for p in tmp_path.glob("*.ndjson"))
    assert "logs-windows.sysmon_operational-default.ndjson" in files
    first = (tmp_path / files[0]).read_bytes().splitlines()[0]
    assert orjson.loads(first)["labels"]["synthetic"] == "true"
    assert "Synthetic" in (tmp_path / "SYNTHETIC.md").read_text()
