"""The cached ISO fast path gives what the calendar gives, on first and repeated reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.engine.values import _fast_iso

MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(MOMENTS, st.sampled_from([0, 3, 6, 9]))
def test_fast_iso_matches_the_calendar(moment: datetime, digits: int) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    nanos = moment.microsecond * 1000
    frac = f"{nanos:09d}"[:digits]
    if digits:
        text += "." + frac
    expected = (moment.replace(microsecond=0) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        seconds=1
    ) * 1_000_000_000 + int(frac.ljust(9, "0"))
    assert _fast_iso(text + "Z") == expected
    assert _fast_iso(text + "Z") == expected  # second read comes from the cache


def test_fast_iso_rejects_what_it_does_not_know() -> None:
    assert _fast_iso("2025-06-01T00:00:00.123Z") == 1748736000123000000
    for bad in (
        "2025-06-01 00:00:00.123Z",
        "2025-06-01T00:00:00,123Z",
        "2025-06-01T00:00:00.1234567890Z",
        "2025-06-01T00:00:00.12aZ",
        "2025-13-01T00:00:00.123Z",
        "2025-06-01T00:00:00.123+01",
    ):
        assert _fast_iso(bad) is None
        assert _fast_iso(bad) is None
