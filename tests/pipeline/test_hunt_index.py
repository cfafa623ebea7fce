"""The rule index (`hunt_index`, field-name needles) leaves every rule's hits unchanged, and
an event no rule wants costs the same with one rule or hundreds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.engine import compile_query
from eqlwatch.engine.needles import Sample, query_screens
from eqlwatch.pipeline.hunt import HuntResult, hunt_files
from eqlwatch.pipeline.hunt_defer import Candidates, first_stage_needles
from eqlwatch.pipeline.hunt_index import (
    CategoryIndex,
    categories_of,
    required_filters,
    rule_index,
    rule_matcher,
)
from eqlwatch.rules import Rule
from tests.pipeline.doubles import make_rule

FIELDS = ["a.b", "a.c", "d", "a.b.e", "Ext.real.pid", "k"]
VALUES = [
    "x", "X", "y", "xy", 3, 7, None, ["x", "y"], [], True, {"e": "x"},
    "x\u202ey", "\u212ay", "xay", "x.x", "{x}", "true", 1.5, "tru", "AAA", ["1", "x\u00e9"],
]  # fmt: skip


def hits(result: HuntResult) -> list[tuple[str, list[list[str]]]]:
    return [
        (rule.rule_id, [[e.id for e in hit.events] for hit in found]) for rule, found in result.hits
    ]


@st.composite
def leaf(draw: st.DrawFn) -> str:
    f = draw(st.sampled_from(FIELDS))
    v = draw(st.sampled_from(["x", "y", "X"]))
    forms = [
        f'{f} == "{v}"',
        f'{f} : "{v}*"',
        f'{f} : "*{v}"',
        f'{f} in ("{v}", "z")',
        f'{f} in~ ("{v}", "z")',
        f'{f} != "{v}"',
        f"{f} > 3",
        f"{f} != null",
        f"{f} == null",
        f'startsWith({f}, "{v}")',
        f'{f} like~ "{v}"',
        f'{f} regex "{v}.*"',
        f'{f} : "{v}*{v}"',  # a group per piece
        f'{f} : "?{v}*y"',
        f'{f} : "*\u202e*"',  # needs a non-ASCII character
        f'{f} : "*\u212a*"',  # the Kelvin sign lower-cases to "k"
        f'{f} like "*\u00e9"',
        f'{f} : "tru*"',  # may be a boolean's text
        f'{f} : "*1*"',  # may be a number's text
        f'{f} : "{{{v}}}"',  # repr characters in a pattern no object matches
        f'{f} : "*{{*"',  # ... and in one an object may match
        f'{f} : "AAA"',
        'event.category == "process"',
        'event.category in ("network", "file")',
        'event.category : "process"',
    ]
    return draw(st.sampled_from(forms))


conditions = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"({t[0]} and {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} or {t[1]})"),
        inner.map(lambda c: f"not {c}"),
    ),
    max_leaves=4,
)
categories = st.sampled_from(["process", "network", "any"])


@st.composite
def query(draw: st.DrawFn) -> str:
    stage = st.tuples(categories, conditions).map(lambda t: f"{t[0]} where {t[1]}")
    if draw(st.booleans()):
        return draw(stage)
    stages = draw(st.lists(stage, min_size=2, max_size=3))
    until = f" until [{draw(stage)}]" if draw(st.booleans()) else ""
    body = " ".join(f"[{s}]" for s in stages)
    return f"sequence by k with maxspan=5s {body}{until}"


def _put(doc: dict[str, Any], key: str, value: Any, style: str) -> None:
    if style == "dotted" or "." not in key:
        doc[key] = value
        return
    parts = key.split(".")
    if style == "half":  # first segment nested, the rest one dotted key
        parts = [parts[0], ".".join(parts[1:])]
    node = doc
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if type(child) is not dict:
            return  # the field holds a scalar already: skip
        node = child
    node[parts[-1]] = value


@st.composite
def event(draw: st.DrawFn) -> bytes:
    style = draw(st.sampled_from(["nested", "dotted", "half"]))
    doc: dict[str, Any] = {"@timestamp": f"2026-01-01T00:00:0{draw(st.integers(0, 9))}.000Z"}
    cat = draw(st.sampled_from(["process", ["process"], "network", ["network", "process"], None]))
    if cat is not None:
        _put(doc, "event.category", cat, style)
    for key in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=5)):
        _put(doc, key, copy.deepcopy(draw(st.sampled_from(VALUES))), style)
    shape = draw(st.sampled_from(["plain", "plain", "hit", "hit+event"]))
    if shape != "plain":  # a search hit: the event is its `_source`
        outer = {"_id": f"h{draw(st.integers(0, 3))}", "_source": doc}
        doc = outer | ({"event": {"category": "network"}} if shape == "hit+event" else {})
    if draw(st.booleans()):
        return json.dumps(doc, ensure_ascii=True).encode()  # non-ASCII as \u escapes
    return orjson.dumps(doc)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    queries=st.lists(query(), min_size=1, max_size=6),
    lines=st.lists(event(), min_size=1, max_size=30),
)
def test_indexed_and_plain_runs_give_the_same_hits(
    queries: list[str], lines: list[bytes], tmp_path: Path
) -> None:
    rules = [make_rule(q, rule_id=f"r{i}") for i, q in enumerate(queries)]
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    plain = hunt_files(rules, [path], screen=False)
    for fast in (True, False):
        indexed = hunt_files(rules, [path], screen=True, fast=fast)
        assert hits(indexed) == hits(plain)
        assert [r.rule_id for r, _ in indexed.failed] == [r.rule_id for r, _ in plain.failed]
        assert indexed.counts.events == plain.counts.events


def _rules(n: int) -> list[Rule]:
    return [
        make_rule(f'process where process.name == "tool{i}.exe" and ?a.b > 0', rule_id=f"r{i}")
        for i in range(n)
    ]


def test_a_line_no_rule_wants_is_not_parsed_however_many_rules(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    quiet = {"event": {"category": "process"}, "process": {"name": "notepad.exe"}, "a": {"b": 1}}
    wanted = quiet | {"process": {"name": "tool7.exe"}, "@timestamp": "2026-01-01T00:00:00Z"}
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in [quiet] * 50 + [wanted]) + b"\n")
    for n in (10, 300):
        result = hunt_files(_rules(n), [path])
        assert result.counts.parsed == 1
        assert [r.rule_id for r, found in result.hits if found] == ["r7"]


def test_every_group_of_a_filter_must_occur_for_its_rule_to_get_the_line() -> None:
    compiled = compile_query('process where process.name == "tool.exe" and x.real > 0')
    sample = Sample([b'{"process":{"name":"tool.exe"}}'] * 10)
    screens = query_screens(compiled, sample)
    assert screens is not None
    assert len(screens[0]) >= 2
    match = rule_matcher([screens])
    assert match is not None
    assert match(b'{"process":{"name":"tool.exe"}}') is None  # no field x.real
    assert match(b'{"process":{"name":"tool.exe"},"x":{"real":1}}') == [0]
    assert match(b'{"process":{"name":"tool.exe"},"x.real":1}') == [0]
    assert match(b'{"process":{"name":"tool.exe"},"x":{"re\\u0061l":1}}') == [0]  # escaped


def test_events_meet_only_the_rules_that_take_their_category() -> None:
    queries = ["process where true", "network where true", "any where true", "file where true"]
    index = CategoryIndex([categories_of(compile_query(q)) for q in queries])
    everyone = [0, 1, 2, 3]
    assert index.keep({"event": {"category": "process"}}, everyone) == [0, 2]
    assert index.keep({"event": {"category": ["network", "file"]}}, everyone) == [1, 2, 3]
    assert index.keep({"event": {"category": "dns"}}, everyone) == [2]
    assert index.keep({"event": {"category": []}}, everyone) == [2]
    # shapes the index does not read itself keep every rule (their dispatch decides)
    assert index.keep({"event.category": "file"}, everyone) == everyone
    assert index.keep({"event": {"category": [1, "file"]}}, everyone) == everyone
    assert index.keep({}, everyone) == everyone


def test_an_any_filter_testing_the_category_takes_only_those() -> None:
    tested = 'any where event.category in ("file", "process") and x == 1'
    assert categories_of(compile_query(tested)) == frozenset({"file", "process"})
    mixed = f"sequence by k [network where true] [{tested}]"
    assert categories_of(compile_query(mixed)) == frozenset({"file", "process", "network"})
    for loose in ('any where event.category : "file"', 'any where event.category != "file"'):
        assert categories_of(compile_query(loose)) is None


def test_a_sequence_whose_stage_no_line_passes_is_unmet() -> None:
    query = compile_query('sequence by k [process where a == "x"] [network where b == "y"]')
    sample = Sample([b'{"a":"x"}'] * 4)
    index = rule_index([query_screens(query, sample)], [required_filters(query)])
    assert index is not None
    assert index.match(b'{"event":{"category":"process"},"a":"x","k":1}') == [0]
    assert index.unmet() == {0}  # no line could fill the network stage
    assert index.match(b'{"event":{"category":"network"},"b":"y","k":1}') == [0]
    assert index.unmet() == set()
    again = rule_index([query_screens(query, sample)], [required_filters(query)])
    assert again is not None
    assert again.match(b'{"a":"\\u0078"}') == [0]  # an escape proves nothing: all met
    assert again.unmet() == set()


@settings(max_examples=150, deadline=None)
@given(
    queries=st.lists(query(), min_size=1, max_size=6),
    lines=st.lists(event(), min_size=1, max_size=12),
    order=st.randoms(use_true_random=False),
)
def test_remembered_rules_per_needle_set_and_category_are_what_fresh_ones_would_be(
    queries: list[str], lines: list[bytes], order: Any
) -> None:
    # lines repeat (the same needles, the same category) in another order: the second
    # time `match` and `keep_line` answer from memory, and must answer as the first time
    # and as the unremembering Python matcher, including what `unmet` proves afterwards
    again = lines * 2
    order.shuffle(again)
    compiled = [compile_query(q) for q in queries]
    sample = Sample([line.lower() for line in lines])
    screens = [query_screens(q, sample) for q in compiled]
    required = [required_filters(q) for q in compiled]
    fast, slow = rule_index(screens, required), rule_index(screens, required, fast=False)
    if fast is None or slow is None:
        assert (fast, slow) == (None, None)
        return
    cats = CategoryIndex([categories_of(q) for q in compiled])
    for line in again:
        kept, plain = fast.match(line), slow.match(line)
        assert kept == plain
        if kept is not None and plain is not None and cats.useful:
            fresh = CategoryIndex([categories_of(q) for q in compiled])
            assert _kept_or_error(cats, line, kept) == _kept_or_error(fresh, line, plain)
    assert fast.unmet() == slow.unmet()


def _kept_or_error(index: CategoryIndex, line: bytes, targets: list[int]) -> object:
    """`keep_line`'s rules, or the kind of error it raised (both must fail alike)."""
    try:
        return index.keep_line(line, targets)
    except Exception as exc:
        return type(exc)


