"""`IpAddress` of Security events: `cidr` tests `source.ip`, which Elastic's security
pipeline writes from it (and so does our normaliser), while string tests keep reading the
EventData text (where `-` lives). Before, `IpAddress|cidr` was the rule's error."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from eqlwatch.sysmon.normalize import normalize_record, to_record

ROOT = Path(__file__).resolve().parents[2]
RULE = """
title: RDP Logon From a Public Address
id: 0b7f3c52-6a1e-4d0b-8f3a-2c9d5e7a1b44
status: test
description: eqlwatch test rule in the shape of SigmaHQ's external RDP logon rules.
author: eqlwatch
date: 2026-12-07
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4624
        LogonType: 10
    filter_local:
        IpAddress|cidr:
            - '::1/128'
            - '10.0.0.0/8'
            - '127.0.0.0/8'
            - '192.168.0.0/16'
            - 'fe80::/10'
    filter_empty:
        IpAddress: '-'
    condition: selection and not 1 of filter_*
level: medium
"""


def logon(record_id: int, ip: str, logon_type: str = "10") -> dict[str, object]:
    """A 4624 as evtx-rs `records_json()` writes it."""
    created = {"#attributes": {"SystemTime": f"2026-12-01T10:00:{record_id:02d}Z"}}
    return {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
                "EventID": 4624,
                "Channel": "Security",
                "Computer": "dc01.example.org",
                "EventRecordID": record_id,
                "TimeCreated": created,
            },
            "EventData": {"TargetUserName": "alice", "LogonType": logon_type, "IpAddress": ip},
        }
    }


def test_the_normaliser_writes_source_ip_and_keeps_the_text() -> None:
    cases = {"203.0.113.7": "203.0.113.7", "::ffff:192.168.1.9": "192.168.1.9",
             "fe80::1": "fe80::1", "-": None, "": None, "dc02": None}  # fmt: skip
    for raw, want in cases.items():
        doc = normalize_record(to_record(logon(1, raw)))
        assert doc.get("source", {}).get("ip") == want, raw
        # the text stays, except what the normaliser drops from every EventData ("-", "")
        kept = doc["winlog"].get("event_data", {}).get("IpAddress")
        assert kept == (raw if raw not in ("-", "") else None), raw


def test_cidr_on_ipaddress_through_hunt(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rdp.yml").write_text(RULE, encoding="utf-8")
    events = [
        logon(1, "203.0.113.7"),  # public: alert
        logon(2, "10.20.30.40"),
        logon(3, "::ffff:192.168.1.9"),  # IPv4-mapped private
        logon(4, "-"),
        logon(5, "198.51.100.1", logon_type="3"),  # not RDP
        logon(6, "2001:db8::5"),  # public IPv6: alert
    ]
    data = tmp_path / "security.json"
    data.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    convert = subprocess.run(
        [sys.executable, "-m", "eqlwatch", "convert", str(tmp_path / "rules" / "rdp.yml")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert convert.returncode == 0, convert.stderr
    query = tomllib.loads(convert.stdout)["rule"]["query"]
    assert 'cidrMatch(source.ip, "10.0.0.0/8")' in query
    assert 'winlog.event_data.IpAddress : "-"' in query
    proc = subprocess.run(
        [sys.executable, "-m", "eqlwatch", "hunt", "--rules", str(tmp_path / "rules"),
         "--format", "ndjson", str(data)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    alerts = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    # The `-` logon has no source.ip (the normaliser drops `-`), so `not cidrMatch(source.ip,
    # ...)` is true for it, as Elasticsearch's `must_not` terms query is where the field is
    # missing, and the rule's `IpAddress: '-'` filter finds no `-` left to exclude.
    ips = sorted(a.get("source", {}).get("ip", "(none)") for a in alerts)
    assert ips == ["(none)", "2001:db8::5", "203.0.113.7"]
