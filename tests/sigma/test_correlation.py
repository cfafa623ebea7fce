"""Sigma correlations: temporal_ordered is an EQL sequence; the other types are refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eqlwatch.rules import load_rules
from eqlwatch.sigma import SigmaConversionError, sigma_rule_data

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests/data/evtx-attack-samples/evtx/Execution/exec_sysmon_lobin_regsvr32_sct.evtx"

# In the shape of the Sigma specification's examples: two base rules (generate: false)
# and a correlation naming them, joined on the process through an alias.
CORRELATION = """
title: regsvr32 start
name: regsvr32_start
id: 8f2e0a52-4b0e-4d1c-9a43-0d7e5c2a0001
logsource:
    category: process_creation
    product: windows
detection:
    sel:
        Image|endswith: '\\\\regsvr32.exe'
    condition: sel
---
title: connection out
name: outbound_connection
id: 8f2e0a52-4b0e-4d1c-9a43-0d7e5c2a0002
logsource:
    category: network_connection
    product: windows
detection:
    sel:
        Initiated: 'true'
    condition: sel
---
title: regsvr32 then a connection of the same process
id: 8f2e0a52-4b0e-4d1c-9a43-0d7e5c2a0003
level: high
tags:
    - attack.t1218.010
correlation:
    type: TYPE
    rules:
        - regsvr32_start
        - outbound_connection
    group-by:
        - proc
    aliases:
        proc:
            regsvr32_start: ProcessGuid
            outbound_connection: ProcessGuid
    timespan: 2m
    condition:
        gte: 1
"""


def test_temporal_ordered_is_a_sequence() -> None:
    data = sigma_rule_data(CORRELATION.replace("TYPE", "temporal_ordered"))
    body = data["rule"]
    assert body["rule_id"] == "8f2e0a52-4b0e-4d1c-9a43-0d7e5c2a0003"
    assert body["severity"] == "high"
    assert body["query"] == (
        "sequence with maxspan=120s\n"
        '  [process where event.type == "start" and process.executable : "*\\\\regsvr32.exe"]'
        " by process.entity_id\n"
        '  [network where dns.question.name == null and network.direction == "egress"]'
        " by process.entity_id"
    )


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("temporal", "temporal (the rules' events in any order) has no EQL form"),
        ("event_count", "event_count needs an aggregation"),
        ("value_count", "value_count needs an aggregation"),
    ],
)
def test_other_types_are_refused(kind: str, reason: str) -> None:
    text = CORRELATION.replace("TYPE", kind)
    if kind == "value_count":
        text = text.replace("        gte: 1", "        gte: 1\n        field: User")
    with pytest.raises(SigmaConversionError, match=re.escape(reason)):
        sigma_rule_data(text)


def _hunt(rules: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "eqlwatch",
            "hunt",
            "--rules",
            str(rules),
            "--format",
            "ndjson",
            str(CAPTURE),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_sequence_order_is_kept_on_the_capture(tmp_path: Path) -> None:
    """Squiblydoo: Sysmon logged regsvr32's connection (18:35:04.463) before its process
    start (18:35:05.140), same ProcessGuid. The ordered correlation start → connection finds
    nothing; connection → start finds the pair, once."""
    rule = tmp_path / "corr.yml"
    rule.write_text(CORRELATION.replace("TYPE", "temporal_ordered"), encoding="utf-8")
    assert load_rules([tmp_path]).errors == ()
    assert _hunt(tmp_path) == []
    reversed_rule = CORRELATION.replace("TYPE", "temporal_ordered").replace(
        "        - regsvr32_start\n        - outbound_connection",
        "        - outbound_connection\n        - regsvr32_start",
    )
    rule.write_text(reversed_rule, encoding="utf-8")
    alerts = _hunt(tmp_path)
    assert len(alerts) == 1
    assert alerts[0]["eqlwatch"]["kind"] == "sequence"
    assert len(alerts[0]["eqlwatch"]["events"]) == 2
