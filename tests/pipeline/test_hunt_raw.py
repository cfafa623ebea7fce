"""Raw Windows records screened before normalising give exactly the unscreened hits."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.engine import compile_query
from eqlwatch.engine.needles import raw_needles
from eqlwatch.errors import DataError
from eqlwatch.pipeline.hunt import HuntResult, hunt_files
from eqlwatch.rules import Rule
from eqlwatch.rules.loader import parse_rule
from tests.pipeline.test_hunt import assert_same, hit_keys

CAPTURES = ["evtx-attack-samples/ndjson", "evtx-attack-samples/evtx"]


def run(rules: list[Rule], paths: list[Path], *, screen: bool) -> tuple[HuntResult, list[str]]:
    errors: list[str] = []

    def keep(error: DataError) -> None:
        errors.append(str(error))

    return hunt_files(rules, paths, on_error=keep, screen=screen), errors


@pytest.fixture(scope="module")
def pack(repo_root: Path) -> list[Rule]:
    from eqlwatch.rules import load_rules

    return [r for r in load_rules([repo_root / "queries"]).rules if r.eqlwatch.enabled]


@pytest.mark.parametrize("folder", CAPTURES)
def test_every_shipped_capture_gives_the_same_alerts_screened(
    folder: str, data_dir: Path, pack: list[Rule], repo_root: Path
) -> None:
    result = assert_same(pack, [data_dir / folder], repo_root)
    assert sum(len(hits) for _, hits in result.hits) > 0
    # most records concern no rule of the pack and are never normalised
    assert 0 < result.counts.normalized < result.counts.events / 2


def test_unscreened_run_normalises_every_record(data_dir: Path, pack: list[Rule]) -> None:
    plain, _ = run(pack, [data_dir / CAPTURES[1]], screen=False)
    assert plain.counts.normalized == plain.counts.events > 0


@pytest.mark.parametrize(
    ("query", "needles"),
    [
        ('process where process.name == "regsvr32.exe"', {b"regsvr32.exe"}),
        ('process where process.command_line : "*\\\\scrobj.dll*"', {b"\\\\scrobj.dll"}),
        ('any where winlog.event_data.Description in~ ("A", "b")', {b"a", b"b"}),
        # derived fields give no needle: the record holds no such text
        ('any where event.type == "start"', None),
        ('any where process.args : "/s"', None),
        ('any where registry.hive == "HKLM"', None),
        ("any where true", None),
        # the category and the event code come from the event id: its tags
        ("library where true", {b"<sysmon:7>"}),
        ('any where event.category == "library"', {b"<sysmon:7>"}),
        ('any where event.code in ("1", "4688")', {b"<eid:1>", b"<eid:4688>"}),
        ('any where event.code : "4*"', None),
        # an `and` needs one usable test; an `or` needs one in every branch
        ('any where process.args : "/s" and process.name : "x.exe"', {b"x.exe"}),
        ('any where process.args : "/s" or process.name : "x.exe"', None),
    ],
)
def test_raw_needles(query: str, needles: set[bytes] | None) -> None:
    found = raw_needles(compile_query(query))
    assert (None if found is None else set(found)) == needles


# ---- property: random rules over random raw records -----------------------------------

TEMPLATE = "queries/regsvr32_renamed.toml"
QUOTES = "'''"
QUOTE_OPEN = f"query = {QUOTES}"
EXES = ["C:\\Windows\\System32\\regsvr32.exe", "C:\\x\\REGSVR32.EXE", "C:\\t\\cmd.exe"]
VALUES = [
    *EXES,
    "regsvr32 /s /i:http://x/a.sct scrobj.dll",
    '"C:\\t\\cmd.exe" /c "a\\"b"',
    "cmd.exe",
    "Microsoft(C) Register Server",
    "\u212aelvin.exe",  # lower-cases to ASCII "kelvin.exe"
    "tcp",
    "IEWIN7\\bob",
    "bob",
]
DATA_KEYS = [
    "Image",
    "CommandLine",
    "ParentImage",
    "ParentCommandLine",
    "TargetFilename",
    "ImageLoaded",
    "Description",
    "OriginalFileName",
    "User",
    "Protocol",
]
FIELDS = [
    "process.name",
    "process.executable",
    "process.command_line",
    "process.parent.name",
    "process.args",
    "process.pe.original_file_name",
    "file.path",
    "file.name",
    "dll.name",
    "user.name",
    "host.name",
    "network.transport",
    "winlog.event_data.Description",
    "event.code",
    "event.action",
]
LITERALS = [
    "regsvr32.exe",
    "REGSVR32.EXE",
    "*\\\\regsvr32.exe",
    "*scrobj*",
    "cmd.exe",
    "*.sct*",
    "bob",
    "IEWIN7",
    "tcp",
    "1",
    "kelvin*",
    "*/c*",
    "C:\\\\x\\\\*",
]


@st.composite
def condition(draw: st.DrawFn) -> str:
    leaves = []
    for _ in range(draw(st.integers(1, 2))):
        field = draw(st.sampled_from(FIELDS))
        op = draw(st.sampled_from(["==", ":", "like~", "in~", "!="]))
        values = draw(st.lists(st.sampled_from(LITERALS), min_size=1, max_size=2))
        literal = ", ".join(f'"{v}"' for v in values)
        if op in ("==", "!="):
            literal = f'"{values[0]}"'
        elif op == "in~" or len(values) > 1:
            literal = f"({literal})"
        leaves.append(f"{field} {op} {literal}")
    return f" {draw(st.sampled_from(['and', 'or']))} ".join(leaves)


@st.composite
def query(draw: st.DrawFn) -> str:
    def stage() -> str:
        category = draw(st.sampled_from(["process", "file", "library", "any", "network"]))
        return f"{category} where {draw(condition())}"

    kind = draw(st.sampled_from(["filter", "filter", "sequence", "until", "missing"]))
    if kind == "filter":
        return stage()
    by = draw(st.sampled_from(["process.entity_id", "host.name", "user.name"]))
    if kind == "missing":
        return f"sequence by {by} with maxspan=1h [{stage()}] ![{stage()}] [{stage()}]"
    until = f" until [{stage()}]" if kind == "until" else ""
    return f"sequence by {by} [{stage()}] [{stage()}]{until}"


def make_rules(queries: list[str], repo_root: Path) -> list[Rule]:
    template = (repo_root / TEMPLATE).read_text()
    rules = []
    for text in queries:
        head, _, rest = template.partition(QUOTE_OPEN)
        body = f"{head}{QUOTE_OPEN}\n{text}\n{QUOTES}{rest.partition(QUOTES)[2]}"
        body = body.replace("f67d2470-0d41-4d8f-b4a1-4fb1982e2231", str(uuid.uuid4()))
        rule, errors = parse_rule(body, file="random.toml")
        assert rule is not None, (text, errors)
        rules.append(rule)
    return rules


@st.composite
def record(draw: st.DrawFn) -> dict[str, Any]:
    eid = draw(st.sampled_from([1, 1, 3, 7, 11, 4688]))
    sysmon = eid != 4688
    keys = draw(st.lists(st.sampled_from(DATA_KEYS), unique=True, min_size=1, max_size=6))
    data: dict[str, Any] = {k: draw(st.sampled_from(VALUES)) for k in keys}
    data["ProcessGuid"] = draw(st.sampled_from(["{A-1}", "{B-2}"]))
    return {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon" if sysmon else "X"}},
            "EventID": eid,
            "Channel": "Microsoft-Windows-Sysmon/Operational" if sysmon else "Security",
            "Computer": draw(st.sampled_from(["IEWIN7", "pc2"])),
            "EventRecordID": 0,
            "TimeCreated": {"#attributes": {"SystemTime": ""}},
        },
        "EventData": data,
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    queries=st.lists(query(), min_size=1, max_size=4),
    records=st.lists(record(), min_size=1, max_size=20),
)
def test_random_rules_over_random_records_screened_or_not(
    queries: list[str], records: list[dict[str, Any]], tmp_path: Path, repo_root: Path
) -> None:
    rules = make_rules(queries, repo_root)
    for n, rec in enumerate(records):
        rec["System"]["EventRecordID"] = n + 1
        rec["System"]["TimeCreated"]["#attributes"]["SystemTime"] = f"2026-01-01T00:00:{n:02}Z"
    path = tmp_path / "raw.json"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    screened, screened_errors = run(rules, [path], screen=True)
    plain, plain_errors = run(rules, [path], screen=False)
    assert hit_keys(screened) == hit_keys(plain)
    assert [r.rule_id for r, _ in screened.failed] == [r.rule_id for r, _ in plain.failed]
    assert screened_errors == plain_errors
    assert screened.counts.events == plain.counts.events


def test_only_the_listed_characters_lower_case_to_ascii() -> None:
    """The screen lets other non-ASCII text through screening: check this interpreter."""
    from eqlwatch.pipeline.linematch import LOWERS_TO_ASCII

    found = [
        chr(c)
        for c in range(0x80, 0x110000)
        if not 0xD800 <= c < 0xE000 and any(ord(x) < 0x80 for x in chr(c).lower())
    ]
    assert found == list(LOWERS_TO_ASCII)


def test_records_with_a_character_lowering_to_ascii_go_to_every_rule(
    tmp_path: Path, repo_root: Path
) -> None:
    rules = make_rules(['process where process.name : "kelvin.exe"'], repo_root)
    rec = {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "pc",
            "EventRecordID": 1,
            "TimeCreated": {"#attributes": {"SystemTime": "2026-01-01T00:00:00Z"}},
        },
        "EventData": {"Image": "C:\\x\\\u212aelvin.exe", "Product": "Microsoft\u00ae"},
    }
    path = tmp_path / "raw.json"
    path.write_bytes(orjson.dumps(rec) + b"\n" + orjson.dumps(rec | {"EventData": {}}) + b"\n")
    result, _ = run(rules, [path], screen=True)
    assert [len(hits) for _, hits in result.hits] == [1]
    assert result.counts.normalized == 1  # the record without the name was never normalised


def _damaged_evtx(data_dir: Path, tmp_path: Path) -> Path:
    """A shipped capture with the string table of its third chunk overwritten: the parser
    cannot read that chunk's records, and reads the others."""
    source = data_dir / "evtx-attack-samples/evtx/AutomatedTestingTools"
    data = bytearray((source / "PanacheSysmon_vs_AtomicRedTeam01.evtx").read_bytes())
    start = 0x1000 + 2 * 0x10000 + 0x600  # file header, two chunks, into the third
    data[start : start + 64] = b"\xff" * 64
    path = tmp_path / "damaged.evtx"
    path.write_bytes(data)
    return path


