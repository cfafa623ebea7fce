"""Sigma YAML files load like TOML rules: converted EQL, metadata, clear per-rule errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eqlwatch.engine.lucene import compile_lucene
from eqlwatch.rules import load_rules
from eqlwatch.sigma import SigmaConversionError, sigma_rule_data
from eqlwatch.sigma.regex import RegexError, to_lucene

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "tests/data/evtx-attack-samples/evtx/Execution"

REGSVR32 = """
title: Regsvr32 Scriptlet From the Network
id: 4b1a3a8c-1f0e-4f55-9d0f-1c7c3c1f0a01
status: test
description: regsvr32 fetching a COM scriptlet over HTTP.
references:
    - https://attack.mitre.org/techniques/T1218/010/
author: Someone, Someone Else
date: 2024-01-02
tags:
    - attack.defense-evasion
    - attack.execution
    - attack.t1218.010
logsource:
    category: process_creation
    product: windows
detection:
    selection_img:
        - Image|endswith: '\\regsvr32.exe'
        - OriginalFileName: 'REGSVR32.EXE'
    selection_cli:
        CommandLine|contains|windash: '/i:http'
    filter_main:
        ParentImage|startswith: 'C:\\Program Files\\'
    condition: all of selection_* and not 1 of filter_*
falsepositives:
    - Installers
level: high
"""


def _rule(detection: str, category: str = "process_creation") -> str:
    return f"""title: t
id: 00000000-0000-4000-8000-000000000001
logsource:
    category: {category}
    product: windows
