"""End to end over a simulated backend: windows and restarts lose nothing, repeat nothing.

The simulated search behaves like Elasticsearch with a range filter: it only sees events
inside the query interval that have already arrived (arrival = event time + a delay of at
most `ingest_delay`). A sequence is found when all its events are visible; with a trailing
missing event (`![...]`) it is suppressed only if the voiding event is visible too, which is
exactly how a too-narrow window produces false alerts.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.model import Hit, HitEvent, TimeWindow
from eqlwatch.windowing import (
    Slice,
    WindowPolicy,
    attributed,
    completion_time,
    next_checkpoint,
    plan,
    policy_for,
    split,
)

from .strategies import EPOCH

S = timedelta(minutes=10)  # the rule's maxspan
DELAY = timedelta(minutes=2)  # the job's ingest delay


@dataclasses.dataclass(frozen=True)
class Candidate:
    ident: int
    times: tuple[datetime, ...]
    arrivals: tuple[timedelta, ...]
    void_at: datetime | None  # a trailing missing event that voids the sequence
    void_arrival: timedelta

    def visible(self, t: datetime, lag: timedelta, window: TimeWindow, now: datetime) -> bool:
        return window.start <= t < window.end and t + lag <= now

    def found(self, window: TimeWindow, now: datetime) -> bool:
        pairs = zip(self.times, self.arrivals, strict=True)
        if not all(self.visible(t, lag, window, now) for t, lag in pairs):
            return False
        return self.void_at is None or not self.visible(
            self.void_at, self.void_arrival, window, now
        )

    def hit(self) -> Hit:
        events = tuple(
            HitEvent("logs", f"{self.ident}-{i}", {"@timestamp": t.isoformat()})
            for i, t in enumerate(self.times)
        )
        return Hit("sequence", (*events, HitEvent("logs", "", {}, missing=True)))


@st.composite
def candidates(draw: st.DrawFn, trailing_missing: bool) -> list[Candidate]:
    out = []
    for ident in range(draw(st.integers(0, 40))):
        first = EPOCH + timedelta(seconds=draw(st.integers(0, 86400)))
        offsets = sorted(
            draw(st.lists(st.integers(0, int(S.total_seconds())), min_size=1, max_size=3))
        )
        times = (first, *(first + timedelta(seconds=o) for o in offsets))
        void_at = None
        if trailing_missing and draw(st.booleans()):
            lo, hi = int((times[-1] - first).total_seconds()), int(S.total_seconds())
            void_at = first + timedelta(seconds=draw(st.integers(lo, hi)))
        lags = st.integers(0, int(DELAY.total_seconds())).map(lambda s: timedelta(seconds=s))
        arrivals = tuple(draw(lags) for _ in times)
        out.append(Candidate(ident, times, arrivals, void_at, draw(lags)))
    return out


def _policy(trailing_missing: bool, chunk_s: int, max_slices: int) -> WindowPolicy:
    return policy_for(
        maxspan=S, has_until=False, has_trailing_missing=trailing_missing, kind="sequence",
        ingest_delay=DELAY, look_back=timedelta(hours=1), max_chunk=timedelta(seconds=chunk_s),
        max_slices=max_slices, min_split=timedelta(seconds=1), max_sequence_span=S,
    )  # fmt: skip


def _evaluate(
    s: Slice, policy: WindowPolicy, pool: list[Candidate], now: datetime, rng: random.Random
) -> list[Hit]:
    """One slice, splitting at random as if the search had come back full."""
    if rng.random() < 0.2 and s.attribution.end - s.attribution.start > timedelta(seconds=2):
        first, second = split(s, policy)
        return _evaluate(first, policy, pool, now, rng) + _evaluate(second, policy, pool, now, rng)
    hits = [c.hit() for c in pool if c.found(s.query, now)]
    return attributed(hits, s, completion_time)


def _run_all(pool, policy, steps, seed) -> tuple[list[str], datetime, datetime]:
    """Runs at increasing `now` (restarts between runs), resuming from the checkpoint."""
    rng = random.Random(seed)
    now, checkpoint = EPOCH + timedelta(hours=1), None
    began: datetime | None = None
    emitted: list[str] = []
    for step in steps:
        now += timedelta(seconds=step)
        slices = plan(checkpoint, now, policy)
        for s in slices:
            began = began or s.attribution.start
            hits = _evaluate(s, policy, pool, now, rng)
            emitted.extend(hit.events[0].id.split("-")[0] for hit in hits)
            checkpoint = next_checkpoint(s)  # only after the slice's alerts are "written"
    assert began is not None
    assert checkpoint is not None
    return emitted, began, checkpoint


def _truth(pool: list[Candidate], start: datetime, end: datetime) -> list[str]:
    return sorted(str(c.ident) for c in pool if c.void_at is None and start <= c.times[-1] < end)


steps = st.lists(st.integers(60, 4 * 3600), min_size=30, max_size=60)


@settings(max_examples=60, deadline=None)
@given(st.booleans().flatmap(lambda m: st.tuples(st.just(m), candidates(m))), steps,
       st.integers(60, 3 * 3600), st.integers(1, 6), st.integers(0, 2**32))  # fmt: skip
def test_windows_and_restarts_match_one_big_window(case, steps, chunk_s, max_slices, seed):
    trailing_missing, pool = case
    policy = _policy(trailing_missing, chunk_s, max_slices)
    emitted, began, checkpoint = _run_all(pool, policy, [0, *steps], seed)
    assert sorted(emitted) == _truth(pool, began, checkpoint)  # no loss, no duplicate


def test_without_hold_back_a_trailing_missing_event_is_missed() -> None:
    """The control: the same simulation catches the false alert hold_back prevents."""
    first = EPOCH + timedelta(hours=2)
    late_void = Candidate(
        1, (first, first + timedelta(minutes=1)), (timedelta(0),) * 2,
        void_at=first + timedelta(minutes=9), void_arrival=timedelta(0),
    )  # fmt: skip
    runs = [0, *([300] * 40)]
    good = _policy(True, 600, 10)
    emitted, began, end = _run_all([late_void], good, runs, 0)
    assert emitted == _truth([late_void], began, end) == []
    naive = dataclasses.replace(good, hold_back=timedelta(0))
    emitted, _, _ = _run_all([late_void], naive, runs, 0)
    assert emitted == ["1"]  # alerted before the voiding event could be seen


def test_without_overlap_a_sequence_across_a_window_edge_is_lost() -> None:
    """The other control: overlap is what keeps a sequence straddling two runs."""
    first = EPOCH + timedelta(hours=2, minutes=4)
    straddling = Candidate(
        2, (first, first + timedelta(minutes=3)), (timedelta(0),) * 2,
        void_at=None, void_arrival=timedelta(0),
    )  # fmt: skip
    runs = [0, *([300] * 40)]
    good = _policy(False, 300, 10)
    emitted, _, _ = _run_all([straddling], good, runs, 0)
    assert emitted == ["2"]
    naive = dataclasses.replace(good, overlap=timedelta(0))
    emitted, _, _ = _run_all([straddling], naive, runs, 0)
    assert emitted == []
