"""Every input format, built in the test from one real Sysmon record, maps to the same ECS."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.errors import ConfigError, DataError
from eqlwatch.sysmon import detect_format, join_command_line, read_windows_events, to_ecs

SAMPLE = "evtx-attack-samples/ndjson/Execution/exec_sysmon_lobin_regsvr32_sct.ndjson.gz"
EVTX = "evtx-attack-samples/evtx/Execution/exec_sysmon_lobin_regsvr32_sct.evtx"
NS = "http://schemas.microsoft.com/win/2004/08/events/event"
# What every shape carries: the ECS fields that must come out identical.
CORE = ("@timestamp", "event", "process", "user", "related", "data_stream")


@pytest.fixture
def event(data_dir: Path) -> dict[str, Any]:
    """The regsvr32 process start, as evtx-rs writes it (GUIDs upper case, no braces)."""
    line = gzip.decompress((data_dir / SAMPLE).read_bytes()).decode("utf-8").splitlines()[0]
    record: dict[str, Any] = json.loads(line)
    return record


def _system(event: dict[str, Any]) -> dict[str, Any]:
    system: dict[str, Any] = event["System"]
    return system


def _as_xml(event: dict[str, Any]) -> str:
    """The record as Splunk's XmlWinEventLog writes it: one `<Event>` on one line."""
    sysd = _system(event)
    root = Element("Event", xmlns=NS)
    system = SubElement(root, "System")
    provider = sysd["Provider"]["#attributes"]
    SubElement(system, "Provider", Name=provider["Name"], Guid="{" + provider["Guid"] + "}")
    for name in ("EventID", "Version", "Level", "Task", "Opcode", "EventRecordID"):
        SubElement(system, name).text = str(sysd[name])
    SubElement(system, "TimeCreated", SystemTime=sysd["TimeCreated"]["#attributes"]["SystemTime"])
    execution = {k: str(v) for k, v in sysd["Execution"]["#attributes"].items()}
    SubElement(system, "Execution", execution)
    SubElement(system, "Channel").text = sysd["Channel"]
    SubElement(system, "Computer").text = sysd["Computer"]
    SubElement(system, "Security", UserID=sysd["Security"]["#attributes"]["UserID"])
    data = SubElement(root, "EventData")
    for key, value in event["EventData"].items():
        SubElement(data, "Data", Name=key).text = "" if value is None else str(value)
    return tostring(root, encoding="unicode")


