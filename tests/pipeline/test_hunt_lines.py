"""Raw Windows lines screened before they are parsed give exactly the unscreened hunt.

NXLog and evtx-rs JSON lines and EVTX records are screened on their bytes
(`pipeline/hunt_lines.py`); keyed sequences note later-stage lines and parse only those
holding a first-stage key. Every comparison here is against `screen=False`, which parses,
normalises and offers every record to every rule.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from eqlwatch.engine import compile_query
from eqlwatch.engine.needles import raw_filters, raw_hold_key
from eqlwatch.pipeline.hunt import hunt_files
from eqlwatch.pipeline.hunt_lines import LineRules
from eqlwatch.rules import Rule, load_rules
from tests.pipeline.test_hunt import alert_docs, assert_same, hit_keys, run
from tests.pipeline.test_hunt_raw import DATA_KEYS, VALUES, make_rules, query

SYSMON = ("Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational")
GUID = "0AB1C2D3-1111-2222-3333-444455556666"
OTHER_GUID = "9F8E7D6C-1111-2222-3333-444455556666"


@pytest.fixture(scope="module")
def pack(repo_root: Path) -> list[Rule]:
    return [r for r in load_rules([repo_root / "queries"]).rules if r.eqlwatch.enabled]


@pytest.fixture(scope="module")
def gen_raw(repo_root: Path) -> ModuleType:
    """The bench's NXLog writer (bench/gen_raw.py), which the raw bench measures."""
    spec = importlib.util.spec_from_file_location("gen_raw", repo_root / "bench" / "gen_raw.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nxlog(eid: int, data: dict[str, Any], number: int, *, sysmon: bool = True) -> dict[str, Any]:
    provider, channel = SYSMON if sysmon else ("Microsoft-Windows-Security-Auditing", "Security")
    message = "\r\n".join(f"{k}: {v}" for k, v in data.items())
    return {
        "EventTime": f"2026-01-01 00:00:{number % 60:02}",
        "Hostname": "PC1",
        "EventID": eid,
        "SourceName": provider,
        "Channel": channel,
        "RecordNumber": number,
        **data,
        "Message": f"Event {eid}:\r\n{message}",
    }


# ---- needles ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ('process where process.name == "regsvr32.exe"', [[{b"regsvr32.exe"}, "process"]]),
        ("library where true", [[{b"<sysmon:7>"}]]),
        ("any where true", [[]]),
        # GUIDs are written `{UPPER}` whatever the record held: no brace in the needle
        (f'any where process.entity_id == "{{{GUID}}}"', [[{GUID.lower().encode()}]]),
        ('any where process.entity_id : "{0AB1*"', [[]]),  # braces in a pattern: no needle
    ],
)
def test_raw_filters_are_what_a_record_must_hold(text: str, groups: list[list[Any]]) -> None:
    found = [[set(g) for g in f] for f in raw_filters(compile_query(text))]
    process = {n for n in found[0][-1] if n.startswith(b"<sysmon:")} if found[0] else set()
    expected = [[process if g == "process" else g for g in f] for f in groups]
    assert found == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("sequence by process.entity_id [process where true] [library where true]", 0),
        ("sequence by host.id, process.entity_id [process where true] [library where true]", 1),
        (
            "sequence by user.name [process where true] [library where true] "
            "until [any where true]",
            0,
        ),
        # a derived key (its text is not in the record), a missing stage, a sample: none
        ("sequence by process.pid [process where true] [library where true]", None),
        (
            "sequence by process.entity_id with maxspan=1m [process where true] "
            "![library where true] [file where true]",
            None,
        ),
        ("sample by process.entity_id [process where true] [library where true]", None),
        ("process where true", None),
    ],
)
def test_hold_key_only_where_the_key_is_record_text(text: str, key: int | None) -> None:
    assert raw_hold_key(compile_query(text)) == key


