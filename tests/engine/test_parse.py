"""What the parser accepts beyond eql's ES mode, and what it rejects, with positions."""

from __future__ import annotations

import pytest

from eqlwatch.engine import compile_query
from eqlwatch.errors import QueryError


@pytest.mark.parametrize(
    ("query", "construct", "line", "column"),
    [
        ("join [a where true] [b where true]", "join", 1, 1),
        ("process where descendant of [a where true]", "descendant of", 1, 15),
        ("process where true and\n  child of [a where true]", "child of", 2, 3),
        ("process where true | unique x", "unique", 1, 22),
        ("process where true | count", "count", 1, 22),
        ('process where arrayContains(x, "a")', "arrayContains", 1, 15),
        ('process where arrayCount(x, a, a == "b") > 1', "arrayCount", 1, 15),
        ("process where foo(x)", "foo", 1, 15),
        ("process where x == y", "Comparisons against fields", 1, 15),
        ("process where x ==", "expected a value or field, but the query ended", 1, 19),
        ("sequence [a where true]", "at least two", 1, 1),
        ('registry where list[1] : "EN"', "Array indexing", 1, 16),
        ('process where name in (parent, "x")', "Comparisons against fields", 1, 15),
        ("sequence [a where true] by p [b where true] fork=true by p", "fork", 1, 45),
        ("sequence with maxspan=1s ![a where true] ![b where true]", "not ![...]", 1, 1),
    ],
)
def test_rejects_with_construct_and_position(
    query: str, construct: str, line: int, column: int
) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query)
    err = info.value
    assert construct in err.message
    assert err.location is not None
    assert (err.location.line, err.location.column) == (line, column)


def test_error_column_ignores_quoting_of_at_fields() -> None:
    with pytest.raises(QueryError) as info:
        compile_query("any where @timestamp > 1 and bogus(x)")
    assert info.value.location is not None
    assert info.value.location.column == len("any where @timestamp > 1 and ") + 1


@pytest.mark.parametrize(
    "query",
    [
        "any where @timestamp > 0",
        "any where ?x == ?y",
        "sample by @timestamp_pretty [any where true] [any where true]",
        'sequence with maxspan=1s [a where true] ![b where true] [c where x like~ "A*"]',
        "sequence by k [a where true] with runs=3 [b where true] until [c where true]",
        'any where x regex~ """a.*""" and x in~ ("a", "B") and startsWith~(x, "A")',
        "any where CONCAT(x, 'y') == 'xy'".replace("'", '"'),
        "any where true | head 3 | tail 2",
    ],
)
def test_accepts_elasticsearch_syntax(query: str) -> None:
    assert compile_query(query).info.kind in ("event", "sequence", "sample")


def test_empty_query_is_an_error() -> None:
    with pytest.raises(QueryError):
        compile_query("   ")


def test_info_describes_the_query() -> None:
    info = compile_query(
        "sequence by h with maxspan=2m [process where a == 1] ![file where b == 2]"
        " until [network where c == 3] | tail 4"
    ).info
    assert info.kind == "sequence"
    assert info.maxspan is not None
    assert info.maxspan.total_seconds() == 120
    assert info.has_until
    assert info.has_trailing_missing
    assert info.pipes == (("tail", 4),)
    assert {"a", "b", "c", "h", "@timestamp", "event.category"} <= info.fields
