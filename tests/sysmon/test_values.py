"""Fast paths of the value conversions give what the general path gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.sysmon.values import _parse_iso_time, parse_iso_time

_DIGIT = st.sampled_from("01234567890123456789\u0663")  # and an Arabic-Indic three


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(_DIGIT, min_size=n, max_size=n)


@st.composite
def zulu_time(draw: st.DrawFn) -> str:
    """Timestamps shaped like EVTX's (any digits, so invalid dates too)."""
    date = "-".join(draw(_digits(n)) for n in (4, 2, 2))
    time = ":".join(draw(_digits(2)) for _ in range(3))
    frac = draw(st.one_of(st.just(""), st.integers(1, 9).flatmap(_digits).map(".".__add__)))
    zone = draw(st.sampled_from(["Z", "Z", "", "z", "+00:00", " "]))
    return f"{date}{draw(st.sampled_from('T T t'))}{time}{frac}{zone}"


@given(st.one_of(zulu_time(), st.datetimes().map(lambda d: d.isoformat() + "Z")))
def test_iso_time_fast_path_is_the_general_one(value: str) -> None:
    assert parse_iso_time(value) == _parse_iso_time(value)


def test_iso_time_examples() -> None:
    assert parse_iso_time("2019-07-19T14:42:51.446280Z") == "2019-07-19T14:42:51.446Z"
    assert parse_iso_time("2019-07-19T14:42:51Z") == "2019-07-19T14:42:51.000Z"
    assert parse_iso_time("2019-07-19T14:42:51.4Z") == "2019-07-19T14:42:51.400Z"
    assert parse_iso_time("2019-02-30T14:42:51.4Z") is None  # no such day
    assert parse_iso_time("2019-07-19T24:00:00Z") == _parse_iso_time("2019-07-19T24:00:00Z")
    assert parse_iso_time("2019-04-27 15:57:25") == "2019-04-27T15:57:25.000Z"  # NXLog