def test_rules_decide_from_needles_and_event_id() -> None:
    rules = LineRules(
        [
            compile_query('process where process.name : "regsvr32.exe"'),
            compile_query(
                "sequence by process.entity_id "
                '[process where process.name : "regsvr32.exe"] [library where true]'
            ),
        ]
    )
    line = orjson.dumps(nxlog(7, {"Image": "C:\\x\\notepad.exe"}, 1))
    found = rules.scan(line)
    assert found is not None
    decision = rules.decide((7, True), found)
    assert (decision.now, decision.hold) == (False, (1,))  # an image load: noted for rule 1
    assert rules.decide((3, True), found).hold == ()  # a connection: no rule wants it
    found = rules.scan(line.replace(b"notepad", b"REGSVR32"))
    assert found is not None
    assert rules.decide((1, True), found).now
    # a \u escape may hide a needle: the line is parsed
    assert rules.scan(line.replace(b"notepad", b"\\u0072egsvr32")) is None


# Event ids with a tag of their own (Sysmon's, a Security one, one no rule names), both ways.
HEADS = [
    (eid, sysmon) for eid in [*range(1, 32), 255, 4624, 4688, 9999] for sysmon in (True, False)
]


@settings(max_examples=60, deadline=None)
@given(queries=st.lists(query(), min_size=1, max_size=3), data=st.data())
def test_a_blind_decision_is_the_decision_for_every_head(
    queries: list[str], data: st.DataObject
) -> None:
    """`blind_decision` (what the EVTX screen uses without looking the head up) is never
    wrong: for the needles found, every event id and Sysmon-or-not decides the same."""
    rules = LineRules([compile_query(q) for q in queries])
    tags = set(rules.tag_ids.values())
    literals = sorted({j for r in rules.ids for f in r for g in f for j in g} - tags)
    found = (
        frozenset(data.draw(st.lists(st.sampled_from(literals), max_size=4)))
        if literals
        else frozenset()
    )
    blind = rules.blind_decision(found)
    if blind is not None:
        assert {rules.decide(head, found) for head in HEADS} == {blind}


def test_records_without_needles_need_no_head_when_every_filter_has_a_literal() -> None:
    rules = LineRules(
        [
            compile_query('process where process.name : "regsvr32.exe"'),
            compile_query('network where process.name : ("RegAsm.exe", "RegSvcs.exe")'),
        ]
    )
    assert rules.blind_decision(frozenset()) == rules.decide((1, True), frozenset())
    assert not rules.blind_decision(frozenset()).now  # type: ignore[union-attr]
    # a rule whose filter holds no literal (only its event ids) needs the head
    rules = LineRules(
        [
            compile_query(
                "sequence by process.entity_id "
                '[process where process.name : "regsvr32.exe"] [library where true]'
            ),
        ]
    )
    assert rules.blind_decision(frozenset()) is None
    assert rules.decide((7, True), frozenset()).hold == (0,)
    assert rules.decide((3, True), frozenset()).hold == ()


# ---- soundness --------------------------------------------------------------------------


def test_every_shipped_capture_as_nxlog_gives_the_same_alerts(
    data_dir: Path, pack: list[Rule], repo_root: Path, gen_raw: ModuleType, tmp_path: Path
) -> None:
    records = gen_raw.captures(data_dir / "evtx-attack-samples" / "ndjson")
    path = tmp_path / "captures.nxlog.json"
    path.write_bytes(b"".join(gen_raw.generate(records, len(records))))
    result = assert_same(pack, [path], repo_root)
    assert sum(len(hits) for _, hits in result.hits) > 0
    assert result.counts.events == len(records)
    assert 0 < result.counts.normalized < result.counts.events / 10


