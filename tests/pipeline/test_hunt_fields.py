"""EVTX records screened with needles tied to their fields give exactly the unscreened hunt.

A needle of a test on `process.name` is looked for only in the values of `Image`,
`SourceImage` and `Destination` (`pipeline/hunt_fields.py`). The records here put each
literal where it counts and where it does not (the command line, another key, a key
spelled in another case), written with escapes, in other case, beside non-ASCII text,
as numbers and as `{"#text": ...}` elements; screened and plain hunts must agree on the
hits and the alert documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.engine import compile_query
from eqlwatch.engine.needles import Tied, raw_filters
from eqlwatch.pipeline.hunt_fields import field_look, tied_keys
from eqlwatch.rules import Rule, load_rules
from eqlwatch.sysmon.mapping import field_sources
from tests.pipeline.test_hunt import alert_docs, assert_same, hit_keys, run
from tests.pipeline.test_hunt_evtx import (  # noqa: F401 - the fixture
    FakeParser,
    evtx_text,
    fake_evtx,
    parser_item,
)
from tests.pipeline.test_hunt_lines import nxlog
from tests.pipeline.test_hunt_raw import make_rules

TIED = [
    "process.name",
    "process.executable",
    "process.parent.name",
    "process.pe.original_file_name",
    "process.command_line",
    "file.name",
    "file.path",
    "dll.name",
]
UNTIED = ["winlog.event_data.Image", "host.name", "process.entity_id", "user.name"]
LITERALS = ["regasm.exe", "RegAsm.exe", "*\\regasm.exe", "C:\\w\\regasm.exe", "*asm*", 'a"b*']
KEYS = [
    "Image",
    "SourceImage",
    "Destination",
    "CommandLine",
    "ParentImage",
    "OriginalFileName",
    "TargetFilename",
    "ImageLoaded",
    "PipeName",
    "image",
    "Extra",
]
PIECES = ["C:", "\\w\\", "RegAsm.exe", "regasm.EXE", "cmd.exe", " /c ", '"', 'a"b', "é", "®"]
VALUE = st.one_of(
    st.sampled_from(["C:\\w\\RegAsm.exe", "regasm.EXE", "C:\\w\\cmd.exe"]),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join),
    st.integers(0, 9),
    st.builds(lambda v: {"#text": v}, st.sampled_from(["C:\\w\\regasm.exe", "cmd.exe"])),
)
STYLES = ["plain"] * 8 + ["escaped", "latin1-host", "wide-data", "surrogate"]


@st.composite
def query(draw: st.DrawFn) -> str:
    leaves = []
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from([*TIED, *TIED, *UNTIED]))
        op = draw(st.sampled_from(["==", ":", "like~", "in~"]))
        value = draw(st.sampled_from(LITERALS))
        if op == "in~":
            other = draw(st.sampled_from(LITERALS))
            leaves.append(f'{field} in~ ("{value}", "{other}")'.replace("*", ""))
        else:
            leaves.append(f'{field} {op} "{value}"')
    join = f" {draw(st.sampled_from(['and', 'or']))} "
    category = draw(st.sampled_from(["process", "file", "library", "any"]))
    stage = f"{category} where {join.join(leaves).replace(chr(92), chr(92) * 2)}"
    if draw(st.booleans()):
        return stage
    return f"sequence by process.entity_id [{stage}] [any where true]"


@st.composite
def record(draw: st.DrawFn) -> tuple[int, dict[str, Any], str]:
    eid = draw(st.sampled_from([1, 1, 3, 7, 11, 17, 4688]))
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, min_size=1, max_size=5))
    data: dict[str, Any] = {k: draw(VALUE) for k in keys}
    data["ProcessGuid"] = draw(st.sampled_from(["{A-1}", "{B-2}"]))
    return eid, data, draw(st.sampled_from(STYLES))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    queries=st.lists(query(), min_size=1, max_size=3),
    records=st.lists(record(), min_size=1, max_size=12),
    fast=st.booleans(),
)
def test_random_rules_over_records_with_literals_in_other_fields_screened_or_not(
    queries: list[str],
    records: list[tuple[int, dict[str, Any], str]],
    fast: bool,
    fake_evtx: Path,  # noqa: F811 - the fixture
    repo_root: Path,
) -> None:
    rules = make_rules(queries, repo_root)
    FakeParser.records = [
        parser_item(evtx_text(eid, data, n, style), n, style)
        for n, (eid, data, style) in enumerate(records, 1)
    ]
    screened, screened_errors = run(rules, [fake_evtx], screen=True, fast=fast)
    plain, plain_errors = run(rules, [fake_evtx], screen=False)
    assert hit_keys(screened) == hit_keys(plain)
    assert screened_errors == plain_errors
    assert screened.counts.events == plain.counts.events
    assert alert_docs(screened, repo_root) == alert_docs(plain, repo_root)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    queries=st.lists(query(), min_size=1, max_size=3),
    records=st.lists(record(), min_size=2, max_size=12),
    fast=st.booleans(),
)
def test_random_rules_over_nxlog_lines_with_literals_in_other_fields_screened_or_not(
    queries: list[str],
    records: list[tuple[int, dict[str, Any], str]],
    fast: bool,
    tmp_path: Path,
    repo_root: Path,
) -> None:
    """The same over NXLog lines (EventData keys beside NXLog's own, the rendered
    `Message` holding every value again as text); `escaped` lines are written with
    `\\uXXXX` escapes for their non-ASCII text."""
    rules = make_rules(queries, repo_root)
    lines = [orjson.dumps(nxlog(1, {"Image": "C:\\w\\x.exe"}, 0))]  # the first is parsed
    for n, (eid, data, style) in enumerate(records, 1):
        record = nxlog(eid if eid != 17 else 1, data, n, sysmon=eid != 4688)
        text = orjson.dumps(record)
        if style == "escaped":
            text = text.decode().encode("ascii", "backslashreplace").replace(b"\\x", b"\\u00")
        lines.append(text)
    path = tmp_path / "lines.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    screened, screened_errors = run(rules, [path], screen=True, fast=fast)
    plain, plain_errors = run(rules, [path], screen=False)
    assert hit_keys(screened) == hit_keys(plain)
    assert screened_errors == plain_errors
    assert screened.counts.events == plain.counts.events
    assert alert_docs(screened, repo_root) == alert_docs(plain, repo_root)


def test_a_literal_only_in_the_command_line_is_not_normalised_for_process_name(
    fake_evtx: Path,  # noqa: F811 - the fixture
    repo_root: Path,
) -> None:
    """The case the tie is for: `cmd.exe /c ...\\regasm.exe` passes the plain needles but
    cannot be `process.name : "regasm.exe"`; the starts of regasm.exe itself are found,
    one with its image written as an element (`{"#text": ...}`, read as its text)."""
    rules = make_rules(['process where process.name : "RegAsm.exe"'], repo_root)
    cmd: dict[str, Any] = {
        "Image": "C:\\w\\cmd.exe",
        "CommandLine": "cmd /c C:\\w\\RegAsm.exe x.dll",
    }
    regasm: dict[str, Any] = {"Image": "C:\\w\\RegAsm.exe", "CommandLine": "RegAsm.exe x.dll"}
    element: dict[str, Any] = {"Image": {"#text": "C:\\w\\REGASM.EXE"}, "CommandLine": "x"}
    FakeParser.records = [
        parser_item(evtx_text(1, data | {"ProcessGuid": f"{{A-{n}}}"}, n, "plain"), n, "plain")
        for n, data in enumerate([cmd, regasm, cmd, element], 1)
    ]
    screened, errors = run(rules, [fake_evtx], screen=True)
    plain, _ = run(rules, [fake_evtx], screen=False)
    assert errors == []
    assert hit_keys(screened) == hit_keys(plain)
    assert len(hit_keys(screened)[0][1]) == 2
    assert (screened.counts.events, screened.counts.normalized) == (4, 2)


def test_or_over_fields_ties_the_union_and_a_plain_branch_unties_it() -> None:
    tied = raw_filters(
        compile_query('process where process.name : "a.exe" or process.pe.description : "b c"')
    )[0]
    group = next(g for g in tied if b"a.exe" in g)
    assert isinstance(group, Tied)
    assert group.fields == {"process.name", "process.pe.description"}
    assert tied_keys(group) == frozenset({"Image", "SourceImage", "Destination", "Description"})
    untied = raw_filters(
        compile_query('process where process.name : "a.exe" or host.name : "b.exe"')
    )[0]
    assert tied_keys(next(g for g in untied if b"a.exe" in g)) is None


def test_the_field_look_reads_values_of_the_keys_alone_and_any_non_string_value() -> None:
    look = field_look(
        [(b"regasm.exe", frozenset({"Image"})), (b"\\\\w", frozenset({"Image"}))],
        {b"regasm.exe": 0, b"\\\\w": 1},
    )
    both = frozenset({0, 1})
    assert look(b'{"Image":"C:\\\\W\\\\REGASM.exe"}', both) == frozenset({0, 1})
    assert look(b'{"CommandLine":"regasm.exe","Image":"cmd.exe"}', both) == frozenset()
    assert look(b'{"image" :\t7}', both) == frozenset({0, 1})  # a number or an element: any needle
    assert look(b'{"E": [{"Image": {"#text": "x"}}]}', both) == frozenset({0, 1})
    assert look('{"Image":"a\\"x", "Other":"regasm.exe"}', both) == frozenset()
    assert look(b'{"Image":"regasm.exe"}', frozenset({1})) == frozenset()  # only needles found
    assert look(b'{"Image": "regasm.exe"', both) is None  # no JSON: the plain answer


def test_shipped_evtx_captures_with_the_quiet_pack_rules_normalise_fewer(
    data_dir: Path, repo_root: Path
) -> None:
    """The two pack rules with no hit on the captures: their literals are in command lines
    of `cmd.exe` starts; only records with them in `Image` or the PE fields are read."""
    names = ["regsvcs_regasm_no_arguments.toml", "regsvcs_regasm_public_network_connection.toml"]
    rules: list[Rule] = list(load_rules([repo_root / "queries" / n for n in names]).rules)
    assert len(rules) == 2
    result = assert_same(rules, [data_dir / "evtx-attack-samples/evtx"], repo_root)
    assert result.counts.normalized < 5


SOURCES = sorted((f, k) for f, keys in field_sources().items() for k in sorted(keys))


@pytest.mark.parametrize("fmt", ["evtx", "nxlog"])
@pytest.mark.parametrize(("field", "key"), SOURCES)
def test_a_literal_in_any_source_of_its_field_is_found(
    field: str,
    key: str,
    fmt: str,
    fake_evtx: Path,  # noqa: F811 - the fixture
    tmp_path: Path,
    repo_root: Path,
) -> None:
    """Every key `field_sources` names is looked in: the record holds the literal in that
    key alone (no key the mapping prefers beside it), and the hit is the plain one; in an
    EVTX record and on an NXLog line (after a first line, which is always parsed)."""
    eid = 7 if field.startswith(("dll.", "file.pe.")) else 11 if field.startswith("file.") else 1
    pattern = {"file.extension": "ex*"}.get(field, "*regasm.exe")
    rules = make_rules([f'any where {field} like~ "{pattern}"'], repo_root)
    data = {key: "C:\\RegAsm.exe\\x.exe" if field == "file.directory" else "C:\\w\\RegAsm.exe"}
    FakeParser.records = [parser_item(evtx_text(eid, data, 1, "plain"), 1, "plain")]
    path = fake_evtx
    if fmt == "nxlog":
        path = tmp_path / "lines.json"
        first = nxlog(1, {"Image": "C:\\w\\x.exe"}, 1)
        path.write_bytes(orjson.dumps(first) + b"\n" + orjson.dumps(nxlog(eid, data, 2)) + b"\n")
    screened, errors = run(rules, [path], screen=True)
    plain, _ = run(rules, [path], screen=False)
    assert errors == []
    assert hit_keys(screened) == hit_keys(plain)
    assert len(hit_keys(plain)[0][1]) == 1