def test_a_damaged_evtx_chunk_is_reported_alike_screened_or_not(
    data_dir: Path, tmp_path: Path, pack: list[Rule], repo_root: Path
) -> None:
    path = _damaged_evtx(data_dir, tmp_path)
    result = assert_same(pack, [path], repo_root)  # same hits, alerts, errors and counts
    errors: list[str] = []
    hunt_files(pack, [path], on_error=lambda e: errors.append(str(e)))
    assert len(errors) == 1
    assert errors[0].startswith(f"{path} [record 88]: unreadable EVTX record: ")
    assert "record IDs 88..124" in errors[0]
    assert result.counts.malformed == 1
    assert sum(len(hits) for _, hits in result.hits) > 0  # the other chunks were read


def test_cli_hunt_over_a_damaged_evtx_names_the_record_and_exits_1(
    data_dir: Path, tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from eqlwatch.cli.app import app

    path = _damaged_evtx(data_dir, tmp_path)
    monkeypatch.chdir(repo_root)
    args = ["hunt", "--rules", "queries", "--format", "ndjson", "--no-progress", str(path)]
    result = CliRunner().invoke(app, args, catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert f"not read {path} [record 88]: unreadable EVTX record" in result.output
    lines = result.output.splitlines()
    alerts = [orjson.loads(line) for line in lines if line.startswith('{"@timestamp"')]
    assert len(alerts) == 8  # the records of the other chunks were read and alerted on


def test_evtx_image_loads_held_for_a_later_stage_come_back_from_the_spill_file(
    data_dir: Path, repo_root: Path
) -> None:
    """An image load holds no needle of the first stage's filter (`event.code == "1"`), so
    it is only noted during the pass, its text written to a spill file; once the process
    starts are known, the loads of those processes are read back and complete the hits."""
    query = (
        "sequence by process.entity_id with maxspan=5m"
        ' [process where event.code == "1" and process.name : ("regsvr32.exe", "rundll32.exe",'
        ' "cmd.exe", "powershell.exe", "mshta.exe", "wscript.exe", "cscript.exe")]'
        " [library where true]"
    )
    rules = make_rules([query], repo_root)
    result = assert_same(rules, [data_dir / "evtx-attack-samples/evtx"], repo_root)
    hits = [hit for _, hits in result.hits for hit in hits]
    assert len(hits) >= 5
    assert all(len(hit.events) == 2 for hit in hits)
    assert result.counts.normalized < result.counts.events
