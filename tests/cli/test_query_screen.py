"""`eqlwatch query` screens lines and raw records as `hunt` does: same hits, same errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.cli.query import SCREEN_MIN_BYTES, QueryScreen, _read
from eqlwatch.engine import compile_query
from eqlwatch.engine.identity import named, record_id
from eqlwatch.engine.reader import ErrorCounter
from tests.pipeline.test_hunt import ARGS, FIELDS, NAMES, _nest
from tests.pipeline.test_hunt_raw import query, record

RUNNER = CliRunner()
REQUIRED = ["@timestamp", "event.category"]
OPTIONAL = sorted(set(FIELDS) - set(REQUIRED))


@st.composite
def event_line(draw: st.DrawFn) -> bytes:
    """An ECS line with a time and a category (so that queries can hit), or a damaged one."""
    keys = REQUIRED + draw(st.lists(st.sampled_from(OPTIONAL), unique=True, min_size=1))
    doc = _nest({k: draw(FIELDS[k]) for k in keys}, draw(st.booleans()))
    style = draw(st.sampled_from(["orjson", "orjson", "ascii", "broken"]))
    line = orjson.dumps(doc)
    if style == "ascii":
        return json.dumps(doc, ensure_ascii=True).encode()
    return line[: len(line) // 2] if style == "broken" else line


def answer(text: str, path: Path, active: bool) -> tuple[list[Any], list[str]]:
    compiled = compile_query(text, size=None)
    counter = ErrorCounter()
    seen: list[str] = []
    counter.on_error = lambda error: seen.append(str(error))
    screen = QueryScreen(compiled, active, [path])
    hits = named(compiled.run(_read([path], "auto", counter, screen)))  # as `run_query`
    keys = [(h.join_keys, [(e.index, e.id, e.missing) for e in h.events]) for h in hits]
    return keys, seen


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


ECS_FIELDS = ["process.name", "process.parent.name", "process.pe.original_file_name"]
PATTERNS = [*NAMES, "*.exe", "reg*", "*/s*", "*scrobj*"]


@st.composite
def ecs_query(draw: st.DrawFn) -> str:
    """Queries on the fields `event_line` writes, so that many of them hit."""

    def stage() -> str:
        category = draw(st.sampled_from(["process", "any", "network"]))
        field = draw(st.sampled_from(ECS_FIELDS))
        value = draw(st.sampled_from(PATTERNS))
        arg = draw(st.sampled_from(ARGS)).replace("\\", "\\\\")
        test = draw(
            st.sampled_from(
                [
                    f'{field} : "{value}"',
                    f'{field} == "{value}"',
                    f'{field} in~ ("{value}", "x.exe")',
                    f'process.command_line : "*{arg}*"',
                    f'event.code == "{draw(st.sampled_from(["1", "7"]))}"',
                ]
            )
        )
        return f"{category} where {test}"

    kind = draw(st.sampled_from(["filter", "sequence", "until"]))
    if kind == "filter":
        return stage()
    until = f" until [{stage()}]" if kind == "until" else ""
    return f"sequence by process.entity_id [{stage()}] [{stage()}]{until}"


@SETTINGS
@given(text=ecs_query(), lines=st.lists(event_line(), min_size=1, max_size=25))
def test_random_queries_over_random_lines_screened_or_not(
    text: str, lines: list[bytes], tmp_path: Path
) -> None:
    path = tmp_path / "random.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert answer(text, path, True) == answer(text, path, False)


@SETTINGS
@given(text=query(), records=st.lists(record(), min_size=1, max_size=20))
def test_random_queries_over_random_raw_records_screened_or_not(
    text: str, records: list[dict[str, Any]], tmp_path: Path
) -> None:
    for n, rec in enumerate(records):
        rec["System"]["EventRecordID"] = n + 1
        rec["System"]["TimeCreated"]["#attributes"]["SystemTime"] = f"2026-01-01T00:00:{n:02}Z"
    path = tmp_path / "raw.json"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    assert answer(text, path, True) == answer(text, path, False)


def test_a_malformed_line_no_query_needs_is_still_reported(tmp_path: Path) -> None:
    good = {"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process"}}
    hit = good | {"process": {"name": "whoami.exe"}}
    path = tmp_path / "events.ndjson"
    filler = (orjson.dumps(good) + b"\n") * 20_000  # over 1 MiB: the CLI screens it
    path.write_bytes(orjson.dumps(good) + b"\n{not json\n" + orjson.dumps(hit) + b"\n" + filler)
    assert path.stat().st_size >= SCREEN_MIN_BYTES
    result = RUNNER.invoke(
        app, ["query", 'process where process.name == "whoami.exe"', "--events", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert '"value": 1' in result.stdout
    assert f"{path}:2: malformed JSON" in result.stderr
    assert "1 malformed line(s) skipped" in result.stderr


PAIR_QUERY = (
    "sequence by host.id with maxspan=30s "
    '[process where event.action == "start" and process.name : ("cmd.exe", "a.exe")] '
    '[network where event.action == "connection_attempted"]'
)


@st.composite
def paired_line(draw: st.DrawFn) -> bytes:
    """Process and network events that name a process (so the names alone keep most
    lines), some with "start" or the names where no field reads them, keys in any case."""
    n = draw(st.integers(0, 59))
    category, action = draw(
        st.sampled_from([("process", "start"), ("process", "end"), ("network", "x")])
    )
    action = draw(st.sampled_from([action, "connection_attempted", "START"]))
    name = draw(st.sampled_from(["cmd.exe", "CMD.EXE", "a.exe", "b.exe", "start"]))
    doc = {
        "@timestamp": f"2026-01-01T00:00:{n:02}Z",
        "event": {"category": [category], "action": action},
        "host": {"id": draw(st.sampled_from(["h1", "h2"]))},
        "process": {"name": name, "title": draw(st.sampled_from(["start", "cmd.exe", "-"]))},
    }
    return orjson.dumps(doc)


@SETTINGS
@given(lines=st.lists(paired_line(), min_size=1, max_size=40))
def test_a_stage_screened_by_two_needles_in_a_line_answers_as_unscreened(
    lines: list[bytes], tmp_path: Path
) -> None:
    lines = sorted(lines)  # in time order (the timestamp leads): no second read
    path = tmp_path / "paired.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert answer(PAIR_QUERY, path, True) == answer(PAIR_QUERY, path, False)


def test_the_bench_sequence_screens_its_first_stage_by_both_needles(tmp_path: Path) -> None:
    start = b'{"event":{"category":["process"],"action":"start"},"process":{"name":"%s"}}'
    net = b'{"event":{"category":["network"]},"process":{"name":"cmd.exe"}}'
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join([start % b"cmd.exe", start % b"b.exe", net, net] * 10) + b"\n")
    screen = QueryScreen(compile_query(PAIR_QUERY), True, [path])
    assert screen.scan is not None
    assert screen.scan.spans is not None
    groups = screen.scan.screen.per_rule[0]
    assert groups is not None
    assert [len(f) for f in groups] == [2, 1]


RISKY = [
    b"18446744073709551616", b"-9223372036854775809", b"1e999", b'"\xff"', b'"\xc3\xa9"',
    b"9223372036854775807", b"1.5", b'[{"name":"cmd.exe"}]', b'"cmd.exe"', b"null",
]  # fmt: skip
RISKY_KEYS = ["z", "process.name", "process", "event.category", "id", "@timestamp"]


@st.composite
def risky_line(draw: st.DrawFn) -> bytes:
    """An event line with one more key (maybe one the query reads, dotted or not) whose
    value msgspec and orjson may read differently; the key may repeat an earlier one."""
    line = draw(event_line())
    if not line.startswith(b"{") or not line.endswith(b"}"):
        return line
    if draw(st.integers(0, 2)):
        return line  # most lines: a block without them is read in part
    key = orjson.dumps(draw(st.sampled_from(RISKY_KEYS)))
    extra = key + b":" + draw(st.sampled_from(RISKY))
    if draw(st.booleans()):
        return b"{" + extra + b"," + line[1:]
    return line[:-1] + b"," + extra + b"}"


@SETTINGS
@given(text=ecs_query(), lines=st.lists(risky_line(), min_size=1, max_size=25))
def test_lines_read_in_part_answer_as_lines_read_whole(
    text: str, lines: list[bytes], tmp_path: Path
) -> None:
    path = tmp_path / "risky.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    hits, errors = answer(text, path, True)
    assert hits == answer(text, path, False)[0]
    # a line the screen does not keep is only validated, by msgspec, which takes `1e999`
    # and bytes that are not UTF-8 where orjson reports them (as `hunt`): no more errors
    assert set(errors) <= set(answer(text, path, False)[1])


def test_a_line_too_deep_for_msgspec_is_read_as_orjson_reads_it(tmp_path: Path) -> None:
    """msgspec gives up (RecursionError, which killed `query`) on nesting orjson reads (up
    to 1,023 levels): the block is then read line by line, that line by orjson."""
    good = {"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process"}}
    hit = good | {"process": {"name": "whoami.exe"}}
    deep = orjson.dumps(good)[:-1] + b',"deep":' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert orjson.loads(deep)
    path = tmp_path / "events.ndjson"
    filler = (orjson.dumps(good) + b"\n") * 20_000  # over 1 MiB: the CLI screens it
    path.write_bytes(deep + b"\n" + orjson.dumps(hit) + b"\n" + filler + deep + b"\n")
    assert path.stat().st_size >= SCREEN_MIN_BYTES
    result = RUNNER.invoke(
        app, ["query", 'process where process.name == "whoami.exe"', "--events", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert '"value": 1' in result.stdout
    assert "malformed" not in result.stderr


def test_kept_lines_are_read_in_part_unless_a_number_may_read_differently(
    tmp_path: Path,
) -> None:
    hit = b'{"@timestamp":"2026-01-01T00:00:00Z","event":{"category":"process"},'
    hit += b'"process":{"name":"whoami.exe","pid":%s}}'
    text = 'process where process.name == "whoami.exe"'
    path = tmp_path / "events.ndjson"
    for pid, whole in ((b"1", False), (b"18446744073709551616", True)):
        path.write_bytes(hit % pid + b"\n")
        screen = QueryScreen(compile_query(text), True, [path])
        (event,) = list(_read([path], "auto", ErrorCounter(), screen))
        line: object = event.id
        assert (type(line) is bytes) is not whole
        assert ("pid" in event.source["process"]) is whole  # a field the query reads not
        (hit_,) = named(compile_query(text).run([event]))
        assert hit_.events[0].source == orjson.loads(hit % pid)


def test_the_answer_shows_whole_events_named_as_when_read_whole(tmp_path: Path) -> None:
    """Over 1 MiB the CLI reads kept lines in part: its JSON and table answers still show
    each event whole, with the id of the whole event, hit for hit as the unscreened run."""
    base = {"event": {"category": ["process"], "action": "start"}, "pad": "x" * 40}
    docs = []
    for n in range(9_000):
        ts = f"2026-01-01T00:{n // 600 % 60:02}:{n // 10 % 60:02}.{n % 10}00Z"
        name = ["cmd.exe", "b.exe"][n % 2]
        doc: dict[str, Any] = base | {"@timestamp": ts, "host": {"id": f"h{n % 7}"}}
        if n % 3 == 2:
            doc["event"] = {"category": ["network"], "action": "connection_attempted"}
        doc["process"] = {"name": name, "pid": n, "title": "start"}
        docs.append(doc)
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    assert path.stat().st_size >= SCREEN_MIN_BYTES
    args = ["query", PAIR_QUERY, "--events", str(path), "--size", "100000"]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    shown = orjson.loads(result.stdout)["hits"]["sequences"]
    expected, _ = answer(PAIR_QUERY, path, False)
    assert len(expected) > 100
    got = [(tuple(s["join_keys"]), [(e["_index"], e["_id"], False) for e in s["events"]])
           for s in shown]  # fmt: skip
    assert got == expected
    by_id = {record_id(d): d for d in docs}
    assert all(e["_source"] == by_id[e["_id"]] for s in shown for e in s["events"])
    table = RUNNER.invoke(app, [*args, "--format", "table"])
    assert table.exit_code == 0, table.output
    assert shown[0]["events"][0]["_id"] in table.stdout
