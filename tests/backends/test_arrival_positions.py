"""Which events a window on the arrival axis reads (`ArrivalClock.positions`).

An event is known to have arrived between its arrival time and the observation that first
saw it. A window reads the events selected inside it, plus those whose interval reaches into
it and that happened no earlier than the window's length before the earliest event inside
it (a hit the window owns has one event inside; its others lie within the query's span).
"""

from __future__ import annotations

from array import array
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.backends.arrival_index import ArrivalClock, LateTally, from_micros
from eqlwatch.windowing import Selection

ARRIVAL = Selection("@timestamp", None, True)
HOUR = 3_600_000_000


def clock(rows: list[tuple[int, int, int]]) -> ArrivalClock:
    """rows: (event time, arrival, latest) in µs."""
    return ArrivalClock(
        array("q", (a for _, a, _ in rows)),
        datetime.now(UTC),
        LateTally(),
        latest=array("q", (max(a, u) for _, a, u in rows)),
        times=array("q", (t for t, _, _ in rows)),
    )


def expected(rows: list[tuple[int, int, int]], first: int, stop: int) -> list[int]:
    inside = [i for i, (_, a, _) in enumerate(rows) if first <= a < stop]
    if not inside:
        return []
    floor = min(rows[i][0] for i in inside) - (stop - first)
    extra = [
        i for i, (t, a, u) in enumerate(rows) if a < first and max(a, u) >= first and t >= floor
    ]
    return sorted(inside + extra)


_row = st.tuples(st.integers(0, 48), st.integers(0, 48), st.integers(0, 48)).map(
    lambda r: (r[0] * HOUR // 4, r[1] * HOUR // 4, r[2] * HOUR // 4)
)


@given(st.lists(_row, max_size=40), st.integers(0, 47), st.integers(1, 12))
def test_positions_are_the_interval_rule(
    rows: list[tuple[int, int, int]], start_q: int, length_q: int
) -> None:
    first, stop = start_q * HOUR // 4, (start_q + length_q) * HOUR // 4
    got = clock(rows).positions(ARRIVAL, from_micros(first), from_micros(stop), lambda: iter(()))
    assert got == expected(rows, first, stop)


def test_catch_up_after_a_long_stop_reads_a_window_not_the_stop() -> None:
    """Three days of on-time events first seen by one run after a stop: each may have arrived
    any time up to that run, yet a one-hour window reads about two hours of them."""
    step = 60_000_000  # one event a minute
    now = 3 * 24 * HOUR
    rows = [(t, t, now) for t in range(0, now, step)]
    first, stop = 24 * HOUR, 25 * HOUR
    got = clock(rows).positions(ARRIVAL, from_micros(first), from_micros(stop), lambda: iter(()))
    assert len(got) == 120  # the hour inside and the hour before it in event time
    assert got == expected(rows, first, stop)


def test_window_without_late_events_reads_only_its_own() -> None:
    rows = [(t * HOUR, t * HOUR, t * HOUR) for t in range(10)]
    got = clock(rows).positions(
        ARRIVAL, from_micros(3 * HOUR), from_micros(5 * HOUR), lambda: iter(())
    )
    assert got == [3, 4]


def test_a_window_reads_nothing_when_nothing_is_selected_inside_it() -> None:
    """No event inside: no hit can be owned here, whatever reaches in."""
    rows = [(0, 0, 10 * HOUR)]
    got = clock(rows).positions(
        ARRIVAL, from_micros(5 * HOUR), from_micros(6 * HOUR), lambda: iter(())
    )
    assert got == []
