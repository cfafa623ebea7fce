"""completion_time and parse_timestamp: the instant that decides which slice owns a hit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eqlwatch.errors import DataError
from eqlwatch.model import Hit, HitEvent
from eqlwatch.windowing import completion_time, parse_timestamp


def _event(ts: object, n: int = 0, *, missing: bool = False) -> HitEvent:
    source = {} if missing else {"@timestamp": ts}
    return HitEvent("logs-x", f"id{n}", source, missing=missing)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00.123456789Z", datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-01T12:00:00.5+02:00", datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-01T10:00:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),  # no offset: UTC, as ES
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        (1772359200000, datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("1772359200000", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        (1772359200000.5, datetime(2026, 3, 1, 10, 0, 0, 500, tzinfo=UTC)),
        (["2026-03-01T10:00:00Z"], datetime(2026, 3, 1, 10, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_forms(raw: object, expected: datetime) -> None:
    parsed = parse_timestamp(raw)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("raw", ["yesterday", True, None, {"a": 1}, "", ["a", "b"]])
def test_parse_timestamp_rejects_non_timestamps(raw: object) -> None:
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_timestamp(raw)


def test_nanosecond_truncation_keeps_attribution_exact() -> None:
    """Slice edges are whole microseconds, so truncating nanoseconds never crosses an edge."""
    edge = datetime(2026, 3, 1, 10, 0, 0, 1, tzinfo=UTC)
    assert parse_timestamp("2026-03-01T10:00:00.000000999Z") < edge
    assert parse_timestamp("2026-03-01T10:00:00.000001000Z") >= edge


def test_completion_is_the_last_non_missing_event() -> None:
    hit = Hit(
        "sequence",
        (
            _event("2026-03-01T10:00:00Z", 1),
            _event("2026-03-01T10:02:00Z", 2),
            _event(None, 3, missing=True),
        ),
    )
    assert completion_time(hit) == datetime(2026, 3, 1, 10, 2, tzinfo=UTC)


def test_sample_completion_is_its_latest_event() -> None:
    hit = Hit("sample", (_event("2026-03-01T10:05:00Z", 1), _event("2026-03-01T10:01:00Z", 2)))
    assert completion_time(hit) == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)


def test_custom_timestamp_field_nested_or_dotted() -> None:
    nested = HitEvent("i", "1", {"event": {"created": "2026-03-01T10:00:00Z"}})
    dotted = HitEvent("i", "2", {"event.created": "2026-03-01T11:00:00Z"})
    assert completion_time(Hit("event", (nested,)), "event.created").hour == 10
    assert completion_time(Hit("event", (dotted,)), "event.created").hour == 11


def test_missing_timestamp_names_the_event_and_field() -> None:
    hit = Hit("event", (HitEvent("logs-x", "abc", {"host": {"name": "h"}}),))
    with pytest.raises(DataError, match=r"logs-x/abc \[@timestamp\]: event has no timestamp"):
        completion_time(hit)


def test_bad_timestamp_names_the_event_and_value() -> None:
    hit = Hit("event", (_event("soon", 7),))
    with pytest.raises(DataError, match=r"logs-x/id7 \[@timestamp\]: not a timestamp: 'soon'"):
        completion_time(hit)


def test_hit_of_only_missing_events_is_an_error() -> None:
    with pytest.raises(DataError, match="no non-missing event"):
        completion_time(Hit("sequence", (_event(None, missing=True),)))


def test_epoch_millis_round_trip() -> None:
    moment = datetime(2026, 5, 17, 8, 30, 15, 250000, tzinfo=UTC)
    millis = int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    assert parse_timestamp(millis) == moment
