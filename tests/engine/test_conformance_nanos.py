"""Sequences at nanosecond precision, as Elasticsearch runs them.

A `date_nanos` timestamp keeps every digit: events are ordered by it and `maxspan` is
compared with the exact difference (Elasticsearch's `Timestamp.delta`, in ns, against
`maxspan` in ns; "exceeds" is strictly greater). A `date` field, and a timestamp without a
mapping (what dynamic mapping and Elastic's templates make of `@timestamp`), keeps
milliseconds: the digits below are dropped before ordering and measuring.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import SourceEvent, compile_query
from eqlwatch.engine.schema import FieldSchema, parse_mapping
from eqlwatch.engine.values import date_parser, format_iso_ms

NANOS = parse_mapping({"properties": {"@timestamp": {"type": "date_nanos"}}})
MILLIS = parse_mapping({"properties": {"@timestamp": {"type": "date"}}})
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in epoch ns
S = 1_000_000_000
MS = 1_000_000
PAIR = 'sequence with maxspan=1s [process where kind == "a"] [process where kind == "b"]'


def iso_ns(ns: int) -> str:
    """Epoch ns as an ISO text with all nine fraction digits."""
    return format_iso_ms(ns - ns % S)[:-5] + f".{ns % S:09d}Z"


def doc(n: int, kind: str, ns: int, *, text: Any = None) -> SourceEvent:
    stamp = iso_ns(ns) if text is None else text
    source = {"@timestamp": stamp, "event": {"category": "process"}, "kind": kind, "n": n}
    return SourceEvent("logs", str(n), source)


def run(query: str, events: list[SourceEvent], schema: FieldSchema | None, **kw: Any) -> list[int]:
    hits = compile_query(query, schema=schema, size=1000, **kw).run(events)
    return [int(e.source["n"]) for h in hits for e in h.events if not e.missing]


def test_span_exactly_maxspan_matches_and_one_ns_more_does_not() -> None:
    for end, expected in ((T0 + S - 1, [1, 2]), (T0 + S, [1, 2]), (T0 + S + 1, [])):
        events = [doc(1, "a", T0), doc(2, "b", end)]
        assert run(PAIR, events, NANOS) == expected, end - T0
        assert run(PAIR, events, NANOS, tiebreaker_field="n") == expected


def test_a_date_field_measures_whole_milliseconds() -> None:
    # 0.0001 ms -> 1000.8999 ms: 1000.8998 ms apart, but 0 -> 1000 ms once truncated
    events = [doc(1, "a", T0 + 100), doc(2, "b", T0 + S + 899_900)]
    assert run(PAIR, events, NANOS) == []
    assert run(PAIR, events, MILLIS) == [1, 2]
    assert run(PAIR, events, None) == [1, 2]  # unmapped: a `date`, as dynamic mapping makes it
    # truncation only ever shortens a span by less than 1 ms, so with a whole-ms maxspan
    # it never rejects what the exact times accept: 0.9999 -> 1001.0 ms is over both ways
    events = [doc(1, "a", T0 + 999_900), doc(2, "b", T0 + S + MS)]
    assert run(PAIR, events, NANOS) == []
    assert run(PAIR, events, MILLIS) == []


def test_order_within_a_millisecond_is_by_nanoseconds_only_for_date_nanos() -> None:
    # "a" is 400 ns before "b" but has the larger tiebreaker
    events = [doc(2, "a", T0 + 100), doc(1, "b", T0 + 500)]
    ab = 'sequence [process where kind == "a"] [process where kind == "b"]'
    ba = 'sequence [process where kind == "b"] [process where kind == "a"]'
    assert run(ab, events, NANOS, tiebreaker_field="n") == [2, 1]
    assert run(ba, events, NANOS, tiebreaker_field="n") == []
    # a `date` sees both at the same millisecond: the tiebreaker decides
    assert run(ab, events, MILLIS, tiebreaker_field="n") == []
    assert run(ba, events, MILLIS, tiebreaker_field="n") == [1, 2]


def test_epoch_millis_with_a_fraction_is_exact() -> None:
    """The nanos QA index writes `<millis>.<nanos of milli>`; a float would be off by ~16 ns."""
    parse = date_parser(nanos=True)
    assert parse("131509374395.92178") == 131509374395_921780
    assert parse("131509374395.921781") == 131509374395_921781
    assert parse("131509374395") == 131509374395_000000
    assert parse(131509374395.92178) == 131509374395_921780
    assert date_parser()("131509374395.92178") == 131509374395_000000  # a `date`: ms
    assert date_parser("epoch_second", nanos=True)("1.000000001") == S + 1
    assert date_parser("epoch_second", nanos=True)(2) == 2 * S  # a number in the format's unit
    events = [
        doc(1, "a", 0, text="131509374395.92178"),
        doc(2, "b", 0, text="131509374395.921781"),
    ]
    query = 'process where @timestamp == "1974-03-03T02:22:54.395921781Z"'
    assert run(query, events, NANOS) == [2]
    assert run(query, events, MILLIS) == [1, 2]  # both are ...54.395Z, so is the literal


def test_missing_event_bounds_are_epoch_milliseconds_against_exact_times() -> None:
    """Elasticsearch asks for missing events `> prev ms` and `< next ms` (epoch_millis
    bounds) and compares the hits' exact times: a date_nanos hit 0.3 ms after `a`, in its
    millisecond, is between; one in `b`'s millisecond before `b` is not."""
    query = (
        "sequence with maxspan=1s "
        '[process where kind == "a"] ![process where kind == "x"] [process where kind == "b"]'
    )
    a, b = T0 + 100_000, T0 + 5 * MS + 600_000
    for x, discarded in ((T0 + 400_000, True), (T0 + 5 * MS + 300_000, False)):
        events = [doc(1, "a", a), doc(2, "x", x), doc(3, "b", b)]
        assert run(query, events, NANOS) == ([] if discarded else [1, 3]), x - T0


