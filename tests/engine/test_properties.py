"""Hypothesis properties: wildcards vs a reference, chunking, pruning, head/tail vs slicing."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import CompiledQuery, Hit, SourceEvent, compile_query
from eqlwatch.engine.reader import read_event_file
from eqlwatch.engine.schema import parse_mapping
from eqlwatch.engine.wildcard import compile_wildcards

ALPHABET = "aAbB*?.\\"


def reference_match(pattern: str, text: str) -> bool:
    """Textbook recursive wildcard matching: `*` any run, `?` one character."""

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(text)
        if pattern[i] == "*":
            return go(i + 1, j) or (j < len(text) and go(i, j + 1))
        if j < len(text) and (pattern[i] == "?" or pattern[i] == text[j]):
            return go(i + 1, j + 1)
        return False

    return go(0, 0)


@given(
    st.lists(st.text(ALPHABET, max_size=6), min_size=1, max_size=3),
    st.text("aAbB.\\", max_size=8),
    st.booleans(),
)
def test_wildcards_match_the_reference(patterns: list[str], text: str, insensitive: bool) -> None:
    matcher = compile_wildcards(patterns, insensitive)
    if insensitive:
        expected = any(reference_match(p.lower(), text.lower()) for p in patterns)
    else:
        expected = any(reference_match(p, text) for p in patterns)
    assert matcher(text) is expected


def _events(rows: list[tuple[int, str, int, int]]) -> list[SourceEvent]:
    """Rows of (time step, category, key, flag) as events in timestamp order."""
    events, ts = [], 0
    for n, (step, cat, key, flag) in enumerate(rows, 1):
        ts += step
        src = {"@timestamp": ts, "event": {"category": cat}, "k": key, "f": flag, "n": n}
        events.append(SourceEvent("idx", str(n), src))
    return events


EVENT_ROWS = st.lists(
    st.tuples(
        st.integers(0, 400),
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 2),
        st.integers(0, 1),
    ),
    max_size=40,
)

SEQUENCE_QUERIES = [
    "sequence by k with maxspan=1s [a where true] [b where f == 1]",
    "sequence by k with maxspan=900ms [a where true] [b where true] until [c where f == 0]",
    "sequence with maxspan=1s [a where true] by k ![c where true] by k [b where true] by k",
    "sequence by k with maxspan=700ms ![c where f == 1] [a where true] [b where true]"
    " ![c where true]",
    "sequence by k [a where true] with runs=2 [b where true]",
    "sample by k [a where true] [b where f == 1]",
]


def _ids(hits: list[Hit]) -> list[list[str]]:
    return [[e.id if not e.missing else "-" for e in h.events] for h in hits]


def _chunked(
    query: CompiledQuery, events: list[SourceEvent], cuts: list[int], sweep: int | None
) -> list[Hit]:
    ex = query.executor()
    if sweep is not None and ex.matcher is not None:
        ex.matcher.sweep_every = sweep
    start = 0
    for cut in [*sorted({min(c, len(events)) for c in cuts}), len(events)]:
        ex.feed(events[start:cut])
        start = cut
    return ex.finish()


@settings(max_examples=60, deadline=None)
@given(EVENT_ROWS, st.sampled_from(SEQUENCE_QUERIES), st.lists(st.integers(0, 40), max_size=6))
def test_results_do_not_depend_on_chunking_or_pruning(
    rows: list[tuple[int, str, int, int]], text: str, cuts: list[int]
) -> None:
    query = compile_query(text, tiebreaker_field="n")
    events = _events(rows)
    whole = query.run(events)
    assert _ids(_chunked(query, events, cuts, None)) == _ids(whole)
    assert _ids(_chunked(query, events, cuts, 1)) == _ids(whole)


@settings(max_examples=60, deadline=None)
@given(
    EVENT_ROWS,
    st.lists(st.tuples(st.sampled_from(["head", "tail"]), st.integers(1, 12)), max_size=3),
    st.sampled_from(["a where true", "sequence by k [a where true] [b where true]"]),
)
def test_head_and_tail_are_slices(
    rows: list[tuple[int, str, int, int]], pipes: list[tuple[str, int]], base: str
) -> None:
    events = _events(rows)
    full = _ids(compile_query(base, tiebreaker_field="n").run(events))
    text = base + "".join(f" | {name} {n}" for name, n in pipes)
    expected = full
    for name, n in pipes:
        expected = expected[:n] if name == "head" else (expected[-n:] if n else [])
    assert _ids(compile_query(text, tiebreaker_field="n").run(events)) == expected


TEXT = st.text('ab/\\"é', max_size=3)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "c": st.sampled_from(["a", "b", "c"]),
                "x": st.one_of(TEXT, st.integers(0, 3), st.lists(TEXT, max_size=2)),
                "k": st.integers(0, 2),
                "ascii": st.booleans(),
            }
        ),
        max_size=25,
    ),
    st.sampled_from(
        [
            'a where x == "a/"',
            'a where x in ("b", "é", "\\\\")',
            'sequence by k [a where x == "a"] [b where x == "\\"" or x == "b"]',
            'sequence by k [a where true] [b where x == "1"] until [c where x in ("a", "b")]',
        ]
    ),
)
def test_line_prefilter_never_drops_a_match(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]], text: str
) -> None:
    path = tmp_path_factory.mktemp("pf") / "ev.ndjson"
    lines = []
    for n, row in enumerate(rows, 1):
        doc = {"@timestamp": n, "event": {"category": row["c"]}, "x": row["x"], "k": row["k"]}
        lines.append(json.dumps(doc, ensure_ascii=row["ascii"]).encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    for schema in (None, parse_mapping({"properties": {"x": {"type": "keyword"}}})):
        query = compile_query(text, schema=schema)
        keep = query.line_filter("ev")
        assert keep is not None
        plain = query.run(read_event_file(path)[0])
        filtered = query.run(read_event_file(path, line_filter=keep)[0])
        assert _ids(filtered) == _ids(plain)
