"""EVTX records screened on the parser's text give exactly the unscreened hunt.

The screen encodes each text as Latin-1 when it can (`hunt_lines.evtx_scans`), scans it
without the too-big-number test and decodes its System block from those bytes. No EVTX
writer exists, so these tests put a stand-in for `evtx.PyEvtxParser` under the reader:
it yields what the real one does (`{"event_record_id", "timestamp", "data"}` with the
record's JSON text), raises where a damaged chunk would, and the texts hold what the
shipped captures do not: non-ASCII host and provider names, characters above U+00FF,
escapes, lone surrogates, records without a System block or a computer.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.engine.needles import NON_ASCII
from eqlwatch.pipeline.hunt_lines import evtx_scans
from eqlwatch.sysmon import sources
from eqlwatch.sysmon.sources import EVTX_MAGIC
from tests.pipeline.test_hunt import run
from tests.pipeline.test_hunt_raw import DATA_KEYS, FIELDS, LITERALS, VALUES, make_rules

SYSMON = ("Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational")
SECURITY = ("Microsoft-Windows-Security-Auditing", "Security")
XMLNS = {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"}


class Damaged(Exception):
    """What the parser raises for a record of a damaged chunk."""


def evtx_text(eid: Any, data: dict[str, Any], number: int, style: str) -> Any:
    """One record as the `evtx` parser gives it: its JSON text (or, for the styles that
    stand for a damaged file, the exception or odd value the parser would give)."""
    provider, channel = SECURITY if eid == 4688 else SYSMON
    computer = {"latin1-host": "Zürich-PC", "wide-host": "ПК-1", "dash-host": "-"}.get(
        style, "IEWIN7"
    )
    system: dict[str, Any] = {
        "Provider": {"#attributes": {"Name": provider, "Guid": "5770385F-C22A-43E0"}},
        "EventID": {"#attributes": {"Qualifiers": 0}, "#text": eid} if eid == 4688 else eid,
        "Version": 5,
        "TimeCreated": {"#attributes": {"SystemTime": f"2026-01-01T00:00:{number % 60:02}Z"}},
        "EventRecordID": number,
        "Channel": channel,
        "Computer": computer,
    }
    if style == "latin1-provider":
        system["Provider"]["#attributes"]["Name"] = "Microsoft-Windows-Sysmön"
    if style == "text-id":
        system["EventID"] = str(eid)
    if style == "no-host":
        del system["Computer"]
    event: dict[str, Any] = {"#attributes": XMLNS, "System": system, "EventData": data}
    if style == "no-system":
        del event["System"]
    if style == "latin1-data":
        data = data | {"Product": "Microsoft® Windows® Operating System"}
    if style == "wide-data":
        data = data | {"Description": "İnstaller 中文"}
    event["EventData"] = data
    record = {"Event": event} if style != "bare" else event
    if style == "escaped":
        return json.dumps(record | {"Note": "é"}, ensure_ascii=True)
    text = orjson.dumps(record).decode()
    if style == "surrogate":
        return text.replace("IEWIN7", "IEWIN7\ud800")
    return text


STYLES = ["plain"] * 6 + [
    "latin1-host",
    "wide-host",
    "dash-host",
    "latin1-provider",
    "latin1-data",
    "wide-data",
    "text-id",
    "no-host",
    "no-system",
    "bare",
    "escaped",
    "surrogate",
    "raise",
    "not-dict",
    "no-data",
]


class _Records:
    """An iterator that raises for some records and goes on, as the parser does."""

    def __init__(self, items: list[Any]) -> None:
        self.items = iter(items)

    def __iter__(self) -> _Records:
        return self

    def __next__(self) -> Any:
        item = next(self.items)
        if isinstance(item, Exception):
            raise item
        return item


class FakeParser:
    """Stands in for `evtx.PyEvtxParser`: yields the records `FakeParser.records` holds."""

    records: ClassVar[list[Any]] = []

    def __init__(self, source: Any, *args: Any, **kwargs: Any) -> None:
        self.source = source

    def records_json(self) -> _Records:
        return _Records(FakeParser.records)


@pytest.fixture
def fake_evtx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A file the reader takes for EVTX, read by `FakeParser`."""
    import evtx

    monkeypatch.setattr(evtx, "PyEvtxParser", FakeParser)
    path = tmp_path / "fake.evtx"
    path.write_bytes(EVTX_MAGIC + b"\x00" * 64)
    return path


def parser_item(text: Any, number: int, style: str) -> Any:
    if style == "raise":
        return Damaged(f"chunk damaged at record {number}")
    if style == "not-dict":
        return ["not", "a", "record"]
    if style == "no-data":
        return {"event_record_id": number, "timestamp": "x"}
    return {"event_record_id": number, "timestamp": "x", "data": text}


