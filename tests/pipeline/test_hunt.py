"""The screened hunt gives exactly the straightforward path's hits, alerts and errors."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.backends.event_files import read_events
from eqlwatch.demo.write import write_demo_data
from eqlwatch.engine.identity import record_id
from eqlwatch.enrich import load_ip_table
from eqlwatch.errors import DataError
from eqlwatch.pipeline.alerting import AlertBuilder
from eqlwatch.pipeline.hunt import HuntResult, build_alerts, hunt_files
from eqlwatch.rules import Rule, load_rules
from tests.conftest import Brief

DETECTED_AT = datetime(2026, 1, 1, tzinfo=UTC)
NDJSON_EXPORTS = "evtx-attack-samples/ndjson"


@pytest.fixture(scope="module")
def pack(repo_root: Path) -> list[Rule]:
    return Brief(r for r in load_rules([repo_root / "queries"]).rules if r.eqlwatch.enabled)


def run(
    rules: list[Rule], paths: list[Path], *, screen: bool, fast: bool = True
) -> tuple[HuntResult, list[str]]:
    errors: list[str] = []

    def keep(error: DataError) -> None:
        errors.append(str(error))

    return hunt_files(rules, paths, on_error=keep, screen=screen, fast=fast), errors


def hit_keys(result: HuntResult) -> list[tuple[str, list[list[tuple[str, str, bool]]]]]:
    return [
        (rule.rule_id, [[(e.index, e.id, e.missing) for e in hit.events] for hit in hits])
        for rule, hits in result.hits
    ]


def alert_docs(result: HuntResult, repo_root: Path) -> list[Mapping[str, Any]]:
    builder = AlertBuilder(
        job_id="hunt", templates_dir=repo_root / "templates", ip_table=load_ip_table(None)
    )
    return [a.document for a in build_alerts(result, builder, detected_at=DETECTED_AT)]


def assert_same(rules: list[Rule], paths: list[Path], repo_root: Path) -> HuntResult:
    fast, fast_errors = run(rules, paths, screen=True)
    plain, plain_errors = run(rules, paths, screen=False)
    assert hit_keys(fast) == hit_keys(plain)
    assert fast_errors == plain_errors
    assert (fast.counts.events, fast.counts.malformed) == (
        plain.counts.events,
        plain.counts.malformed,
    )
    assert alert_docs(fast, repo_root) == alert_docs(plain, repo_root)
    return fast


@pytest.fixture(scope="module")
def exports_as_ecs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every shipped EVTX export normalised to ECS, one NDJSON line per event."""
    out = tmp_path_factory.mktemp("ecs") / "evtx-exports.ndjson"
    events = read_events([data_dir / NDJSON_EXPORTS], on_error=lambda _e: None)
    out.write_bytes(b"".join(orjson.dumps(e.source) + b"\n" for e in events))
    return out


def test_exports_normalised_to_ecs_give_the_same_alerts(
    exports_as_ecs: Path, pack: list[Rule], repo_root: Path
) -> None:
    result = assert_same(pack, [exports_as_ecs], repo_root)
    assert sum(len(hits) for _, hits in result.hits) > 5  # the answer key's captures fire
    assert result.counts.parsed < result.counts.events / 2  # most lines were never parsed


def test_demo_dataset_gives_the_same_alerts(
    tmp_path: Path, pack: list[Rule], repo_root: Path
) -> None:
    files = write_demo_data(tmp_path, end=datetime(2026, 1, 1, tzinfo=UTC), hours=1.0)
    result = assert_same(pack, files, repo_root)
    assert sum(len(hits) for _, hits in result.hits) > 5
    assert result.counts.parsed < result.counts.events


def test_raw_windows_exports_give_the_same_alerts(
    data_dir: Path, pack: list[Rule], repo_root: Path
) -> None:
    assert_same(pack, [data_dir / NDJSON_EXPORTS / "Execution"], repo_root)


def _process(name: str, command_line: str) -> dict[str, Any]:
    return {
        "@timestamp": "2026-01-01T00:00:01.000Z",
        "event": {"category": ["process"], "type": ["start"]},
        "process": {"name": name, "command_line": command_line, "entity_id": "p1"},
    }