@settings(max_examples=150, deadline=None)
@given(
    queries=st.lists(query(), min_size=1, max_size=6),
    lines=st.lists(event(), min_size=1, max_size=12),
)
def test_the_first_stage_test_from_found_needles_answers_as_the_line_search(
    queries: list[str], lines: list[bytes]
) -> None:
    compiled = [compile_query(q) for q in queries]
    sample = Sample([line.lower() for line in lines])
    screens = [query_screens(q, sample) for q in compiled]
    index = rule_index(screens, [required_filters(q) for q in compiled])
    if index is None:
        return
    first = [first_stage_needles(q, sample) for q in compiled]
    store = Candidates(first)
    test = index.first_stage_test(first)
    assert test is not None
    everyone = list(range(len(compiled)))
    for line in [*lines, b'{"k":"\\u0078"}', '{"k":"\u212a"}'.encode()]:
        targets = index.match(line)
        for some in (targets, everyone, everyone[1:]):
            if some:
                assert test(line, some) == store.may_hold(line, some)


def test_a_line_with_a_byte_past_ascii_is_matched_with_every_needle() -> None:
    # needles of one non-ASCII byte are left out of the first scan of every line (they
    # slow it down); a line holding such a byte is scanned again with all of them
    queries = [compile_query(q) for q in ('any where a : "*\u202e*"', 'any where d == "x"')]
    screens = [query_screens(q, None) for q in queries]
    fast, slow = rule_matcher(screens), rule_matcher(screens, fast=False)
    assert fast is not None
    assert slow is not None
    for line in (
        '{"a":"x\u202ey","d":"x"}'.encode(),
        '{"a":"x\u202ey"}'.encode(),
        '{"a":"\u00e9","d":"x"}'.encode(),
        b'{"a":"x\x7f","d":"x"}',
        b'{"a":"y","d":"x"}',
        b'{"a":"y"}',
    ):
        assert fast(line) == slow(line), line
    assert fast('{"a":"x\u202ey"}'.encode()) == [0]
    assert fast(b'{"a":"y","d":"x"}') == [1]


def test_where_most_lines_hold_a_wide_byte_every_line_is_scanned_once_alike() -> None:
    # past 1 line in WIDE_SHARE holding such a byte, lines are scanned with every needle
    # at once: the answers stay those of the plain matcher, line after line
    queries = [compile_query(q) for q in ('any where a : "*\u202e*"', 'any where d == "x"')]
    screens = [query_screens(q, None) for q in queries]
    fast, slow = rule_matcher(screens), rule_matcher(screens, fast=False)
    assert fast is not None
    assert slow is not None
    lines = [
        '{"a":"x\u202ey","d":"x"}'.encode(),
        '{"a":"\u00e9","d":"y"}'.encode(),
        b'{"a":"y","d":"x"}',
        '{"a":"x\u202e"}'.encode(),
        b'{"a":"y"}',
    ] * 40
    assert [fast(line) for line in lines] == [slow(line) for line in lines]