NON_ASCII_LITERALS = ["*é*", "Zürich-PC", "*ПК*", "*®*", "*İ*"]


@st.composite
def condition(draw: st.DrawFn) -> str:
    leaves = []
    for _ in range(draw(st.integers(1, 2))):
        field = draw(st.sampled_from([*FIELDS, "winlog.event_data.Product"]))
        op = draw(st.sampled_from(["==", ":", "like~", "!="]))
        value = draw(st.sampled_from([*LITERALS, *NON_ASCII_LITERALS]))
        leaves.append(f'{field} {op} "{value}"')
    return f" {draw(st.sampled_from(['and', 'or']))} ".join(leaves)


@st.composite
def query(draw: st.DrawFn) -> str:
    def stage() -> str:
        category = draw(st.sampled_from(["process", "file", "library", "any", "network"]))
        return f"{category} where {draw(condition())}"

    if draw(st.booleans()):
        return stage()
    return f"sequence by process.entity_id [{stage()}] [{stage()}]"


@st.composite
def record(draw: st.DrawFn) -> tuple[int, dict[str, Any], str]:
    eid = draw(st.sampled_from([1, 1, 3, 7, 11, 4688]))
    keys = draw(st.lists(st.sampled_from(DATA_KEYS), unique=True, min_size=1, max_size=5))
    data: dict[str, Any] = {k: draw(st.sampled_from([*VALUES, "C:\\é\\cmd.exe"])) for k in keys}
    data["ProcessGuid"] = draw(st.sampled_from(["{A-1}", "{B-2}"]))
    return eid, data, draw(st.sampled_from(STYLES))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    queries=st.lists(query(), min_size=1, max_size=3),
    records=st.lists(record(), min_size=1, max_size=16),
    fast=st.booleans(),
)
def test_random_rules_over_random_evtx_records_screened_or_not(
    queries: list[str],
    records: list[tuple[int, dict[str, Any], str]],
    fast: bool,
    fake_evtx: Path,
    repo_root: Path,
) -> None:
    rules = make_rules(queries, repo_root)
    FakeParser.records = [
        parser_item(evtx_text(eid, data, n, style), n, style)
        for n, (eid, data, style) in enumerate(records, 1)
    ]
    screened, screened_errors = run(rules, [fake_evtx], screen=True, fast=fast)
    plain, plain_errors = run(rules, [fake_evtx], screen=False)
    assert [(r.rule_id, h) for r, h in screened.hits] == [(r.rule_id, h) for r, h in plain.hits]
    assert screened_errors == plain_errors
    assert (screened.counts.events, screened.counts.malformed) == (
        plain.counts.events,
        plain.counts.malformed,
    )


def test_a_non_ascii_host_is_screened_from_latin1_bytes_and_still_found(
    fake_evtx: Path, repo_root: Path
) -> None:
    """`Zürich-PC` does not decode from Latin-1 bytes as UTF-8: the head is read again
    from UTF-8, and the records stay screened (not read straight): only the hit's record
    is normalised, and found; so is a host name above U+00FF (a UTF-8 scan)."""
    rules = make_rules(['process where process.name : "cmd.exe"'], repo_root)
    image = {"Image": "C:\\t\\cmd.exe", "ProcessGuid": "{A-1}"}
    other = {"Image": "C:\\t\\notepad.exe", "ProcessGuid": "{A-2}"}
    FakeParser.records = [
        parser_item(evtx_text(1, data, n, style), n, style)
        for n, (data, style) in enumerate(
            [(other, "latin1-host"), (image, "latin1-host"), (other, "wide-host")], 1
        )
    ]
    result, errors = run(rules, [fake_evtx], screen=True)
    assert errors == []
    hits = [hit for _, hits in result.hits for hit in hits]
    assert [hit.events[0].source["host"]["name"] for hit in hits] == ["Zürich-PC"]
    assert (result.counts.events, result.counts.normalized) == (3, 1)


def test_damaged_records_are_numbered_and_reported_in_place(
    fake_evtx: Path, repo_root: Path
) -> None:
    rules = make_rules(['process where process.name : "cmd.exe"'], repo_root)
    image = {"Image": "C:\\t\\cmd.exe", "ProcessGuid": "{A-1}"}
    styles = ["plain", "raise", "raise", "not-dict", "no-system", "plain"]
    FakeParser.records = [
        parser_item(evtx_text(1, image, n, style), n, style) for n, style in enumerate(styles, 1)
    ]
    for screen in (True, False):
        result, errors = run(rules, [fake_evtx], screen=screen)
        assert [e.split(": ", 1)[0] for e in errors] == [
            f"{fake_evtx} [record {n}]" for n in (2, 3, 4, 5)
        ]
        assert "chunk damaged at record 2" in errors[0]
        assert [len(hits) for _, hits in result.hits] == [2]


