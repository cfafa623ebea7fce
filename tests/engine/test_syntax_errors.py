"""EQL syntax errors say what was expected and point where it belongs."""

from __future__ import annotations

import pytest

from eqlwatch.engine import compile_query
from eqlwatch.engine.syntax import describe, open_brackets
from eqlwatch.errors import QueryError


@pytest.mark.parametrize(
    ("query", "message", "line", "column"),
    [
        # the missing `)` belongs after the string, not inside it
        ('process where (process.name == "a"', "expected ')', but the query ended", 1, 35),
        (
            'process where process.name in ("a", "b"',
            "expected ')' or ',', but the query ended",
            1,
            40,
        ),
        (
            'process where process.name : "a" and\n  (process.args == "b"\n',
            "expected ')', but the query ended",
            2,
            23,
        ),
        (
            "sequence [process where true]\n  [network where true",
            "expected ']', but the query ended",
            2,
            22,
        ),
        # a `)` with nothing open: `)` and `]` are not offered back
        (
            'process where process.name == "a" )',
            "expected '|' or the end of the query, found ')'",
            1,
            35,
        ),
        ('process where process.name = = "a"', "expected a value or field, found '='", 1, 30),
        ('process where process.name == "abc', 'unterminated string: no closing "', 1, 31),
        ("process wher true", "expected one of: 'where', ", 1, 9),
        # eql said "to function None"
        ("process where length()", "Expected at least 1 argument to function length()", 1, 15),
        (
            "process where startsWith(process.name)",
            "Expected at least 2 arguments to function startsWith()",
            1,
            39,  # where the missing argument belongs
        ),
        # eql itself raised IndexError here (a later stage with fewer join values)
        (
            "sequence [process where true] by a, b\n  [network where true] by c",
            "Expected 2 join values, got 1",
            2,
            27,
        ),
        # the position maps back through the quoting of @-fields
        ("any where @timestamp > (1", "expected ')', but the query ended", 1, 26),
    ],
)
def test_syntax_error_message_and_position(
    query: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    error = caught.value
    assert message in error.message
    assert error.location is not None
    assert (error.location.line, error.location.column) == (line, column)


def test_describe_groups_values_and_orders_brackets_first() -> None:
    names = {"DQ_STRING", "SQ_STRING", "NAME", "FIELD", "LPAR", "NOT_OP", "RPAR"}
    assert describe(names) == "one of: ')', 'not', a value or field"
    assert describe(names, open_brackets="") == "one of: 'not', a value or field"
    assert describe({"RPAR", "COMMA"}) == "')' or ','"
    assert describe({"RPAR"}, open_brackets="[") == "something else"
    assert describe({"$END", "VBAR"}) == "'|' or the end of the query"


def test_open_brackets_skips_strings() -> None:
    text = 'a where (b == ")" and c in ("[", "x"'
    assert open_brackets(text, 1, len(text) + 1) == "(("
    assert open_brackets(text, 1, 9) == ""
    assert open_brackets("[a\n(b", 2, 3) == "[("