def test_malformed_lines_are_reported_even_when_no_rule_needs_them(
    tmp_path: Path, pack: list[Rule], repo_root: Path
) -> None:
    hit = _process("REGSVR32.exe", "regsvr32 /s /i:http://x/a.sct scrobj.dll")
    lines = [
        orjson.dumps(_process("notepad.exe", "notepad")),
        b'{"event": {"category": ["process"]}, "truncated": ',
        b"",
        b"[1, 2]",
        orjson.dumps(hit),
        b'{"_id": "abc", "_source": ' + orjson.dumps(hit) + b"}",
        b'{"a": 1,}',
        b"42",
    ]
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = assert_same(pack, [path], repo_root)
    _, errors = run(pack, [path], screen=True)
    assert [e.split(":")[0:2] for e in errors] == [[str(path), str(n)] for n in (2, 4, 7, 8)]
    ids = {e.id for _, hits in result.hits for h in hits for e in h.events}
    assert ids == {record_id(hit), "abc"}
    assert result.counts.parsed == 2 + 5  # the two hits, the four bad lines and the blank one


def test_escaped_and_non_ascii_lines_are_parsed(
    tmp_path: Path, pack: list[Rule], repo_root: Path
) -> None:
    """The needles prove nothing on `\\u` escapes or on text `str.lower` maps to ASCII."""
    escaped = json.dumps(_process("regsvr32.exe", "regsvr32 /i:x.sct"), ensure_ascii=True)
    escaped = escaped.replace("regsvr32.exe", "\\u0072egsvr32.exe")
    kelvin = _process("regsvr32.exe", "regsvr32 /i:http://x/\u212a.sct")  # Kelvin sign
    path = tmp_path / "escapes.ndjson"
    path.write_bytes(escaped.encode() + b"\n" + orjson.dumps(kelvin) + b"\n")
    result = assert_same(pack, [path], repo_root)
    assert result.counts.parsed == 2
    assert any(hits for _, hits in result.hits)


def test_python_matcher_agrees_with_hyperscan(exports_as_ecs: Path, pack: list[Rule]) -> None:
    fast, _ = run(pack, [exports_as_ecs], screen=True, fast=True)
    portable, _ = run(pack, [exports_as_ecs], screen=True, fast=False)
    assert hit_keys(fast) == hit_keys(portable)
    assert fast.counts == portable.counts


def test_a_rule_without_needles_reads_every_line(tmp_path: Path, repo_root: Path) -> None:
    rule_text = (repo_root / "queries/regsvr32_renamed.toml").read_text()
    broad = rule_text.replace("not process.name", "process.pid > 0 or not process.name")
    (tmp_path / "broad.toml").write_text(broad)
    rules = list(load_rules([tmp_path / "broad.toml"]).rules)
    path = tmp_path / "events.ndjson"
    doc = _process("x.exe", "x") | {"process": {"pid": 4, "name": "x.exe"}}
    path.write_bytes(orjson.dumps(doc) + b"\n")
    result = assert_same(rules, [path], repo_root)
    assert result.counts.parsed == 1


NAMES = ["regsvr32.exe", "REGSVR32.EXE", "RegAsm.exe", "regsvcs.exe", "notepad.exe", "x.exe"]
# \u212a (Kelvin sign) lower-cases to an ASCII "k".
ARGS = ["/s", "/i:", "-I:", "http://x/a", "scrobj.dll", ".SCT", "\\\\srv\\a", "C:\\Temp", "\u212a"]
FIELDS: dict[str, Any] = {
    "event.category": st.sampled_from(["process", ["process"], "network", "library", "PROCESS"]),
    "event.type": st.sampled_from(["start", ["start"], "end"]),
    "event.code": st.sampled_from(["7", 7, "1"]),
    "event.provider": st.sampled_from(["Microsoft-Windows-Sysmon", "other"]),
    "process.name": st.sampled_from(NAMES),
    "process.parent.name": st.sampled_from([*NAMES, "cmd.exe"]),
    "process.entity_id": st.sampled_from(["a", "b"]),
    "process.command_line": st.lists(st.sampled_from(ARGS), max_size=4).map(" ".join),
    "process.pe.original_file_name": st.sampled_from(["REGSVR32.EXE", "RegAsm.exe", "x"]),
    "process.pe.description": st.sampled_from(["Microsoft(C) Register Server", "other"]),
    "dll.code_signature.trusted": st.sampled_from([True, False, 0, "false"]),
    "destination.ip": st.sampled_from(["8.8.8.8", "10.0.0.1"]),
    "@timestamp": st.sampled_from([f"2026-01-01T00:00:0{s}.000Z" for s in range(4)]),
}


