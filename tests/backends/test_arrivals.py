"""The arrival ledger: when each part of each file was first seen, across renames,
replacements, clock steps, retries and a damaged ledger file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.backends.arrivals import Ledger, Seen, load_ledger, observe_files, save_ledger
from eqlwatch.errors import BackendError

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def seen(path: str, data: bytes, unit: str = "bytes") -> Seen:
    return Seen(path, data[:4096], len(data), unit)  # type: ignore[arg-type]


def test_history_at_first_sight_is_on_time_and_never_in_the_future() -> None:
    ledger = Ledger()
    obs, (arr,) = ledger.observe(T0, [seen("a", b"x" * 100)])
    assert obs == T0
    assert arr.new_from == 0
    assert arr.arrival(10, T0 - 600 * M) == T0 - 600 * M  # old history keeps its time
    assert arr.arrival(10, T0 + 5 * M) == T0  # a future timestamp arrives now


def test_appended_lines_arrive_on_time_or_at_the_previous_observation() -> None:
    ledger = Ledger()
    data = b"a" * 100
    ledger.observe(T0, [seen("a", data)])
    data += b"b" * 50
    _, (arr,) = ledger.observe(T0 + 5 * M, [seen("a", data)])
    assert arr.new_from == 100
    assert arr.arrival(50, T0 - 10 * M) == T0 - 10 * M  # old segment, unchanged
    assert arr.arrival(120, T0 + 2 * M) == T0 + 2 * M  # appended on time
    assert arr.arrival(120, T0 - 10 * M) == T0  # appended late: the previous observation


def test_a_renamed_file_is_recognised_and_a_replaced_one_is_not(tmp_path: Path) -> None:
    ledger = Ledger()
    old = b'{"n": 1}\n' * 600  # more than 4 KiB
    ledger.observe(T0, [seen("logs.ndjson", old)])
    fresh = b'{"n": 2}\n' * 10
    _, (rotated, new) = ledger.observe(
        T0 + 5 * M, [seen("logs.ndjson.1", old), seen("logs.ndjson", fresh)]
    )
    assert rotated.new_from == len(old)  # nothing new in the rotated file
    assert rotated.arrival(0, T0 - 60 * M) == T0 - 60 * M
    assert new.new_from == 0
    assert new.arrival(0, T0 - 60 * M) == T0  # a new file's late lines: previous observation
    truncated = old[:100]
    _, (again,) = ledger.observe(T0 + 10 * M, [seen("logs.ndjson.1", truncated)])
    assert again.new_from == 0  # shorter than seen: a different file
    assert again.arrival(0, T0 - 60 * M) == T0 + 5 * M


def test_a_small_file_growing_past_its_first_bytes_stays_itself() -> None:
    ledger = Ledger()
    ledger.observe(T0, [seen("a", b"x" * 10)])
    _, (arr,) = ledger.observe(T0 + M, [seen("a", b"x" * 10 + b"y" * 5000)])
    assert arr.new_from == 10
    _, (arr,) = ledger.observe(T0 + 2 * M, [seen("a", b"x" * 10 + b"y" * 6000)])
    assert arr.new_from == 5010


def test_records_and_bytes_are_different_files() -> None:
    ledger = Ledger()
    ledger.observe(T0, [seen("a", b"x" * 10)])
    _, (arr,) = ledger.observe(T0 + M, [seen("a", b"x" * 10, unit="records")])
    assert arr.new_from == 0


def test_a_clock_step_backwards_never_moves_arrivals_back() -> None:
    ledger = Ledger()
    ledger.observe(T0, [seen("a", b"x" * 10)])
    obs, (arr,) = ledger.observe(T0 - 30 * M, [seen("a", b"x" * 20)])
    assert obs == T0
    assert arr.arrival(15, T0 - 60 * M) == T0


def test_saved_and_reloaded_ledger_gives_the_same_arrivals(tmp_path: Path) -> None:
    """A run that fails after observing re-reads the same arrivals on its retry."""
    path = tmp_path / "state" / "arrivals-job.json"
    observe_files(path, T0, [seen("a", b"x" * 10)])
    data = b"x" * 30
    prev, obs, (first,) = observe_files(path, T0 + 5 * M, [seen("a", data)])
    assert (prev, obs) == (T0, T0 + 5 * M)
    _, _, (retry,) = observe_files(path, T0 + 5 * M, [seen("a", data)])
    assert retry.segments == first.segments
    assert retry.arrival(20, T0 - M) == first.arrival(20, T0 - M) == T0
    assert not list(path.parent.glob("*.tmp"))


def test_a_damaged_ledger_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "arrivals-job.json"
    path.write_text('{"version": 1, "observation": "yesterday", "files": {}}')
    with pytest.raises(BackendError, match=r"arrivals-job\.json: arrival ledger unreadable"):
        load_ledger(path)
    path.write_bytes(b'{"version": 1, "observ')
    with pytest.raises(BackendError, match="move it aside"):
        observe_files(path, T0, [])
    assert path.read_bytes() == b'{"version": 1, "observ'  # left for the operator


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-120, 120), st.lists(st.integers(-300, 30), max_size=5)),
        min_size=1,
        max_size=12,
    )
)
def test_each_record_arrives_once_inside_the_interval_it_was_first_seen(
    steps: list[tuple[int, list[int]]],
) -> None:
    """Random runs (clock jitter included), random appends with random event times: a
    record's arrival is its event time clamped to the interval of the observation that
    first saw it, never later than that observation, and stable in every later one."""
    ledger = Ledger()
    records: list[tuple[datetime, int]] = []  # (event time, observation index)
    clock = T0
    intervals: list[tuple[datetime | None, datetime]] = []
    for index, (step_s, event_offsets) in enumerate(steps):
        clock += timedelta(seconds=step_s)
        records.extend((clock + timedelta(minutes=offset), index) for offset in event_offsets)
        size = len(records)
        prev = ledger.observation
        obs, (arr,) = ledger.observe(clock, [Seen("f", b"head", size, "records")])
        ledger = Ledger.from_json(ledger.to_json(), "ledger")  # every run restarts
        intervals.append((prev, obs))
        for position, (when, first_seen) in enumerate(records):
            low, high = intervals[first_seen]
            got = arr.arrival(position, when)
            expected = min(when if low is None else max(when, low), high)
            assert got == expected


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    ledger = Ledger()
    ledger.observe(T0, [seen("a", b"x" * 10), seen("b", b"y" * 10, unit="records")])
    save_ledger(tmp_path / "l.json", ledger)
    assert load_ledger(tmp_path / "l.json") == ledger


def test_a_live_file_keeps_a_bounded_ledger_and_its_recent_arrivals() -> None:
    """Appended every 5 minutes for 10 days: old segments merge, recent ones stay exact."""
    ledger = Ledger()
    size = 0
    clock = T0
    for _ in range(10 * 288):
        size += 10
        clock += 5 * M
        _, (arr,) = ledger.observe(clock, [seen("a", b"x" * size)])
    assert len(arr.segments) <= 7 * 288 + 2
    assert arr.arrival(size - 5, clock - 60 * M) == clock - 5 * M  # the newest: exact
    assert arr.arrival(size - 15, clock - 60 * M) == clock - 10 * M