def test_cli_hunt_over_nxlog_prints_the_unscreened_alerts(
    data_dir: Path, pack: list[Rule], repo_root: Path, gen_raw: ModuleType, tmp_path: Path
) -> None:
    """Through the CLI, with a damaged line in the middle: reported, and nothing lost."""
    from eqlwatch.cli.app import app

    records = gen_raw.captures(data_dir / "evtx-attack-samples" / "ndjson")
    lines = list(gen_raw.generate(records, len(records)))
    at = len(lines) // 2
    lines.insert(at, lines[0][:40] + b"\n")
    path = tmp_path / "captures.nxlog.json"
    path.write_bytes(b"".join(lines))
    args = ["hunt", "--rules", str(repo_root / "queries"), "--format", "ndjson", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0  # a malformed record is skipped, reported and counted
    assert "1 malformed skipped" in result.output
    assert f"{path}:{at + 1}: invalid JSON" in result.output
    printed = [orjson.loads(line) for line in result.stdout.splitlines() if "alert_id" in line]
    plain, _ = run(pack, [path], screen=False)
    expected = alert_docs(plain, repo_root)
    assert len(printed) == len(expected) > 0
    assert sorted(a["eqlwatch"]["alert_id"] for a in printed) == sorted(
        a["eqlwatch"]["alert_id"] for a in expected
    )


def test_later_stages_are_parsed_only_for_first_stage_keys(
    tmp_path: Path, pack: list[Rule], repo_root: Path
) -> None:
    """Image loads wait for a regsvr32 start with their process GUID, however spelled."""
    start = nxlog(
        1,
        {
            "Image": "C:\\Windows\\System32\\regsvr32.exe",
            "ProcessGuid": f"{{{GUID}}}",
            "CommandLine": "regsvr32 /s C:\\x\\a.dll",
            "UtcTime": "2026-01-01 00:00:01.000",
        },
        2,
    )

    def load(guid: str, number: int) -> dict[str, Any]:
        return nxlog(
            7,
            {
                "Image": "C:\\x\\host.exe",
                "ImageLoaded": "C:\\x\\a.dll",
                "ProcessGuid": guid,
                "Signed": "false",
                "UtcTime": f"2026-01-01 00:00:0{number}.000",
            },
            number,
        )

    docs = [load(GUID.lower(), 1), start, load(GUID.lower(), 3), load(OTHER_GUID, 4)]
    path = tmp_path / "sequence.nxlog.json"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    result = assert_same(pack, [path], repo_root)
    hits = [h for rule, hs in result.hits for h in hs if "Unsigned" in rule.name]
    assert len(hits) == 1
    assert result.counts.normalized == 3  # the start, and the loads of its GUID only


def test_a_file_changed_before_its_noted_lines_are_read_again_is_reported(
    tmp_path: Path, pack: list[Rule]
) -> None:
    rules = [r for r in pack if "Unsigned" in r.name]
    start = nxlog(1, {"Image": "C:\\x\\regsvr32.exe", "ProcessGuid": GUID}, 1)
    load = nxlog(7, {"ImageLoaded": "C:\\x\\a.dll", "ProcessGuid": GUID}, 2)
    path = tmp_path / "changing.nxlog.json"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in (start, load, load)))
    errors: list[str] = []

    def rewrite(done: Path) -> None:  # after the first pass, before the noted lines
        done.write_bytes(b"\n" + done.read_bytes()[:-5])

    hunt_files(rules, [path], on_error=lambda e: errors.append(str(e)), on_file=rewrite)
    assert errors == [f"{path}:2: file changed while it was read"]


EIDS = [1, 1, 3, 7, 7, 11, 4688]
GUIDS = [f"{{{GUID}}}", GUID.lower(), f"{{{OTHER_GUID.lower()}}}", OTHER_GUID]


@st.composite
def record(draw: st.DrawFn) -> dict[str, Any]:
    eid = draw(st.sampled_from(EIDS))
    keys = draw(st.lists(st.sampled_from(DATA_KEYS), unique=True, min_size=1, max_size=5))
    data: dict[str, Any] = {k: draw(st.sampled_from(VALUES)) for k in keys}
    data["ProcessGuid"] = draw(st.sampled_from(GUIDS))
    data["UtcTime"] = f"2026-01-01 00:00:{draw(st.integers(0, 9)):02}.000"
    return nxlog(eid, data, 0, sysmon=eid != 4688)


STYLES = ["orjson"] * 6 + ["ascii", "broken", "text-id", "no-host", "big", "blank", "array", "cr"]