def _nest(flat: dict[str, Any], dotted: bool) -> dict[str, Any]:
    if dotted:
        return dict(flat)
    doc: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(".") if key != "@timestamp" else [key]
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return doc


# Lines shaped after the stages of the pack's sequences and samples (a start, an image load,
# a connection), with values that mostly fit the stage, so multi-event hits occur: random
# lines almost never complete a sequence.
SHAPES: dict[str, dict[str, Any]] = {
    "random": {},
    "start": {
        "event.category": st.sampled_from(["process", ["process"], "library"]),
        "event.type": st.sampled_from(["start", ["start"], "end"]),
        "process.name": st.sampled_from(NAMES),
    },
    "load": {
        "event.category": st.sampled_from(["library", ["library"], "process"]),
        "dll.code_signature.trusted": st.sampled_from([False, True, "false"]),
    },
    "connect": {
        "event.category": st.sampled_from(["network", "process"]),
        "process.name": st.sampled_from(NAMES),
        "destination.ip": FIELDS["destination.ip"],
    },
}
SHAPED = ("process.entity_id", "@timestamp")


@st.composite
def event_line(draw: st.DrawFn) -> bytes:
    shape = SHAPES[draw(st.sampled_from(sorted(SHAPES)))]
    fields = {key: draw(value) for key, value in shape.items()}
    if shape:
        fields |= {key: draw(FIELDS[key]) for key in SHAPED}
    extra = st.lists(st.sampled_from(sorted(FIELDS)), unique=True, min_size=3 if not shape else 0)
    fields |= {key: draw(FIELDS[key]) for key in draw(extra) if key not in fields}
    doc = _nest(fields, draw(st.booleans()))
    style = draw(st.sampled_from(["orjson", "orjson", "ascii", "broken"]))
    if style == "ascii":
        return json.dumps(doc, ensure_ascii=True).encode()
    line = orjson.dumps(doc)
    return line[: len(line) // 2] if style == "broken" else line


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(event_line(), min_size=1, max_size=25))
def test_random_lines_screened_or_not_give_the_same_hits(
    lines: list[bytes], pack: list[Rule], tmp_path: Path
) -> None:
    path = tmp_path / "random.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    for fast in (True, False):
        screened, screened_errors = run(pack, [path], screen=True, fast=fast)
        plain, plain_errors = run(pack, [path], screen=False)
        assert hit_keys(screened) == hit_keys(plain)
        assert screened_errors == plain_errors
        assert screened.counts.events == plain.counts.events


START = _process("regsvr32.exe", "regsvr32 /s C:\\x\\a.dll")


def load(entity: str, second: int = 2) -> dict[str, Any]:
    """An unsigned library load: only the regsvr32 sequence's later stage wants it."""
    return {
        "@timestamp": f"2026-01-01T00:00:0{second}.000Z",
        "event": {"category": ["library"], "type": ["start"]},
        "process": {"entity_id": entity, "executable": "C:\\Windows\\System32\\regsvr32.exe"},
        "dll": {"path": "C:\\x\\a.dll", "code_signature": {"trusted": False}},
    }