def test_a_trailing_missing_event_in_the_last_events_millisecond_counts() -> None:
    """`> last event's epoch ms`: with date_nanos a hit 0.2 ms *before* `b` but in its
    millisecond is a trailing event (within maxspan: the sequence is discarded)."""
    query = (
        "sequence with maxspan=1s "
        '[process where kind == "a"] [process where kind == "b"] ![process where kind == "x"]'
    )
    b = T0 + 5 * MS + 600_000
    for x, kept in ((b - 200_000, False), (b - 700_000, True), (b + 1, False)):
        events = [doc(1, "a", T0), doc(2, "x", x), doc(3, "b", b)]
        assert run(query, events, NANOS, tiebreaker_field="n") == ([1, 3] if kept else []), x - b
    # a `date` has no digits below the millisecond: the same hit is not after `b`'s ms
    events = [doc(1, "a", T0), doc(2, "x", b - 200_000), doc(3, "b", b)]
    assert run(query, events, MILLIS, tiebreaker_field="n") == [1, 3]


# --- property: maxspan and ordering against a direct model -------------------------------
MAXSPAN_MS = 5
# offsets that sit on and around the maxspan boundary, in and across milliseconds
_NEAR = [0, 1, 999_999, MS, MS + 1, MAXSPAN_MS * MS - 1, MAXSPAN_MS * MS, MAXSPAN_MS * MS + 1]
offsets = st.one_of(
    st.sampled_from(_NEAR),
    st.integers(0, 3 * MAXSPAN_MS * MS),
    st.builds(lambda k, d: k * MS + d, st.integers(0, 3 * MAXSPAN_MS), st.integers(-2, 2)),
)


def model(events: list[tuple[int, str, int]], maxspan: int) -> list[int]:
    """Elasticsearch's matcher for `sequence with maxspan [a] [b]` on one key: events in
    (timestamp, tiebreaker) order; a new `a` replaces the waiting one; a `b` takes the
    waiting `a` (which is used up either way) and completes when `b - a <= maxspan`."""
    out: list[int] = []
    waiting: tuple[int, int] | None = None
    for ts, kind, n in sorted(events, key=lambda e: (e[0], e[2])):
        if kind == "b" and waiting is not None:
            if ts - waiting[0] <= maxspan:
                out += [waiting[1], n]
            waiting = None
        elif kind == "a":
            waiting = (ts, n)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(offsets, st.sampled_from("ab")), min_size=1, max_size=12))
def test_maxspan_and_order_match_the_model_at_both_resolutions(
    drawn: list[tuple[int, str]],
) -> None:
    query = (
        f"sequence with maxspan={MAXSPAN_MS}ms "
        '[process where kind == "a"] [process where kind == "b"]'
    )
    events = [(T0 + off, kind, n) for n, (off, kind) in enumerate(drawn, 1)]
    docs = [doc(n, kind, ts) for ts, kind, n in events]
    exact = model(events, MAXSPAN_MS * MS)
    assert run(query, docs, NANOS, tiebreaker_field="n") == exact
    floored = [(ts - ts % MS, kind, n) for ts, kind, n in events]
    assert run(query, docs, MILLIS, tiebreaker_field="n") == model(floored, MAXSPAN_MS * MS)
    # without a tiebreaker, ties keep arrival order, which is `n` here too
    assert run(query, docs, None) == model(floored, MAXSPAN_MS * MS)