def test_reading_stops_after_a_thousand_damaged_records_in_a_row() -> None:
    good = {"data": "{}"}
    items: list[Any] = [good, *[Damaged("x")] * 999, good, *[Damaged("y")] * 1000, good]
    out = list(sources._evtx_loop(_Records(items), parse=False))
    numbers = [n for n, _ in out]
    assert numbers[:3] == [1, 2, 3]
    assert out[1000] == (1001, "{}")  # 999 in a row: read on
    assert numbers[-1] == 0  # the 1000th in a row stops the file
    assert str(out[-1][1]).endswith("too many unreadable EVTX records; stopped")
    assert len(out) == 1 + 999 + 1 + 1000 + 1


# ---- the Latin-1 scan -------------------------------------------------------------------

PIECES = [*'acmdex.\\u/\x7f"éÿ®Ä°İ中', "cmd.exe", "REGSVR32.EXE", "\\scrobj", "\\\\u", "\\u0041"]
NEEDLES = [b"regsvr32.exe", b"cmd.exe", b"\\scrobj", b"pc", b"\x7f", *sorted(NON_ASCII)]


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(st.sampled_from(PIECES), max_size=24).map("".join),
    fast=st.booleans(),
)
def test_latin1_scan_finds_what_the_utf8_scan_finds(text: str, fast: bool) -> None:
    """Every needle group the UTF-8 bytes satisfy, the Latin-1 bytes satisfy too: ASCII
    needles in the same texts, a lead byte in every non-ASCII text; a text the UTF-8 scan
    gives up on (an escape, a character lower-casing to ASCII) the Latin-1 scan gives up
    on too."""
    codec, narrow, wide = evtx_scans(NEEDLES, fast)
    assert codec == "latin-1"
    utf8 = wide(text.encode())
    try:
        latin1 = narrow(text.encode("latin-1"))
    except UnicodeEncodeError:
        return  # such a text is scanned as UTF-8
    if utf8 is None:
        assert latin1 is None
        return
    if latin1 is None:  # only a Latin-1 "Ä°" (the UTF-8 bytes of İ) may give up more often
        assert "Ä°" in text
        return
    lead = {i for i, n in enumerate(NEEDLES) if not n.isascii()}
    assert latin1 - lead == utf8 - lead
    assert bool(latin1 & lead) == (not text.isascii()) == bool(utf8 & lead)


def test_a_non_ascii_literal_needle_scans_utf8() -> None:
    codec, narrow, _ = evtx_scans([b"cmd.exe", "zürich".encode()], True)
    assert codec == "utf-8"
    assert narrow("Zürich-PC".lower().encode()) == frozenset({1})


@pytest.mark.parametrize(
    "query",
    [
        'process where host.name == "Zürich-PC"',
        'any where host.name : "*ürich*"',
        'any where winlog.event_data.Product : "*®*"',
        'process where process.executable : "C:\\\\é\\\\*"',
        'any where winlog.event_data.Description : "*中*"',
        'process where process.name : "cmd.exe"',
    ],
)
def test_every_record_style_under_non_ascii_literals_screened_or_not(
    query: str, fake_evtx: Path, repo_root: Path
) -> None:
    rules = make_rules([query], repo_root)
    images = ["C:\\t\\cmd.exe", "C:\\é\\cmd.exe", "C:\\t\\notepad.exe"]
    FakeParser.records = [
        parser_item(evtx_text(1, {"Image": image, "ProcessGuid": "{A-1}"}, n, style), n, style)
        for n, (image, style) in enumerate(
            ((image, style) for image in images for style in STYLES), 1
        )
    ]
    screened, screened_errors = run(rules, [fake_evtx], screen=True)
    plain, plain_errors = run(rules, [fake_evtx], screen=False)
    assert [(r.rule_id, h) for r, h in screened.hits] == [(r.rule_id, h) for r, h in plain.hits]
    assert sum(len(hits) for _, hits in plain.hits) > 0
    assert screened_errors == plain_errors
    assert screened.counts.events == plain.counts.events


@settings(max_examples=300, deadline=None)
@given(
    value=st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**63), 2**64 - 1)
    | st.sampled_from([1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 2**64 - 1])
)
def test_numbers_a_64_bit_writer_can_write_are_read_by_the_straight_read(
    value: float | int,
) -> None:
    """Why EVTX texts are scanned without the too-big-number test: the parser writes
    numbers from 64-bit integers and finite doubles (shortest form, or every digit), and
    orjson reads all of them, so a number msgspec's validation skips cannot make the
    straight read fail."""
    shortest = repr(value)
    texts = [shortest] if isinstance(value, int) else [shortest, f"{Decimal(shortest):f}"]
    for text in texts:
        assert float(orjson.loads(f'{{"n":{text}}}')["n"]) == float(value)