def test_later_sequence_stages_are_parsed_only_for_first_stage_keys(
    tmp_path: Path, pack: list[Rule], repo_root: Path
) -> None:
    """Library loads without the first stage's needles wait for a matching process key."""
    start = START
    path = tmp_path / "sequence.ndjson"
    docs = (load("p1", second=0), start, load("p1"), load("p2"))
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs))
    result = assert_same(pack, [path], repo_root)
    found = {rule.rule_id: hits for rule, hits in result.hits if hits}
    expected = [[record_id(start), record_id(load("p1"))]]
    assert [[e.id for e in h.events] for hits in found.values() for h in hits] == expected
    assert result.counts.parsed == 3  # the start and both p1 loads, never the p2 load
    portable, _ = run(pack, [path], screen=True, fast=False)
    assert (hit_keys(portable), portable.counts) == (hit_keys(result), result.counts)


def test_held_lines_are_read_again_in_blocks_and_from_gzip(
    tmp_path: Path, pack: list[Rule], repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held lines are found again by place: the first line, lines far apart (blocks of 64
    bytes force a read per line), a last line without newline, a gzipped copy."""
    from eqlwatch.pipeline import hunt_scan

    monkeypatch.setattr(hunt_scan, "BLOCK_BYTES", 64)
    docs = [load("p1", 0), load("p2", 1), START, *(load(f"p{n % 3}", 2) for n in range(40))]
    body = b"\n".join(orjson.dumps(d) for d in docs)
    plain_file, packed = tmp_path / "seq.ndjson", tmp_path / "seq.ndjson.gz"
    plain_file.write_bytes(body)
    packed.write_bytes(gzip.compress(body))
    hits = []
    for path in (plain_file, packed):
        result = assert_same(pack, [path], repo_root)
        assert result.counts.parsed == 1 + 14  # the start and the 14 later p1 loads only
        hits.append([[e.id for e in h.events] for _, found in result.hits for h in found])
    assert hits[0] == hits[1] == [[record_id(START), record_id(load("p1"))]]


@pytest.mark.parametrize("change", ["shorter", "shifted", "removed"])
def test_a_file_changed_before_its_held_lines_are_read_again_is_reported(
    tmp_path: Path, pack: list[Rule], change: str
) -> None:
    path = tmp_path / "seq.ndjson"
    docs = [START, load("p2", 1), load("p1")]
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")

    def rewrite(read: Path) -> None:  # after the pass, before the held lines are read
        if change == "removed":
            read.unlink()
            return
        lines = read.read_bytes().splitlines(keepends=True)
        read.write_bytes(lines[0] + (lines[1][:-20] if change == "shorter" else b" " + lines[1]))

    errors: list[str] = []
    result = hunt_files(pack, [path], on_error=lambda e: errors.append(str(e)), on_file=rewrite)
    expected = "cannot open again" if change == "removed" else "file changed while it was read"
    # (the sequences' pre-pass, hunt_prepass, also reports the file by its size and time)
    assert [e for e in errors if expected in e and str(path) in e], errors
    assert all(str(path) in e for e in errors)
    assert all(not found for _, found in result.hits)  # nothing from the changed bytes
    assert result.counts.malformed == len(errors)


def test_gzipped_ndjson_and_json_arrays_give_the_same_alerts(
    tmp_path: Path, pack: list[Rule], repo_root: Path
) -> None:
    docs = [
        _process("notepad.exe", "notepad"),
        _process("regsvr32.exe", "regsvr32 /s /i:http://x/a.sct scrobj.dll"),
    ]
    packed = tmp_path / "events.ndjson.gz"
    packed.write_bytes(gzip.compress(b"\n".join(orjson.dumps(d) for d in docs) + b"\n"))
    array = tmp_path / "events.json"
    array.write_bytes(orjson.dumps(docs))
    for path in (packed, array):
        result = assert_same(pack, [path], repo_root)
        ids = [e.id for _, hits in result.hits for h in hits for e in h.events]
        assert ids == [record_id(docs[1])]  # the same record, the same id, in either file


def test_collector_paused_while_rules_compile_and_restored(
    tmp_path: Path, pack: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from eqlwatch.pipeline import hunt

    seen: list[bool] = []
    real = hunt._compile_all

    def spy(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args)

    monkeypatch.setattr(hunt, "_compile_all", spy)
    path = tmp_path / "events.ndjson"
    path.write_bytes(orjson.dumps(_process("x.exe", "x")) + b"\n")
    assert gc.isenabled()
    result, errors = run(pack, [path], screen=True)
    assert seen == [False]  # compiling hundreds of rules sets off no collection
    assert gc.isenabled()
    assert result.counts.events == 1
    assert errors == []


def test_events_held_for_the_rules_are_freed_before_the_collector_resumes(
    tmp_path: Path, pack: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first collection after the pause walks every object still alive: the events
    kept for the rules must be gone by then (they were, at 200,000 events, 0.4 s of it)."""
    import contextlib
    import gc
    from collections.abc import Iterator

    from eqlwatch.pipeline import hunt

    def live_events() -> int:
        return sum(1 for o in gc.get_objects() if type(o) is dict and "@timestamp" in o)

    at_resume: list[int] = []
    real = hunt.gc_paused  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def watched() -> Iterator[None]:
        with real():
            yield
            at_resume.append(live_events())

    monkeypatch.setattr(hunt, "gc_paused", watched)
    path = tmp_path / "starts.ndjson"
    # process starts the regsvr32 sequence keeps as first-stage candidates, none completed
    path.write_bytes(
        b"\n".join(
            orjson.dumps({**START, "process": {**START["process"], "entity_id": f"p{n}"}})
            for n in range(300)
        )
    )
    before = live_events()
    result, errors = run(pack, [path], screen=True)
    assert errors == []
    assert (result.counts.events, result.counts.parsed) == (300, 300)
    hit_events = {id(e.source) for _, hits in result.hits for h in hits for e in h.events}
    assert len(at_resume) == 1
    assert at_resume[0] - before <= len(hit_events)


def _padded(line: bytes, depth: int) -> bytes:
    """`line` (one JSON object) with a field nested `depth` arrays deep."""
    return line.rstrip()[:-1] + b',"pad":' + b"[" * depth + b"]" * depth + b"}\n"


# msgspec stops at ~1,000 levels, orjson at 1,023: between the two, a line is an event
MSGSPEC_TOO_DEEP = 1010


def test_lines_too_deep_for_msgspec_still_reach_their_rules(
    exports_as_ecs: Path, pack: list[Rule], repo_root: Path, tmp_path: Path
) -> None:
    lines = exports_as_ecs.read_bytes().splitlines(keepends=True)
    padded = tmp_path / "padded.ndjson"
    padded.write_bytes(b"".join(_padded(line, MSGSPEC_TOO_DEEP) for line in lines))
    result = assert_same(pack, [padded], repo_root)
    before, _ = run(pack, [exports_as_ecs], screen=True)
    assert [(r, len(h)) for r, h in hit_keys(result)] == [(r, len(h)) for r, h in hit_keys(before)]
    assert sum(len(h) for _, h in result.hits) > 5


def test_raw_lines_too_deep_for_msgspec_still_reach_their_rules(
    data_dir: Path, pack: list[Rule], repo_root: Path, tmp_path: Path
) -> None:
    source = data_dir / NDJSON_EXPORTS / "Execution"
    plain = b"".join(gzip.decompress(p.read_bytes()) for p in sorted(source.glob("*.ndjson.gz")))
    lines = [line for line in plain.splitlines(keepends=True) if line.strip()]
    assert lines
    padded = tmp_path / "padded.json"
    padded.write_bytes(b"".join(_padded(line, MSGSPEC_TOO_DEEP) for line in lines))
    flat = tmp_path / "flat.json"
    flat.write_bytes(b"".join(lines))
    result = assert_same(pack, [padded], repo_root)
    before, _ = run(pack, [flat], screen=True)
    assert sum(len(h) for _, h in result.hits) == sum(len(h) for _, h in before.hits) > 0


def test_first_stage_keys_are_worked_out_only_for_rules_lines_were_held_for(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Working out a rule's keys runs its first stage over all its candidates: only the
    sequence lines were held back for needs them, not a second one with none held."""
    from eqlwatch.pipeline import hunt_defer
    from tests.pipeline.doubles import make_rule

    asked: list[Any] = []
    real = hunt_defer.key_texts

    def spy(query: Any, events: Any) -> Any:
        asked.append(query)
        return real(query, events)

    monkeypatch.setattr(hunt_defer, "key_texts", spy)
    rules = [
        make_rule(
            'sequence by process.entity_id [process where process.name == "regsvr32.exe"]'
            ' [library where dll.path == "C:\\\\x\\\\a.dll"]',
            rule_id="held",
        ),
        make_rule(
            'sequence by process.entity_id [process where process.name == "cmd.exe"]'
            ' [network where destination.ip == "10.9.9.9"]',
            rule_id="none-held",
        ),
    ]
    path = tmp_path / "sequence.ndjson"
    docs = (START, load("p1"), load("p2"), _process("cmd.exe", "cmd /c x"))
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs))
    result = assert_same(rules, [path], repo_root)
    assert [len(hits) for _, hits in result.hits] == [1, 0]
    # the regsvr32 start and the p1 load (no line holds the other's network stage needle)
    assert result.counts.parsed == 2
    assert [q.parsed.stages[1].event_type for q in asked] == ["library"]


def test_a_sequence_whose_stage_no_candidate_matches_is_not_run(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port test gives no needle, so the connection is a candidate; no candidate
    matches the connection stage, so the sequence cannot hit and is not run. The other
    sequence has a match for each stage and is run (and hits), screened as unscreened."""
    from eqlwatch.engine.query import CompiledQuery
    from tests.pipeline.doubles import make_rule

    ran: list[str] = []
    real = CompiledQuery.run

    def spy(self: CompiledQuery, *args: Any, **kwargs: Any) -> Any:
        ran.append(self.parsed.stages[1].event_type if len(self.parsed.stages) > 1 else "")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(CompiledQuery, "run", spy)
    rules = [
        make_rule(
            'sequence by process.entity_id [process where process.name == "a.exe"]'
            " [network where destination.port == 445]",
            rule_id="smb",
        ),
        make_rule(
            'sequence by process.entity_id [process where process.name == "a.exe"]'
            ' [file where file.name == "x.txt"]',
            rule_id="file",
        ),
    ]
    start = {**_process("a.exe", "a"), "process": {"name": "a.exe", "entity_id": "e1"}}
    connect = {
        "@timestamp": "2026-01-01T00:00:02.000Z",
        "event": {"category": ["network"]},
        "process": {"entity_id": "e1"},
        "destination": {"port": 80},
    }
    write = {
        "@timestamp": "2026-01-01T00:00:03.000Z",
        "event": {"category": ["file"]},
        "process": {"entity_id": "e1"},
        "file": {"name": "x.txt"},
    }
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in (start, connect, write)))
    ran.clear()
    result, errors = run(rules, [path], screen=True)
    assert errors == []
    assert [len(hits) for _, hits in result.hits] == [0, 1]
    assert ran == ["file"]  # the smb sequence was never run
    plain, _ = run(rules, [path], screen=False)
    assert hit_keys(plain) == hit_keys(result)


@pytest.mark.parametrize("packed", [False, True])
def test_a_utf8_byte_order_mark_changes_nothing(
    exports_as_ecs: Path, pack: list[Rule], tmp_path: Path, packed: bool
) -> None:
    """Windows tools write a UTF-8 byte-order mark; the first line lost its event to it.
    Held lines are read again by position, so positions must skip it too (hits of keyed
    sequences compared, gzip or not)."""
    body = exports_as_ecs.read_bytes()
    (tmp_path / "plain").mkdir()
    (tmp_path / "marked").mkdir()
    plain = tmp_path / "plain" / "events.ndjson"
    marked = tmp_path / "marked" / "events.ndjson"
    plain.write_bytes(body)
    marked.write_bytes(gzip.compress(b"\xef\xbb\xbf" + body) if packed else b"\xef\xbb\xbf" + body)
    expected, _ = run(pack, [plain], screen=True)
    for screen in (True, False):
        got, errors = run(pack, [marked], screen=screen)
        assert errors == []
        assert hit_keys(got) == hit_keys(expected)
        assert got.counts.events == expected.counts.events