def _lower_braced(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 36 and value.count("-") == 4:
        return "{" + value.lower() + "}"
    return value


def _as_winlogbeat(event: dict[str, Any]) -> dict[str, Any]:
    """Winlogbeat's raw output: strings everywhere, GUIDs lower case with braces."""
    sysd = _system(event)
    data = {k: _lower_braced(str(v)) for k, v in event["EventData"].items() if v is not None}
    execution = sysd["Execution"]["#attributes"]
    return {
        "@timestamp": sysd["TimeCreated"]["#attributes"]["SystemTime"],
        "event": {"code": str(sysd["EventID"]), "kind": "event"},
        "log": {"level": "information"},
        "winlog": {
            "event_id": str(sysd["EventID"]),
            "provider_name": sysd["Provider"]["#attributes"]["Name"],
            "provider_guid": _lower_braced(sysd["Provider"]["#attributes"]["Guid"]),
            "channel": sysd["Channel"],
            "computer_name": sysd["Computer"],
            "record_id": sysd["EventRecordID"],
            "version": sysd["Version"],
            "opcode": "Info",
            "process": {"pid": execution["ProcessID"], "thread": {"id": execution["ThreadID"]}},
            "user": {"identifier": sysd["Security"]["#attributes"]["UserID"]},
            "event_data": data,
        },
    }


def _as_nxlog(event: dict[str, Any]) -> dict[str, Any]:
    """NXLog im_msvistalog JSON: metadata and EventData side by side, GUIDs with braces."""
    sysd = _system(event)
    flat: dict[str, Any] = {
        "EventTime": sysd["TimeCreated"]["#attributes"]["SystemTime"],
        "Hostname": sysd["Computer"],
        "EventID": sysd["EventID"],
        "SourceName": sysd["Provider"]["#attributes"]["Name"],
        "ProviderGuid": "{" + sysd["Provider"]["#attributes"]["Guid"] + "}",
        "Channel": sysd["Channel"],
        "RecordNumber": sysd["EventRecordID"],
        "Version": sysd["Version"],
        "LevelValue": sysd["Level"],
        "OpcodeValue": sysd["Opcode"],
        "ExecutionProcessID": sysd["Execution"]["#attributes"]["ProcessID"],
        "ExecutionThreadID": sysd["Execution"]["#attributes"]["ThreadID"],
        "UserID": sysd["Security"]["#attributes"]["UserID"],
        "EventReceivedTime": "2019-05-12 20:35:06",
        "SourceModuleName": "eventlog",
        "SourceModuleType": "im_msvistalog",
    }
    flat.update({k: _lower_braced(v) for k, v in event["EventData"].items()})
    return flat


def _core(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc.get(k) for k in CORE}


def _read(path: Path, fmt: str = "auto") -> tuple[list[dict[str, Any]], list[DataError]]:
    errors: list[DataError] = []
    docs = [e.source for e in read_windows_events(path, fmt, on_error=errors.append)]
    return docs, errors


def test_every_shape_maps_to_the_same_ecs(event: dict[str, Any], tmp_path: Path) -> None:
    reference = to_ecs(event)
    assert reference["process"]["entity_id"] == "{365ABB72-6759-5CD8-0000-0010E2D50F00}"
    files = {
        "evtx-json": ("a.ndjson", json.dumps(event) + "\n"),
        "winlogbeat": ("b.ndjson", json.dumps(_as_winlogbeat(event)) + "\n"),
        "nxlog": ("c.json", json.dumps(_as_nxlog(event)) + "\n"),
        "splunk-xml": ("d.xml", _as_xml(event) + "\n"),
    }
    for fmt, (name, content) in files.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        assert detect_format(path) == fmt
        for chosen in ("auto", fmt):
            docs, errors = _read(path, chosen)
            assert errors == []
            assert [_core(d) for d in docs] == [_core(reference)], fmt
            assert docs[0]["host"]["name"] == "IEWIN7"
            assert docs[0]["winlog"]["provider_guid"] == "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"


def test_eventdata_array_gz_with_bom(event: dict[str, Any], tmp_path: Path) -> None:
    data = {"EventID": event["System"]["EventID"], **event["EventData"]}
    path = tmp_path / "array.json.gz"
    path.write_bytes(gzip.compress(("\ufeff" + json.dumps([data, data])).encode("utf-8")))
    assert detect_format(path) == "eventdata-array"
    events = list(read_windows_events(path))
    assert len(events) == 2
    assert events[0].id != events[1].id  # two identical records stay two events
    assert [e.id for e in events] == [e.id for e in read_windows_events(path)]
    reference = to_ecs(event)
    for e in events:
        assert e.source["process"] == reference["process"]
        assert e.source["@timestamp"] == reference["@timestamp"]
        assert e.index == "logs-windows.sysmon_operational-default"
        assert "host" not in e.source or "name" not in e.source["host"]


def test_ecs_documents_pass_through(event: dict[str, Any], tmp_path: Path) -> None:
    doc = to_ecs(event)
    path = tmp_path / "ecs.ndjson"
    hit = {"_index": "logs-custom-x", "_id": "abc", "_source": doc}
    path.write_text(json.dumps(doc) + "\n" + json.dumps(hit) + "\n", encoding="utf-8")
    assert detect_format(path) == "ecs"
    first, second = list(read_windows_events(path))
    assert first.source == doc
    assert first.index == "logs-windows.sysmon_operational-default"
    assert (second.index, second.id, second.source) == ("logs-custom-x", "abc", doc)


def test_multiline_xml_from_the_evtx_parser(data_dir: Path, tmp_path: Path) -> None:
    from evtx import PyEvtxParser

    records = [r["data"] for r in PyEvtxParser(str(data_dir / EVTX)).records() if r]
    path = tmp_path / "events.xml"
    path.write_text("\n".join(records), encoding="utf-8")
    docs, errors = _read(path, "splunk-xml")
    assert errors == []
    from_evtx, _ = _read(data_dir / EVTX)
    assert sorted(map(repr, docs)) == sorted(map(repr, from_evtx))


def test_bad_records_are_reported_with_their_line_and_skipped(
    event: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "mixed.ndjson"
    good = json.dumps(event)
    no_id = dict(event, System={k: v for k, v in event["System"].items() if k != "EventID"})
    path.write_text(f"{good}\n{{broken\n\n[1, 2]\n{json.dumps(no_id)}\n{good}\n", "utf-8")
    docs, errors = _read(path, "evtx-json")
    assert len(docs) == 2
    assert [(e.location.line if e.location else None) for e in errors] == [2, 4, 5]
    assert all(str(path) in str(e) for e in errors)
    assert "System.EventID" in str(errors[2])


def test_bad_xml_event_is_skipped(event: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><Event xmlns="x">&a;</Event>'
    path.write_text(f"{_as_xml(event)}\n<Event><System>\n{bomb}\n{_as_xml(event)}\n", "utf-8")
    docs, errors = _read(path, "splunk-xml")
    assert len(docs) == 2
    assert [e.location.line if e.location else None for e in errors] == [2]
    assert "well-formed" in errors[0].message


def test_corrupt_evtx_chunk_is_reported_and_the_rest_read(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "evtx-attack-samples/evtx/AutomatedTestingTools"
    data = bytearray((src / "PanacheSysmon_vs_AtomicRedTeam01.evtx").read_bytes())
    data[70000:70400] = b"\xff" * 400
    path = tmp_path / "corrupt.evtx"
    path.write_bytes(bytes(data))
    docs, errors = _read(path)
    assert 400 < len(docs) < 565
    assert errors
    assert all(e.location is not None and e.location.field for e in errors)


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="input format"):
        list(read_windows_events(tmp_path, "csv"))
    with pytest.raises(DataError, match="no such file"):
        list(read_windows_events(tmp_path / "absent.json"))


def test_undetectable_file_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"hello": "world"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="format"):
        detect_format(path)
    docs, errors = _read(path)
    assert docs == []
    assert len(errors) == 1


def test_non_sysmon_events_keep_a_generic_mapping(data_dir: Path) -> None:
    path = data_dir / "evtx-attack-samples/ndjson/Command and Control"
    docs, errors = _read(path)
    assert errors == []
    others = [d for d in docs if d["winlog"].get("provider_name") != "Microsoft-Windows-Sysmon"]
    assert others
    for doc in others:
        assert doc["data_stream"]["dataset"] == "windows.forwarded"
        assert doc["event"]["code"] == doc["winlog"]["event_id"]
        assert doc["@timestamp"].endswith("Z")
        assert "category" not in doc["event"]
    user_data = [d for d in others if "user_data" in d["winlog"]]
    assert user_data  # the Security log-cleared events (1102) carry UserData, not EventData


def test_agent_document_with_only_the_original_xml(ground_truth_dir: Path) -> None:
    path = ground_truth_dir / (
        "elastic-integrations/packages/windows/data_stream/"
        "sysmon_operational/_dev/test/pipeline/test-image-loaded-failed-signature.json"
    )
    raw = json.loads(path.read_text(encoding="utf-8"))["events"][0]
    full = to_ecs(raw)
    xml_only = dict(raw, winlog={k: v for k, v in raw["winlog"].items() if k != "event_data"})
    assert to_ecs(xml_only)["dll"] == full["dll"]
    assert to_ecs(xml_only)["process"] == full["process"]


def test_wrong_explicit_format_reports_instead_of_crashing(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}\n', encoding="utf-8")
    for fmt in ("evtx", "splunk-xml", "evtx-json", "winlogbeat", "nxlog"):
        docs, errors = _read(path, fmt)
        assert docs == []
        assert len(errors) == 1, fmt
        assert str(path) in str(errors[0])


def test_events_become_hit_events(event: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "one.ndjson.gz"
    path.write_bytes(gzip.compress((json.dumps(event) + "\n").encode()))
    assert detect_format(path) == "evtx-json"
    (only,) = list(read_windows_events(path))
    hit = only.to_hit_event()
    assert (hit.index, hit.id, hit.source) == (only.index, only.id, only.source)
    assert only.origin.line == 1
    assert only.origin.file == str(path)


def test_gzipped_evtx(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "capture.evtx.gz"
    path.write_bytes(gzip.compress((data_dir / EVTX).read_bytes()))
    assert detect_format(path) == "evtx"
    docs, errors = _read(path)
    assert errors == []
    plain, _ = _read(data_dir / EVTX)
    assert docs == plain


_spellings = st.sampled_from(
    [str.upper, str.lower, lambda g: "{" + g.upper() + "}", lambda g: "{" + g.lower() + "}"]
)


@given(
    spell=_spellings,
    argv=st.lists(st.text(st.sampled_from(list('ab "\\/:')), max_size=8), min_size=1, max_size=4),
)
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_shapes_agree_for_any_guid_spelling_and_command_line(
    event: dict[str, Any], spell: Any, argv: list[str]
) -> None:
    data = dict(event["EventData"])
    for key in ("ProcessGuid", "ParentProcessGuid", "LogonGuid"):
        data[key] = spell(data[key])
    data["CommandLine"] = join_command_line(argv)
    varied = dict(event, EventData=data)
    docs = [
        to_ecs(varied),
        to_ecs(_as_winlogbeat(varied)),
        to_ecs(_as_nxlog(varied)),
        to_ecs(_as_xml(varied)),
    ]
    assert all(_core(d) == _core(docs[0]) for d in docs)
    assert docs[0]["process"]["args"] == argv
    assert docs[0]["process"]["entity_id"] == "{365ABB72-6759-5CD8-0000-0010E2D50F00}"