@pytest.mark.parametrize("depth", [300, 900, 1000, 1100])
@pytest.mark.parametrize("style", ["plain", "no-host"])
def test_a_deeply_nested_record_is_reported_not_the_end_of_the_hunt(
    depth: int, style: str, fake_evtx: Path, tmp_path: Path, repo_root: Path
) -> None:
    """msgspec gives up about 1,000 levels deep (RecursionError), orjson at 1,024: the
    screen reads such a record straight, which maps it or (past the recursion limit, here
    Python's default) reports it, as unscreened; nothing ends the hunt."""
    rules = make_rules(['process where process.name : "cmd.exe"'], repo_root)
    image = {"Image": "C:\\t\\cmd.exe", "ProcessGuid": "{A-1}"}
    deep = "[" * depth + "]" * depth
    text = evtx_text(1, image, 2, style).replace('"Version":5', f'"Version":{deep}')
    FakeParser.records = [
        parser_item(evtx_text(1, image, 1, "plain"), 1, "plain"),
        parser_item(text, 2, style),
    ]
    line = orjson.dumps(
        {"EventTime": "2026-01-01 00:00:01", "Hostname": "PC1", "EventID": 1, "RecordNumber": 1}
        | {"SourceName": SYSMON[0], "Channel": SYSMON[1], **image}
    )
    nxlog = tmp_path / "deep.nxlog.json"
    nxlog.write_bytes(line + b"\n" + line[:-1] + f',"Deep":{deep}}}'.encode() + b"\n")
    for path in (fake_evtx, nxlog):
        screened, screened_errors = run(rules, [path], screen=True)
        plain, plain_errors = run(rules, [path], screen=False)
        assert [h for _, h in screened.hits] == [h for _, h in plain.hits]
        assert screened_errors == plain_errors
        assert (screened.counts.events, screened.counts.malformed) == (
            plain.counts.events,
            plain.counts.malformed,
        )
        assert sum(len(h) for _, h in plain.hits) + plain.counts.malformed == 2


# ---- real files the parser opens or refuses ------------------------------------------


@pytest.mark.parametrize("damage", ["gzip", "truncated", "header", "short", "empty", "chunk"])
def test_screened_hunt_over_damaged_or_gzipped_evtx_files_is_the_plain_one(
    damage: str, data_dir: Path, repo_root: Path, tmp_path: Path
) -> None:
    """The screen opens a plain file's parser itself (`evtx_numbered_texts`) and a gzipped
    one through the decompressor: both give what the straight read gives, errors named by
    file and record included, for a file cut mid-chunk, a damaged header or chunk, or no
    records at all."""
    import gzip

    capture = data_dir / "evtx-attack-samples/evtx/AutomatedTestingTools"
    data = (capture / "PanacheSysmon_vs_AtomicRedTeam01.evtx").read_bytes()
    path = tmp_path / "capture.evtx"
    if damage == "gzip":
        path = tmp_path / "capture.evtx.gz"
        data = gzip.compress(data)
    elif damage == "truncated":
        data = data[: 4096 + 65536 + 30000]  # the header, one chunk, part of the next
    elif damage == "header":
        data = data[:8] + b"\xff" * 120 + data[128:]
    elif damage == "short":
        data = data[:100]  # the header cut: the parser refuses the file
    elif damage == "empty":
        data = data[:4096]
    else:
        data = data[:70000] + b"\xff" * 400 + data[70400:]
    path.write_bytes(data)
    rules = make_rules(['process where process.name : ("cmd.exe", "powershell.exe")'], repo_root)
    screened, screened_errors = run(rules, [path], screen=True)
    plain, plain_errors = run(rules, [path], screen=False)
    assert [(r.rule_id, h) for r, h in screened.hits] == [(r.rule_id, h) for r, h in plain.hits]
    assert screened_errors == plain_errors
    assert all(e.startswith(str(path)) for e in screened_errors)
    assert screened.counts.events == plain.counts.events
    if damage in ("gzip", "truncated", "chunk"):
        assert sum(len(h) for _, h in screened.hits) > 0
    if damage == "chunk":
        assert screened_errors
    if damage in ("truncated", "empty"):  # the parser skips a cut chunk without a word
        assert [e.split(": ", 1)[0] for e in screened_errors] == [str(path)]
        assert "EVTX file cut short" in screened_errors[0]
        assert f"past chunk {1 if damage == 'truncated' else 0} " in screened_errors[0]
    if damage == "short":
        assert len(screened_errors) == 1
        assert "not a readable EVTX file" in screened_errors[0]
