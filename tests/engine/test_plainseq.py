"""The fused loop for plain sequences gives exactly what the general `offer` path gives."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import Hit, SourceEvent, compile_query
from eqlwatch.engine.reader import read_event_file

PLAIN_QUERIES = [
    "sequence by k with maxspan=1s [a where true] [b where f == 1]",
    "sequence by k with maxspan=600ms [a where f == 0] [b where true] [a where true]",
    "sequence by k, f [a where true] [b where true]",
    "sequence [a where f == 1] [b where true] [c where true]",
    "sequence by k with maxspan=2s [any where f == 1] [b where true]",
    "sequence by k [a where f == 1] with runs=2 [b where true]",
]
KEYS = st.one_of(st.integers(0, 2), st.none(), st.lists(st.integers(0, 2), max_size=2))
ROWS = st.lists(
    st.tuples(
        st.integers(0, 400),
        st.sampled_from(["a", "b", "c"]),
        KEYS,
        st.integers(0, 1),
        st.booleans(),
    ),
    max_size=40,
)


def _events(rows: list[tuple[int, str, Any, int, bool]]) -> list[SourceEvent]:
    """Rows of (time step, category, key, flag, has timestamp) in timestamp order."""
    events, ts = [], 0
    for n, (step, cat, key, flag, timed) in enumerate(rows, 1):
        ts += step
        src: dict[str, Any] = {"event": {"category": cat}, "k": key, "f": flag, "n": n}
        if timed:  # epoch ms, or ISO text in the usual shape or with an offset
            src["@timestamp"] = (
                BASE_MS + ts if n % 3 == 0 else _iso(ts, "Z" if n % 3 == 1 else "+00:00")
            )
        events.append(SourceEvent("idx", str(n), src))
    return events


BASE = datetime(2025, 6, 1, tzinfo=UTC)
BASE_MS = int(BASE.timestamp()) * 1000


def _iso(ms: int, zone: str) -> str:
    moment = BASE + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}{zone}"


def _ids(hits: list[Hit]) -> list[tuple[list[str], tuple[Any, ...]]]:
    return [([e.id for e in h.events], h.join_keys) for h in hits]


@settings(max_examples=80, deadline=None)
@given(ROWS, st.sampled_from(PLAIN_QUERIES), st.integers(1, 5), st.sampled_from([None, "n"]))
def test_plain_loop_agrees_with_the_general_path(
    rows: list[tuple[int, str, Any, int, bool]], text: str, sweep: int, tiebreaker: str | None
) -> None:
    query = compile_query(text, tiebreaker_field=tiebreaker)
    events = _events(rows)
    fast, general = query.executor(), query.executor()
    assert fast.plain is not None
    general.plain = None
    for ex in (fast, general):
        assert ex.matcher is not None
        ex.matcher.sweep_every = sweep
        ex.feed(events[:20])
        ex.feed(events[20:])
    assert _ids(fast.finish()) == _ids(general.finish())
    assert fast.seq == general.seq == len(events)


def test_until_and_missing_events_keep_the_general_path() -> None:
    for text in (
        "sequence by k [a where true] [b where true] until [c where true]",
        "sequence by k with maxspan=1s [a where true] ![c where true] [b where true]",
    ):
        assert compile_query(text).executor().plain is None


def test_ndjson_files_fed_line_by_line_agree_with_the_event_stream(tmp_path: Path) -> None:
    rng = random.Random(7)
    lines, ts = [], 0
    for n in range(1, 400):
        ts += rng.randint(0, 300)
        src = {"@timestamp": ts, "event": {"category": rng.choice("abc")}, "k": rng.randint(0, 3)}
        src["f"] = rng.randint(0, 1)
        shape = rng.random()
        if shape < 0.05:
            lines.append(b"{not json")
        elif shape < 0.08:
            lines.append(b"   ")
        elif shape < 0.12:
            lines.append(json.dumps({"_id": f"h{n}", "_source": src}).encode())
        elif shape < 0.14:
            lines.append(b"[1, 2]")
        else:
            lines.append(json.dumps(src).encode())
    path = tmp_path / "logs.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    query = compile_query(PLAIN_QUERIES[0])
    results = []
    for fused in (True, False):
        ex = query.executor()
        events, counter = read_event_file(path)
        ex.feed(events if fused else iter(list(events)))
        hits = ex.finish()
        sources = [e.source for h in hits for e in h.events]
        results.append(
            (_ids(hits), sources, ex.seq, counter.count, [str(e) for e in counter.errors])
        )
    assert results[0] == results[1]
    assert results[0][0]
    assert results[0][3] > 0