detection:
{detection}
level: low
"""


def test_metadata_and_query() -> None:
    data = sigma_rule_data(REGSVR32)
    body = data["rule"]
    assert body["rule_id"] == "4b1a3a8c-1f0e-4f55-9d0f-1c7c3c1f0a01"
    assert body["name"] == "Regsvr32 Scriptlet From the Network"
    assert (body["severity"], body["risk_score"]) == ("high", 73)
    assert body["false_positives"] == ["Installers"]
    assert body["author"] == ["Someone", "Someone Else"]
    assert body["references"] == ["https://attack.mitre.org/techniques/T1218/010/"]
    tactics = [t["tactic"]["id"] for t in body["threat"]]
    assert tactics == ["TA0005", "TA0002"]
    technique = body["threat"][0]["technique"][0]
    assert technique["id"] == "T1218"
    assert [s["id"] for s in technique["subtechnique"]] == ["T1218.010"]
    query = body["query"]
    assert query.startswith('process where event.type == "start" and ')
    assert 'process.executable : "*\\\\regsvr32.exe"' in query
    assert 'process.pe.original_file_name : "REGSVR32.EXE"' in query
    assert 'process.command_line : "*-i:http*"' in query  # windash expanded
    assert 'not process.parent.executable : "C:\\\\Program Files\\\\*"' in query
    assert ".caseless" not in query


@pytest.mark.parametrize(
    ("detection", "expected"),
    [
        ("    sel:\n        Initiated: 'true'", 'network.direction == "egress"'),
        (
            "    sel:\n        DestinationIp|cidr: '10.0.0.0/8'",
            'cidrMatch(destination.ip, "10.0.0.0/8")',
        ),
        (
            "    sel:\n        DestinationIp|startswith: '192.168.'",
            'cidrMatch(destination.ip, "192.168.0.0/16")',
        ),
        ("    sel:\n        DestinationPort: 4444", "destination.port == 4444"),
        ("    sel:\n        DestinationIp: '127.0.0.1'", 'destination.ip == "127.0.0.1"'),
    ],
)
def test_network_values(detection: str, expected: str) -> None:
    query = sigma_rule_data(_rule(detection + "\n    condition: sel", "network_connection"))
    assert expected in query["rule"]["query"]


@pytest.mark.parametrize(
    ("detection", "category", "expected"),
    [
        (
            "    sel:\n        Details: 'DWORD (0x00000010)'",
            "registry_set",
            'registry.data.strings : "16"',
        ),
        (
            "    sel:\n        Details|startswith: 'DWORD'",
            "registry_set",
            'registry.data.type == "SZ_DWORD"',
        ),
        ("    sel:\n        Signed: 'false'", "image_load", "file.code_signature.trusted == false"),
        (
            "    sel:\n        Hashes|contains: 'IMPHASH=ABCDEF'",
            "process_creation",
            'process.pe.imphash : "abcdef"',
        ),
        (
            "    sel:\n        User|contains: 'AUTHORI'",
            "process_creation",
            'user.domain : "*AUTHORI*" or user.name : "*AUTHORI*"',
        ),
        (
            "    sel:\n        User: 'NT AUTHORITY\\SYSTEM'",
            "process_creation",
            '(user.domain : "NT AUTHORITY" and user.name : "SYSTEM")',
        ),
        (
            "    sel:\n        CommandLine|contains: 'a\\*b'",
            "process_creation",
            'process.command_line regex~ ".*a\\\\*b.*"',
        ),
        (
            "    sel:\n        CommandLine|cased: 'Foo'",
            "process_creation",
            'process.command_line like "Foo"',
        ),
        (
            "    sel:\n        CommandLine|exists: true",
            "process_creation",
            "process.command_line != null",
        ),
        (
            "    sel:\n        IntegrityLevel: 'High'",
            "process_creation",
            'winlog.event_data.IntegrityLevel : "High"',
        ),
        (
            "    sel:\n        CommandLine|re: '^a.c$'",
            "process_creation",
            'process.command_line regex "a.c"',
        ),
        (
            "    sel:\n        CommandLine|re|i: 'x[0-9]+'",
            "process_creation",
            'process.command_line regex~ ".*x[0-9]+.*"',
        ),
    ],
)
def test_field_values(detection: str, category: str, expected: str) -> None:
    query = sigma_rule_data(_rule(detection + "\n    condition: sel", category))["rule"]["query"]
    assert expected in query


@pytest.mark.parametrize(
    ("pattern", "samples"),
    [
        ("a.c", ["abc", "xxabcxx", "ac", "ABC"]),
        ("^foo|bar$", []),  # refused below
        ("(?i)^power(shell)?\\.exe$", ["powershell.exe", "POWER.EXE", "xpower.exe", "power.exe"]),
        ("(?:ab|cd){2}", ["abcd", "xxcdcdx", "abx", "ab"]),
        ('say "hi" <now> #1 @x & ~y', ['say "hi" <now> #1 @x & ~y', "say hi"]),
        ("[^\\\\]+\\.dll$", ["a.dll", "C:\\x\\a.dll", "\\.dll"]),
        ("x.*?y", ["xay", "xy", "yx"]),
        ("a(\\s|)b(|c)d", ["a b", "ab", "abd", "abcd", "a bcd", "axb"]),
    ],
)
def test_regex_translation_matches_python(pattern: str, samples: list[str]) -> None:
    """What re.search matches, the translated Lucene regex matches (and only that)."""
    import re

    if not samples:
        with pytest.raises(RegexError):
            to_lucene(pattern)
        return
    rx = to_lucene(pattern)
    matcher = compile_lucene([rx.pattern], rx.insensitive)
    flags = re.IGNORECASE if rx.insensitive else 0
    for sample in samples:
        assert matcher(sample) == bool(re.search(pattern, sample, flags)), (pattern, sample)


@pytest.mark.parametrize(
    "pattern", ["\\bword\\b", "(?=x)y", "a(?<!b)", "(a)\\1", "a^b", "x(?i)y", "a++"]
)
def test_regex_refused_with_reason(pattern: str) -> None:
    with pytest.raises(RegexError):
        to_lucene(pattern)


def test_folder_mixes_good_and_broken_sigma(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(REGSVR32, encoding="utf-8")
    (tmp_path / "linux.yml").write_text(
        REGSVR32.replace("product: windows", "product: linux").replace("4b1a", "5b1a"),
        encoding="utf-8",
    )
    (tmp_path / "broken.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    (tmp_path / "fieldref.yml").write_text(
        _rule("    sel:\n        User|fieldref: ParentUser\n    condition: sel"), encoding="utf-8"
    )
    result = load_rules([tmp_path])
    assert [r.name for r in result.rules] == ["Regsvr32 Scriptlet From the Network"]
    messages = {Path(str(e.location.file)).name: e.message for e in result.errors if e.location}
    assert set(messages) == {"linux.yml", "broken.yaml", "fieldref.yml"}
    assert "product 'linux'" in messages["linux.yml"]
    assert "fieldref" in messages["fieldref.yml"]
    assert "invalid" in messages["broken.yaml"]


def _hunt(rules: Path, *files: Path) -> tuple[int, list[dict[str, object]], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "eqlwatch", "hunt", "--rules", str(rules), "--format", "ndjson"]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    alerts = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, alerts, proc.stderr


def test_hunt_with_a_sigma_rule_on_a_real_capture(tmp_path: Path) -> None:
    """The Squiblydoo capture (Sysmon EVTX) fires the Sigma rule through our normaliser."""
    (tmp_path / "rule.yml").write_text(REGSVR32, encoding="utf-8")
    code, alerts, err = _hunt(tmp_path, CAPTURES / "exec_sysmon_lobin_regsvr32_sct.evtx")
    assert code == 0, err
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["rule"]["name"] == "Regsvr32 Scriptlet From the Network"  # type: ignore[index]
    extras = alert["eqlwatch"]
    assert isinstance(extras, dict)
    note = str(extras["note"])
    assert "Installers" in note  # the false positives reach the default note
    assert "https://attack.mitre.org/techniques/T1218/010/" in note
    assert "attack.t1218.010" in alert["tags"]  # type: ignore[operator]


def test_eqlwatch_validate_names_the_sigma_file(tmp_path: Path) -> None:
    bad = tmp_path / "queries" / "bad.yml"
    bad.parent.mkdir()
    bad.write_text(REGSVR32.replace("category: process_creation", "category: clipboard"))
    proc = subprocess.run(
        [sys.executable, "-m", "eqlwatch", "validate", str(bad.parent)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "bad.yml" in proc.stderr
    assert "category 'clipboard' is not mapped" in proc.stderr


def _service_rule(service: str, detection: str, category: str | None = None) -> str:
    logsource = f"    service: {service}\n" + (f"    category: {category}\n" if category else "")
    return f"""title: s
