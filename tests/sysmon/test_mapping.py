"""Per-event-id mapping on real eqllib records, plus labelled synthetic records for the rest."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from eqlwatch.sysmon import canonical_guid, to_ecs
from eqlwatch.sysmon.values import parse_hashes, parse_iso_time, parse_utc_time

ATOMIC = "eqllib-atomic/sysmon-atomic-red-team.json.gz"


@pytest.fixture(scope="module")
def atomic(data_dir: Path) -> list[dict[str, Any]]:
    with gzip.open(data_dir / ATOMIC, "rt", encoding="utf-8-sig") as fh:
        records: list[dict[str, Any]] = json.load(fh)
    return records


def _first(records: list[dict[str, Any]], eid: int, **match: str) -> dict[str, Any]:
    return next(
        r for r in records if r["EventId"] == eid and all(r.get(k) == v for k, v in match.items())
    )


@pytest.mark.parametrize(
    "spelling",
    [
        "365abb72-6759-5cd8-0000-0010e2d50f00",
        "{365abb72-6759-5cd8-0000-0010e2d50f00}",
        "365ABB72-6759-5CD8-0000-0010E2D50F00",
        " {365ABB72-6759-5cd8-0000-0010E2D50F00} ",
    ],
)
def test_every_guid_spelling_joins(spelling: str) -> None:
    canonical = "{365ABB72-6759-5CD8-0000-0010E2D50F00}"
    assert canonical_guid(spelling) == canonical
    start = to_ecs({"EventID": 1, "ProcessGuid": spelling, "ParentProcessGuid": spelling})
    conn = to_ecs({"EventID": 3, "ProcessGuid": canonical.lower()})
    assert start["process"]["entity_id"] == conn["process"]["entity_id"] == canonical
    assert start["process"]["parent"]["entity_id"] == canonical


def test_null_guid_and_dash_values_are_dropped() -> None:
    doc = to_ecs(
        {
            "EventID": 22,
            "ProcessGuid": "{00000000-0000-0000-0000-000000000000}",
            "Image": "-",
            "QueryName": "example.org",
        }
    )
    assert "entity_id" not in doc.get("process", {})
    assert "executable" not in doc.get("process", {})
    assert doc["dns"]["question"]["name"] == "example.org"


def test_process_access_maps_the_source_process(atomic: list[dict[str, Any]]) -> None:
    raw = _first(atomic, 10)
    doc = to_ecs(raw)
    assert doc["process"]["entity_id"] == raw["SourceProcessGUID"]
    assert doc["process"]["pid"] == int(raw["SourceProcessId"])
    assert doc["process"]["thread"]["id"] == int(raw["SourceThreadId"])
    assert doc["process"]["executable"] == raw["SourceImage"]
    assert doc["winlog"]["event_data"]["TargetImage"] == raw["TargetImage"]
    assert doc["winlog"]["event_data"]["GrantedAccess"] == raw["GrantedAccess"]
    assert doc["event"]["category"] == ["process"]
    assert doc["event"]["type"] == ["access"]


def test_remote_thread_keeps_target_guid_in_its_canonical_name(
    atomic: list[dict[str, Any]],
) -> None:
    doc = to_ecs(_first(atomic, 8))
    assert doc["process"]["name"] == "mavinject.exe"
    assert doc["winlog"]["event_data"]["TargetProcessGUID"].startswith("{")
    assert doc["event"]["action"] == "CreateRemoteThread"


def test_file_create_and_raw_access(atomic: list[dict[str, Any]]) -> None:
    created = to_ecs(_first(atomic, 11))
    assert created["file"]["extension"] == "pf"
    assert created["file"]["directory"] == "C:\\Windows\\Prefetch"
    assert created["event"]["type"] == ["creation"]
    raw_read = to_ecs(_first(atomic, 9))
    assert raw_read["file"]["path"] == "\\Device\\Floppy0"


def test_pipes_become_file_names(atomic: list[dict[str, Any]]) -> None:
    connected = to_ecs(_first(atomic, 18))
    assert connected["file"]["name"] == "\\wkssvc"
    assert "path" not in connected["file"]
    assert connected["event"]["action"] == "PipeEvent (Pipe Connected)"


def test_registry_set_value(atomic: list[dict[str, Any]]) -> None:
    raw = _first(atomic, 13)
    doc = to_ecs(raw)
    registry = doc["registry"]
    assert registry["path"] == raw["TargetObject"]
    assert registry["hive"] == raw["TargetObject"].split("\\")[0]
    assert registry["path"] == registry["hive"] + "\\" + registry["key"]
    assert registry["value"] == raw["TargetObject"].rsplit("\\", 1)[1]
    assert registry["data"]["strings"]
    assert "Details" not in doc["winlog"].get("event_data", {})


def test_network_connection(atomic: list[dict[str, Any]]) -> None:
    raw = _first(atomic, 3, DestinationIp="151.101.48.133")
    doc = to_ecs(raw)
    assert doc["source"]["domain"] == raw["SourceHostname"]
    assert doc["destination"] == {"ip": "151.101.48.133", "port": 443}
    assert doc["network"]["transport"] == "tcp"
    assert doc["network"]["protocol"] == "https"
    assert doc["network"]["type"] == "ipv4"
    assert doc["network"]["community_id"].startswith("1:")
    assert doc["related"]["ip"] == [raw["SourceIp"], "151.101.48.133"]
    assert doc["user"] == {"domain": "ART-DESKTOP", "name": "bob"}


# Synthetic records below: built from the documented Sysmon field shapes, not captured.


@pytest.mark.parametrize(
    ("details", "strings", "kind"),
    [
        ("DWORD (0x00000010)", "16", "SZ_DWORD"),
        ("QWORD (0x00000001-0x00000002)", str((1 << 32) + 2), "SZ_QWORD"),
        ("Binary Data", "Binary Data", "REG_BINARY"),
        ("C:\\evil.exe", "C:\\evil.exe", "REG_SZ"),
    ],
)
def test_registry_data_types(details: str, strings: str, kind: str) -> None:
    doc = to_ecs(
        {"EventID": 13, "TargetObject": "HKLM\\Software\\Run\\x", "Details": details}
    )  # synthetic
    assert doc["registry"]["data"] == {"strings": [strings], "type": kind}


def test_dns_answers_and_question_parts() -> None:
    doc = to_ecs(
        {
            "EventID": 22,
            "QueryName": "www.example.co.uk",
            "QueryStatus": "0",
            "QueryResults": "type:  5 edge.example.net;::ffff:192.0.2.7;2001:db8::1;",
        }
    )  # synthetic
    dns = doc["dns"]
    assert dns["answers"] == [
        {"type": "CNAME", "data": "edge.example.net"},
        {"type": "A", "data": "192.0.2.7"},
        {"type": "AAAA", "data": "2001:db8::1"},
    ]
    assert dns["resolved_ip"] == ["192.0.2.7", "2001:db8::1"]
    assert dns["question"]["registered_domain"] == "example.co.uk"
    assert dns["question"]["top_level_domain"] == "co.uk"
    assert dns["question"]["subdomain"] == "www"
    assert doc["related"]["hosts"] == ["edge.example.net", "www.example.co.uk"]
    assert doc["related"]["ip"] == ["192.0.2.7", "2001:db8::1"]
    assert doc["sysmon"]["dns"]["status"] == "SUCCESS"
    assert doc["network"]["protocol"] == "dns"


def test_rule_name_error_code_and_stream_hash() -> None:
    err = to_ecs({"EventID": 255, "ID": "6", "Description": "x", "RuleName": "t1"})  # synthetic
    assert err["error"]["code"] == "6"
    assert err["rule"]["name"] == "t1"
    assert err["event"]["type"] == ["error"]
    stream = to_ecs(
        {"EventID": 15, "TargetFilename": "C:\\a.txt:Zone.Identifier", "Hash": "SHA256=ABCD"}
    )  # synthetic
    assert stream["file"]["hash"] == {"sha256": "abcd"}
    assert stream["related"]["hash"] == ["abcd"]


def test_driver_load_signature() -> None:
    doc = to_ecs(
        {
            "EventID": 6,
            "ImageLoaded": "C:\\Windows\\System32\\drivers\\x.sys",
            "Hashes": "SHA1=00,MD5=AA",
            "Signed": "true",
            "Signature": "Microsoft Windows",
            "SignatureStatus": "Valid",
        }
    )  # synthetic
    assert doc["file"]["code_signature"] == {
        "subject_name": "Microsoft Windows",
        "status": "Valid",
        "valid": True,
        "trusted": True,
    }
    assert doc["file"]["hash"] == {"md5": "aa"}  # an all-zero hash is no hash
    assert "dll" not in doc
    assert doc["event"]["category"] == ["driver"]


def test_timestamps() -> None:
    assert parse_utc_time("2019-05-12 18:35:05.140") == "2019-05-12T18:35:05.140Z"
    assert parse_utc_time("2019-05-12 18:35:05") == "2019-05-12T18:35:05.000Z"
    assert parse_utc_time("yesterday") is None
    assert parse_iso_time("2020-10-28T02:39:26.388325200Z") == "2020-10-28T02:39:26.388Z"
    assert parse_iso_time("2019-05-12T18:35:05.7809493Z UTC") == "2019-05-12T18:35:05.780Z"
    assert parse_iso_time("2022-08-02T12:45:22.760491+05:45") == "2022-08-02T07:00:22.760Z"


def test_timestamp_falls_back_to_time_created() -> None:
    event = {
        "System": {
            "EventID": 1,
            "TimeCreated": {"#attributes": {"SystemTime": "2019-05-12T18:35:05.155949Z"}},
        },
        "EventData": {"UtcTime": "not a time"},
    }  # synthetic
    doc = to_ecs(event)
    assert doc["@timestamp"] == "2019-05-12T18:35:05.155Z"
    assert doc["event"]["created"] == "2019-05-12T18:35:05.155Z"


def test_hash_parsing() -> None:
    assert parse_hashes("SHA1=AB,MD5=CD,IMPHASH=00000000") == {"sha1": "ab", "md5": "cd"}
    assert parse_hashes("garbage") == {}
