"""A sequence streamed over input in time order gives what holding and sorting gives, and
input out of order (anywhere, ties and untimed events included) falls back to exactly that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import Hit, SourceEvent, compile_query

QUERIES = [
    # plain: the fused loop
    "sequence by k with maxspan=1s [a where true] [b where f == 1]",
    "sequence by k [a where f == 1] [b where true] [a where true]",
    "sequence [a where f == 1] [b where true]",
    "sequence by k [a where f == 1] with runs=2 [b where true]",
    # the general path: until, missing events, `any`
    "sequence by k with maxspan=900ms [a where true] [b where true] until [c where f == 0]",
    "sequence with maxspan=1s [a where true] by k ![c where true] by k [b where true] by k",
    "sequence by k with maxspan=700ms ![c where f == 1] [a where true] [b where true]"
    " ![c where true]",
    "sequence by k with maxspan=2s [any where f == 1] [b where true]",
]
BASE = datetime(2025, 6, 1, tzinfo=UTC)
BASE_MS = int(BASE.timestamp()) * 1000

# (milliseconds, category, key, flag, timestamp form, index): few distinct times, for ties
ROWS = st.lists(
    st.tuples(
        st.integers(0, 2500),
        st.sampled_from(["a", "b", "c", "d"]),
        st.one_of(st.integers(0, 2), st.none(), st.lists(st.integers(0, 2), max_size=2)),
        st.integers(0, 1),
        st.sampled_from(["iso", "epoch", "offset", "nanos", "none"]),
        st.sampled_from(["i1", "i1", "i2"]),
    ),
    max_size=40,
)


def _stamp(ms: int, form: str, n: int) -> Any:
    moment = BASE + timedelta(milliseconds=ms)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"
    if form == "epoch":
        return BASE_MS + ms
    if form == "offset":
        return text + "+00:00"
    if form == "nanos":  # sub-millisecond digits: the same millisecond, a different text
        return text + f"{n % 1000:03d}123Z"
    return text + "Z"


def _events(rows: list[tuple[int, str, Any, int, str, str]]) -> list[SourceEvent]:
    events = []
    for n, (ms, cat, key, flag, form, index) in enumerate(rows, 1):
        src: dict[str, Any] = {"event": {"category": cat}, "k": key, "f": flag, "n": n % 4}
        if form != "none":
            src["@timestamp"] = _stamp(ms, form, n)
        events.append(SourceEvent(index, str(n), src))
    return events


def _time(ev: SourceEvent) -> int:
    stamp = ev.source.get("@timestamp")
    if stamp is None:
        return -1
    if isinstance(stamp, int):
        return stamp - BASE_MS
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")[:23] + "+00:00")
    return int((moment - BASE).total_seconds() * 1000)


@st.composite
def arrivals(draw: st.DrawFn) -> list[SourceEvent]:
    """The events in time order, entirely shuffled, or in order but for a few swaps."""
    events = _events(draw(ROWS))
    how = draw(st.sampled_from(["sorted", "shuffled", "swapped"]))
    if how == "shuffled":
        return list(draw(st.permutations(events)))
    events.sort(key=_time)  # stable: ties keep their draw order
    if how == "swapped" and len(events) > 1:
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(events) - 2))
            j = draw(st.integers(i + 1, len(events) - 1))
            events[i], events[j] = events[j], events[i]
    return events


def _shape(hits: list[Hit]) -> list[tuple[list[str], tuple[Any, ...]]]:
    return [([e.index + "/" + e.id for e in h.events], h.join_keys) for h in hits]


@settings(max_examples=300, deadline=None)
@given(arrivals(), st.sampled_from(QUERIES), st.sampled_from([None, "n"]))
def test_streamed_or_started_over_equals_held_and_sorted(
    events: list[SourceEvent], text: str, tiebreaker: str | None
) -> None:
    query = compile_query(text, tiebreaker_field=tiebreaker)
    expected = query.run_sorted(events)
    assert query.run(events) == expected
    assert query.run(iter(events)) == expected  # a one-pass iterator: kept, then resumed
    reads: list[int] = []

    def again() -> list[SourceEvent]:
        reads.append(1)
        return events

    assert query.run(iter(events), again=again) == expected
    assert len(reads) <= 1


def test_sorted_input_is_never_read_twice() -> None:
    rows = [(i * 10, "ab"[i % 2], 1, 1, "iso", "i1") for i in range(50)]
    events = _events(rows)
    query = compile_query("sequence by k [a where true] [b where f == 1]")

    def again() -> list[SourceEvent]:
        raise AssertionError("read again")

    hits = query.run(iter(events), again=again)
    assert len(hits) == 25
    assert _shape(hits) == _shape(query.run_sorted(events))


def test_an_event_late_by_one_millisecond_is_placed_where_it_belongs() -> None:
    """b (ts 5) arrives after a (ts 10): sorted, b comes first and completes nothing;
    streamed as it came it would complete [a, b]."""
    rows = [(10, "a", 1, 1, "iso", "i1"), (5, "b", 1, 1, "iso", "i1")]
    events = _events(rows)
    query = compile_query("sequence by k [a where true] [b where true]")
    assert query.run(iter(events)) == []
    swapped = [(5, "a", 1, 1, "iso", "i1"), (10, "b", 1, 1, "iso", "i1")]
    assert _shape(query.run(_events(swapped))) == [(["i1/1", "i1/2"], (1,))]


def test_a_tiebreaker_out_of_order_at_equal_times_is_sorted() -> None:
    """a and b share a millisecond; b's tiebreaker sorts first, so no sequence [a, b]."""
    a = SourceEvent("i1", "1", {"@timestamp": "2025-06-01T00:00:00.005Z", "k": 1, "n": 2,
                                "event": {"category": "a"}})  # fmt: skip
    b = SourceEvent("i1", "2", {"@timestamp": "2025-06-01T00:00:00.005Z", "k": 1, "n": 1,
                                "event": {"category": "b"}})  # fmt: skip
    for text in [
        "sequence by k [a where true] [b where true]",  # the fused plain loop
        "sequence by k [a where true] [b where true] until [c where true]",  # the general one
    ]:
        query = compile_query(text, tiebreaker_field="n")
        assert query.run_sorted([a, b]) == []
        assert query.run(iter([a, b])) == []
        later_b = b._replace(source={**b.source, "n": 3})  # now b sorts after a
        assert len(query.run([later_b, a])) == len(query.run([a, later_b])) == 1