id: 00000000-0000-4000-8000-000000000002
logsource:
    product: windows
{logsource}detection:
{detection}
    condition: sel
level: low
"""


def test_services_and_powershell() -> None:
    security = _service_rule(
        "security", "    sel:\n        EventID: 4688\n        NewProcessName|endswith: '\\\\x.exe'"
    )
    query = sigma_rule_data(security)["rule"]["query"]
    assert query == (
        'any where winlog.channel : "Security" and (event.code : "4688" and '
        'winlog.event_data.NewProcessName : "*\\\\x.exe")'
    )
    script = _service_rule(
        "powershell", "    sel:\n        ScriptBlockText|contains: 'Invoke-Mimikatz'", "ps_script"
    )
    query = sigma_rule_data(script)["rule"]["query"]
    assert (
        '(powershell.file.script_block_text : "*Invoke-Mimikatz*" or '
        'winlog.event_data.ScriptBlockText : "*Invoke-Mimikatz*")'
    ) in query
    assert 'event.code == "4104"' in query


def test_dns_fields_the_pipeline_rewrites_or_drops() -> None:
    status = _rule("    sel:\n        QueryStatus: '9003'\n    condition: sel", "dns_query")
    assert (
        'sysmon.dns.status == "DNS_ERROR_RCODE_NAME_ERROR"'
        in sigma_rule_data(status)["rule"]["query"]
    )
    dropped = _rule(
        "    sel:\n        QueryResults|contains: '::ffff:'\n    condition: sel", "dns_query"
    )
    with pytest.raises(SigmaConversionError, match="QueryResults: dropped"):
        sigma_rule_data(dropped)
