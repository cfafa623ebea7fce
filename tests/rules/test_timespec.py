from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.rules import format_duration, parse_duration, parse_from


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("250ms", timedelta(milliseconds=250)),
        (" 10 m ", timedelta(minutes=10)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["5", "5 minutes", "m", "-5m", "1.5h", "", "now-5m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_parse_from() -> None:
    assert parse_from("now-9m") == timedelta(minutes=9)
    assert parse_from("now") == timedelta(0)
    with pytest.raises(ValueError, match="now-"):
        parse_from("9m")
    with pytest.raises(ValueError, match="now-"):
        parse_from("now+9m")


@given(st.integers(min_value=0, max_value=10**9))
def test_format_roundtrip(ms: int) -> None:
    value = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(value)) == value


def test_format_prefers_largest_unit() -> None:
    assert format_duration(timedelta(minutes=90)) == "90m"
    assert format_duration(timedelta(hours=2)) == "2h"
    assert format_duration(timedelta(0)) == "0ms"
