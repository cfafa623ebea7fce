"""Needles derived from queries: only what a match forces into the raw line."""

from __future__ import annotations

import pytest

from eqlwatch.engine import compile_query
from eqlwatch.engine.needles import NON_ASCII, Group, Sample, minimal, query_needles


def needles(query: str, sample: Sample | None = None) -> Group | None:
    return query_needles(compile_query(query), sample)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('process where process.name : "regsvr32.exe"', {b'"regsvr32.exe"'}),
        # an object's Python text may match: a line with a character Python escapes may too
        ('any where process.name : "*\\\\Temp\\\\*"', {b"\\\\temp\\\\", b"\x7f", *NON_ASCII}),
        ('any where process.name like "Reg*"', {b'"reg'}),
        (
            'any where x : ("*abc*", "de?f*") or y == "Q"',
            {b"abc", b'"de', b'"q"', b"\x7f", *NON_ASCII},
        ),
        ('any where x in ("A", "b") and length(y) > 2', {b'"a"', b'"b"'}),
        ('any where x in~ ("Ab")', {b'"ab"'}),
        ("network where destination.port == 443", {b'"network"'}),
    ],
)
def test_needles_a_match_forces(query: str, expected: set[bytes]) -> None:
    assert needles(query) == frozenset(expected)


@pytest.mark.parametrize(
    "query",
    [
        'any where not x == "a"',
        'any where x != "a"',  # true where x has no value
        'any where x == "a" or length(y) > 1',
        'sequence [process where x == "a"] [any where true]',
    ],
)
def test_no_needles_when_any_line_may_match(query: str) -> None:
    assert needles(query) is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('any where x : "*"', {b'"x"'}),
        ('any where x : "12*"', {b'"x"'}),  # a number's text could match: only the name
        ('any where x in~ ("\u212a")', {b'"x"'}),  # Kelvin sign lower-cases to ASCII "k"
        ('any where x : "{*"', {b'"x"'}),  # an object value is matched as its Python text
        ('any where @timestamp == "2020-01-01"', {b'"@timestamp"'}),  # dates are converted
        ("any where a.b > 3", {b'"a"', b'"a.'}),
        ("any where a.b != null", {b'"a"', b'"a.'}),
        ('any where startsWith(a.b, "x")', {b'"a"', b'"a.'}),
        ('any where not a == null and b == "Q"', {b'"q"'}),
    ],
)
def test_a_field_a_test_needs_gives_its_name(query: str, expected: set[bytes]) -> None:
    """Without a sample the first segment is taken (`"a"` nested, `"a.` dotted), and a
    literal is preferred to a name."""
    assert needles(query) == frozenset(expected)


def test_the_sample_picks_the_rarest_segment_of_a_field() -> None:
    query = "any where process.Ext.real.pid > 0"
    common = [b'{"process":{"ext":{"x":1},"pid":2}}'] * 10
    assert needles(query, Sample(common)) == frozenset({b'"real"', b'"real.', b".real.", b'.real"'})


def test_sequences_need_every_filter_including_until() -> None:
    found = needles(
        'sequence by h [any where x == "aa"] [any where y == "bb"] until [any where z == "cc"]'
    )
    assert found == frozenset({b'"aa"', b'"bb"', b'"cc"'})


def test_the_sample_picks_the_rarer_group() -> None:
    query = 'process where event.code == "7" and event.provider : "Microsoft-Windows-Sysmon"'
    common = b'{"event":{"provider":"microsoft-windows-sysmon","code":"1"}}'
    assert needles(query) == frozenset({b'"microsoft-windows-sysmon"'})
    assert needles(query, Sample([common] * 10)) == frozenset({b'"7"'})


def test_minimal_keeps_the_shortest_of_nested_needles() -> None:
    assert minimal([b"regsvr32", b'"regsvr32.exe"', b"abc"]) == frozenset({b"regsvr32", b"abc"})
