"""The optimizer's literal sets compare values as Elasticsearch does.

eql's optimizer kept one literal per case-folded value when it built a set (`==` terms
joined by `or`, an `in` list, their intersections), and joined any comparison of the
field into an `or`'s set, not only `==`. In Elasticsearch `in` and `==` are
case-sensitive, so `process.name in ("a", "A")` became `process.name == "a"` and missed
"A" (seven of detection-rules' EQL rules lost a member that way: `dmesg -C`, `curl -O`,
`MAGNIFY.EXE`, ...), and `x in ("a", "b") or x != "c"` became `x in ("a", "b", "c")`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.engine import SourceEvent, compile_query
from eqlwatch.engine import parse as parse_module
from eqlwatch.engine.plan import Settings
from eqlwatch.engine.query import CompiledQuery
from eqlwatch.engine.schema import FieldSchema
from tests.rules.conftest import minimal_rule

VALUES: list[dict[str, Any]] = [
    {"f": f, "g": g} for f in ("a", "A", "b", "B", None) for g in (1, 2, 3, None)
]


def events() -> list[SourceEvent]:
    found = []
    for number, value in enumerate(VALUES):
        source: dict[str, Any] = {"@timestamp": number, "event": {"category": "process"}}
        source.update({k: v for k, v in value.items() if v is not None})
        found.append(SourceEvent("logs", str(number), source))
    return found


def hits(query: CompiledQuery) -> list[int]:
    return sorted(int(h.events[0].id) for h in query.run(events()))


class _AsWritten:
    """An optimizer that leaves the tree as the walker built it."""

    @staticmethod
    def walk(node: Any) -> Any:
        return node


def unoptimized(text: str, monkeypatch: pytest.MonkeyPatch) -> CompiledQuery:
    with monkeypatch.context() as patch:
        patch.setattr(parse_module, "_OPTIMIZER", _AsWritten())
        parsed = parse_module._parse_text(text)
    settings_ = Settings("@timestamp", None, "event.category")
    return CompiledQuery(parsed, FieldSchema(), settings_, None, 1)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('f in ("a", "A")', [{"f": "a"}, {"f": "A"}]),
        ('f == "a" or f == "A" or f == "b"', [{"f": "a"}, {"f": "A"}, {"f": "b"}]),
        ('f == "A" or f in ("a", "b")', [{"f": "a"}, {"f": "A"}, {"f": "b"}]),
        ('f in ("a", "b") and f in ("A")', []),
        ('f in ("a", "b") and f != "A"', [{"f": "a"}, {"f": "b"}]),
        ('f in ("a", "b") and not f in ("A", "b")', [{"f": "a"}]),
        ('"a" == "A"', []),
        ('"a" in ("A", "b")', []),
    ],
)
def test_case_variants_are_distinct_members(condition: str, expected: list[dict[str, str]]) -> None:
    query = compile_query(f"process where {condition}")
    found = {VALUES[i]["f"] for i in hits(query)}
    assert found == {e["f"] for e in expected}


def test_only_equality_joins_a_set() -> None:
    """`x in (...) or x != "c"`: true for every value but "c" (and missing ones)."""
    query = compile_query("process where g in (1, 2) or g != 2")
    assert {VALUES[i]["g"] for i in hits(query)} >= {1, 2, 3}
    query = compile_query('process where f in ("a", "b") or f < "B"')
    assert {VALUES[i]["f"] for i in hits(query)} == {"a", "b", "A"}


def test_a_long_or_is_joined_in_linear_time() -> None:
    """eql rebuilt the set at each term: 2,000 terms took ~10 s."""
    terms = " or ".join(f'process.name == "p{i}.exe"' for i in range(5000))
    start = time.process_time()
    parsed = parse_module._parse_text(f"process where {terms}")
    assert time.process_time() - start < 5
    condition = parsed.stages[0].condition
    assert len(condition.container) == 5000


STRINGS = st.sampled_from(['"a"', '"A"', '"b"'])
NUMBERS = st.sampled_from(["1", "2", "2.0", "3"])


def atoms() -> st.SearchStrategy[str]:
    op = st.sampled_from(["==", "!=", "<", ">="])
    return st.one_of(
        st.builds(lambda o, v: f"f {o} {v}", op, STRINGS),
        st.builds(lambda o, v: f"g {o} {v}", op, NUMBERS),
        st.builds(lambda vs: f"f in ({', '.join(vs)})", st.lists(STRINGS, min_size=1, max_size=4)),
        st.builds(lambda vs: f"g in ({', '.join(vs)})", st.lists(NUMBERS, min_size=1, max_size=4)),
        st.sampled_from(["true", "false", "null", '"a" == "A"', '"b" in ("a", "b")']),
        st.sampled_from(["null == null", 'null != "a"', "null < 1", 'null == "a"']),
    )


def joined(word: str, inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    terms = st.lists(inner, min_size=2, max_size=5)
    return st.builds(lambda xs: f" {word} ".join(f"({x})" for x in xs), terms)


conditions = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        joined("or", inner), joined("and", inner), st.builds(lambda x: f"not ({x})", inner)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(condition=conditions)
def test_optimized_filters_match_as_written(condition: str) -> None:
    """Whatever the optimizer rewrites, the filter matches the events it matched as the
    walker wrote it (every value, case variants and missing fields included)."""
    text = f"process where {condition}"
    monkeypatch = pytest.MonkeyPatch()
    try:
        assert hits(compile_query(text)) == hits(unoptimized(text, monkeypatch)), text
    finally:
        monkeypatch.undo()


def test_hunt_alerts_on_a_member_differing_only_in_case(tmp_path: Path) -> None:
    """Through the CLI, as a user's rule meets an event: `dmesg -C` clears the ring buffer
    (`-c` reads and clears); a rule listing both missed `-C`."""
    rules = tmp_path / "rules"
    rules.mkdir()
    query = 'process where process.name == "dmesg" and process.args in ("-c", "-C", "--clear")'
    text = minimal_rule("r").replace('process where process.name : "regsvr32.exe"', query)
    (rules / "dmesg.toml").write_text(text)
    events = tmp_path / "events.ndjson"
    event = {"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process"},
             "process": {"name": "dmesg", "args": ["dmesg", "-C"]}}  # fmt: skip
    events.write_bytes(orjson.dumps(event) + b"\n")
    args = ["hunt", "--rules", str(rules), "--format", "ndjson", "--no-progress", str(events)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.stderr
    (alert,) = [orjson.loads(line) for line in result.stdout.splitlines() if line]
    assert alert["process"]["args"] == ["dmesg", "-C"]