def render(rec: dict[str, Any], style: str) -> bytes:
    line = orjson.dumps(rec)
    if style == "ascii":
        return json.dumps(rec, ensure_ascii=True).encode()
    if style == "broken":
        return line[: len(line) // 2]
    if style == "text-id":
        return orjson.dumps(rec | {"EventID": str(rec["EventID"])})
    if style == "no-host":  # named by its content: identical records must keep their ids
        return orjson.dumps({k: v for k, v in rec.items() if k != "Hostname"})
    if style in ("", "no-data"):
        return line
    if style == "big":
        return line[:-1] + b',"Size":1e999}'
    if style == "blank":
        return b"  "
    if style == "array":
        return b"[1]"
    return line + b"\r" + line  # a lone CR ends a line for a text read


def winlogbeat(rec: dict[str, Any], style: str) -> dict[str, Any]:
    """The same record as Winlogbeat writes it (before Elastic's ingest pipeline)."""
    meta = {"EventTime", "Hostname", "EventID", "SourceName", "Channel", "RecordNumber", "Message"}
    eid = rec["EventID"] if style != "text-id" else str(rec["EventID"])
    winlog = {
        "event_id": eid,
        "record_id": rec["RecordNumber"],
        "provider_name": rec["SourceName"],
        "channel": rec["Channel"],
        "event_data": {k: v for k, v in rec.items() if k not in meta},
    }
    if style != "no-host":
        winlog["computer_name"] = rec["Hostname"]
    if style == "no-data":  # read from event.original instead, when it is event XML
        winlog["event_data"] = {}
    return {
        "@timestamp": "2026-01-01T00:00:00.000Z",
        "winlog": winlog,
        "event": {"code": str(rec["EventID"]), "original": "<Event><System/></Event>"},
        "message": rec["Message"],
    }


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    queries=st.lists(query(), min_size=1, max_size=4),
    records=st.lists(
        st.tuples(record(), st.sampled_from([*STYLES, "no-data"])), min_size=1, max_size=20
    ),
    fast=st.booleans(),
    shape=st.sampled_from(["nxlog", "winlogbeat"]),
)
def test_random_rules_over_random_lines_screened_or_not(
    queries: list[str],
    records: list[tuple[dict[str, Any], str]],
    fast: bool,
    shape: str,
    tmp_path: Path,
    repo_root: Path,
) -> None:
    rules = make_rules(queries, repo_root)
    lines = []
    for n, (rec, style) in enumerate(records, 1):
        rec["RecordNumber"] = n
        if shape == "winlogbeat":
            beat = winlogbeat(rec, style)
            kept = style if style in ("broken", "big", "blank", "array", "cr", "ascii") else ""
            lines.append(render(beat, kept) + b"\n")
        else:
            lines.append(render(rec, style) + b"\n")
    path = tmp_path / "raw.nxlog.json"
    path.write_bytes(b"".join(lines))
    screened, screened_errors = run(rules, [path], screen=True, fast=fast)
    plain, plain_errors = run(rules, [path], screen=False)
    assert hit_keys(screened) == hit_keys(plain)
    assert [r.rule_id for r, _ in screened.failed] == [r.rule_id for r, _ in plain.failed]
    assert screened_errors == plain_errors
    assert screened.counts.events == plain.counts.events


def test_winlogbeat_lines_are_screened_too(
    tmp_path: Path, pack: list[Rule], repo_root: Path
) -> None:
    start = nxlog(1, {"Image": "C:\\x\\regsvr32.exe", "CommandLine": "regsvr32 /s /i:x.sct"}, 1)
    other = [nxlog(eid, {"Image": "C:\\x\\notepad.exe"}, n) for n, eid in ((2, 1), (3, 3), (4, 11))]
    path = tmp_path / "beat.ndjson"
    path.write_bytes(b"".join(orjson.dumps(winlogbeat(r, "")) + b"\n" for r in [start, *other]))
    result = assert_same(pack, [path], repo_root)
    assert sum(len(hits) for _, hits in result.hits) > 0
    assert (result.counts.events, result.counts.normalized) == (4, 1)
