"""Late events, end to end over a simulated backend: windows on the selection axis.

Like test_simulation.py, but events arrive with random delays, many far beyond
`ingest_delay` (a laptop offline for hours). The simulated search behaves like
Elasticsearch with the filter Kibana builds for `timestamp_override = "event.ingested"`:
it sees an event when its *arrival* (`event.ingested`) lies in the query interval and it is
already searchable (a refresh lag of at most `ingest_delay`). Attribution is the hit's
latest arrival (`selection_time`). Whatever the delays, the alerts equal one pass over all
events (no loss, no duplicate), as long as a sequence's events arrive within
`late_tolerance` of each other. Two controls show the test can fail.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.model import Hit, HitEvent, TimeWindow
from eqlwatch.windowing import (
    Selection,
    Slice,
    WindowPolicy,
    attributed,
    completion_time,
    next_checkpoint,
    plan,
    policy_for,
    selection_time,
    split,
)

from .strategies import EPOCH

S = timedelta(minutes=10)  # the rule's maxspan
DELAY = timedelta(minutes=2)  # the job's ingest delay
TOLERANCE = timedelta(hours=1)  # the job's late_tolerance
INGESTED = Selection("@timestamp", "event.ingested", fallback=True)


@dataclasses.dataclass(frozen=True)
class Candidate:
    ident: int
    times: tuple[datetime, ...]  # event time
    arrivals: tuple[datetime, ...]  # event.ingested
    lags: tuple[timedelta, ...]  # refresh lag after arrival, at most DELAY

    def found(self, window: TimeWindow, now: datetime) -> bool:
        return all(
            window.start <= a < window.end and a + lag <= now
            for a, lag in zip(self.arrivals, self.lags, strict=True)
        )

    def hit(self) -> Hit:
        events = tuple(
            HitEvent(
                "logs",
                f"{self.ident}-{i}",
                {"@timestamp": t.isoformat(), "event": {"ingested": a.isoformat()}},
            )
            for i, (t, a) in enumerate(zip(self.times, self.arrivals, strict=True))
        )
        return Hit("sequence" if len(events) > 1 else "event", events)


@st.composite
def candidates(draw: st.DrawFn, kind: str) -> list[Candidate]:
    out = []
    for ident in range(draw(st.integers(0, 30))):
        first = EPOCH + timedelta(seconds=draw(st.integers(0, 86400)))
        count = 1 if kind == "event" else draw(st.integers(2, 4))
        offsets = sorted(draw(st.integers(0, int(S.total_seconds()))) for _ in range(count - 1))
        times = (first, *(first + timedelta(seconds=o) for o in offsets))
        # A common delay (often far beyond ingest_delay: a host offline for hours), plus
        # per-event jitter that keeps the arrivals within late_tolerance of each other.
        base = draw(st.sampled_from([0, 30, 3600, 5 * 3600]))
        base += draw(st.integers(0, int(DELAY.total_seconds())))
        room = int((TOLERANCE - S).total_seconds())
        arrivals = tuple(t + timedelta(seconds=base + draw(st.integers(0, room))) for t in times)
        lags = tuple(
            timedelta(seconds=draw(st.integers(0, int(DELAY.total_seconds())))) for _ in times
        )
        out.append(Candidate(ident, times, arrivals, lags))
    return out


def _policy(kind: str, chunk_s: int, max_slices: int, tolerance: timedelta) -> WindowPolicy:
    return policy_for(
        maxspan=S, has_until=False, has_trailing_missing=False, kind=kind,
        ingest_delay=DELAY, look_back=timedelta(hours=1), max_chunk=timedelta(seconds=chunk_s),
        max_slices=max_slices, min_split=timedelta(seconds=1), max_sequence_span=S,
        late_tolerance=tolerance,
    )  # fmt: skip


def _evaluate(
    s: Slice,
    policy: WindowPolicy,
    pool: list[Candidate],
    now: datetime,
    rng: random.Random,
    select: Selection | None,
) -> list[Hit]:
    if rng.random() < 0.2 and s.attribution.end - s.attribution.start > timedelta(seconds=2):
        first, second = split(s, policy)
        return _evaluate(first, policy, pool, now, rng, select) + _evaluate(
            second, policy, pool, now, rng, select
        )
    hits = [c.hit() for c in pool if c.found(s.query, now)]
    if select is None:  # the control: attribution on event time, as before
        return attributed(hits, s, completion_time)
    return attributed(hits, s, lambda hit: selection_time(hit, select))


def _run_all(
    pool: list[Candidate],
    policy: WindowPolicy,
    steps: list[int],
    seed: int,
    select: Selection | None = INGESTED,
) -> tuple[list[str], datetime, datetime]:
    rng = random.Random(seed)
    now, checkpoint = EPOCH + timedelta(hours=1), None
    began: datetime | None = None
    emitted: list[str] = []
    for step in steps:
        now += timedelta(seconds=step)
        for s in plan(checkpoint, now, policy):
            began = began or s.attribution.start
            hits = _evaluate(s, policy, pool, now, rng, select)
            emitted.extend(hit.events[0].id.split("-")[0] for hit in hits)
            checkpoint = next_checkpoint(s)
    assert began is not None
    assert checkpoint is not None
    return emitted, began, checkpoint


def _truth(pool: list[Candidate], start: datetime, end: datetime) -> list[str]:
    """One pass over all events: each candidate, owned by its latest arrival."""
    return sorted(str(c.ident) for c in pool if start <= max(c.arrivals) < end)


steps = st.lists(st.integers(60, 4 * 3600), min_size=30, max_size=70)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["event", "sequence"]).flatmap(lambda k: st.tuples(st.just(k), candidates(k))),
    steps,
    st.integers(60, 3 * 3600),
    st.integers(1, 6),
    st.integers(0, 2**32),
)
def test_late_events_are_alerted_once_whatever_their_delay(
    case: tuple[str, list[Candidate]], steps: list[int], chunk_s: int, max_slices: int, seed: int
) -> None:
    kind, pool = case
    policy = _policy(kind, chunk_s, max_slices, TOLERANCE)
    emitted, began, checkpoint = _run_all(pool, policy, [0, *steps], seed)
    assert sorted(emitted) == _truth(pool, began, checkpoint)  # no loss, no duplicate


def _late(ident: int, spread: timedelta) -> Candidate:
    """A sequence at 02:00 whose start arrives on time and whose end arrives `spread` later."""
    first = EPOCH + timedelta(hours=2)
    times = (first, first + timedelta(minutes=1))
    return Candidate(ident, times, (times[0], times[0] + spread), (timedelta(0),) * 2)


def test_a_sequence_arriving_across_runs_needs_late_tolerance() -> None:
    """The control for the overlap: with late_tolerance 0 the overlap is maxspan only, and
    a sequence whose second event arrives 50 minutes after its first is lost."""
    late = _late(1, timedelta(minutes=50))
    runs = [0, *([300] * 60)]
    emitted, began, end = _run_all([late], _policy("sequence", 300, 10, TOLERANCE), runs, 0)
    assert emitted == _truth([late], began, end) == ["1"]
    emitted, _, _ = _run_all([late], _policy("sequence", 300, 10, timedelta(0)), runs, 0)
    assert emitted == []


def test_windows_on_event_time_lose_a_late_event() -> None:
    """The control for the selection axis: an event at 02:00 that arrives at 03:00 is never
    alerted when windows select and attribute by event time (today's main before issue 15)."""
    late = Candidate(
        2, (EPOCH + timedelta(hours=2),), (EPOCH + timedelta(hours=3),), (timedelta(0),)
    )
    runs = [0, *([300] * 40)]
    policy = _policy("event", 300, 10, TOLERANCE)
    emitted, began, end = _run_all([late], policy, runs, 0)
    assert emitted == _truth([late], began, end) == ["2"]
    # Event-time attribution over an arrival-time query: found by the 03:00 query, but its
    # completion (02:00) lies before that slice, so no slice owns it.
    emitted, _, _ = _run_all([late], policy, runs, 0, select=None)
    assert emitted == []
