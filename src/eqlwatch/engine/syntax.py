"""EQL syntax errors in words: what the parser expected, what it found, and where.

Lark reports the terminals it could have accepted by their grammar names (`RPAR`,
`DQ_STRING`, ...) and, when the query ends too early, the position of the last token it
read (inside a string literal, say) rather than where the missing `)` belongs. This turns
such an error into "expected ')', but the query ended" at the end of the query.
Pure: it reads only the attributes Lark's exceptions carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_VALUES = frozenset(
    {
        "DQ_STRING",
        "SQ_STRING",
        "RAW_DQ_STRING",
        "RAW_SQ_STRING",
        "RAW_TQ_STRING",
        "UNSIGNED_INTEGER",
        "DECIMAL",
        "SIGN",
        "FIELD",
        "OPTIONAL_FIELD",
        "ESCAPED_NAME",
        "NAME",
        "INSENSITIVE_NAME",
        "DOLLAR",
        "TRUE",
        "FALSE",
        "NULL",
    }
)
_WORDS = {
    "RPAR": "')'",
    "RSQB": "']'",
    "LPAR": "'('",
    "LSQB": "'['",
    "COMMA": "','",
    "VBAR": "'|'",
    "DOT": "'.'",
    "MISSING_EVENT_OPEN": "'!['",
    "EQUALS": "'=='",
    "COMP_OP": "a comparison (<, <=, !=, >=, >)",
    "IN": "'in'",
    "STRING_PREDICATE": "':', 'like' or 'regex'",
    "MULT_OP": "'*', '/' or '%'",
    "METHOD_START": "a method call (':name(...)')",
    "NOT_OP": "'not'",
    "$END": "the end of the query",
}
# The most telling first: a bracket left open, then a keyword of the query's shape.
_FIRST = ("RPAR", "RSQB", "COMMA", "WHERE", "BY", "WITH", "UNTIL", "LSQB")
_MAX_ITEMS = 8


def _word(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    return f"'{name.lower()}'"


def describe(expected: Iterable[str], open_brackets: str = "([") -> str:
    """`')'`, `')' or ','`, `one of: a value or field, 'not'`... for terminal names.

    A closing bracket is only offered when one is open (`open_brackets`): Lark's states
    are shared between the query and its bracketed parts, so it offers `]` everywhere.
    """
    names = set(expected)
    if "(" not in open_brackets:
        names.discard("RPAR")
    if "[" not in open_brackets:
        names.discard("RSQB")
    items: list[str] = []
    values = names & _VALUES
    if len(values) >= 3:
        names -= _VALUES | {"LPAR"}
        items.append("a value or field")
    elif values:
        names -= values
        items.append("a value" if values & {"DQ_STRING", "UNSIGNED_INTEGER"} else "a field")
    ordered = [n for n in _FIRST if n in names] + sorted(names - set(_FIRST))
    items = [_word(n) for n in ordered if n != "$END"] + items
    if "$END" in names:
        items.append(_word("$END"))
    if len(items) > _MAX_ITEMS:
        items = [*items[:_MAX_ITEMS], "..."]
    if not items:
        return "something else"
    if len(items) == 1:
        return items[0]
    if len(items) == 2 and " or " not in items[0] + items[1]:
        return f"{items[0]} or {items[1]}"
    return "one of: " + ", ".join(items)


def open_brackets(source: str, line: int, column: int) -> str:
    """The brackets left open before (line, column), innermost last; strings skipped."""
    lines = source.split("\n")
    upto = sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
    stack: list[str] = []
    quote: str | None = None
    i = 0
    while i < min(upto, len(source)):
        ch = source[i]
        if quote is not None:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            stack.append(ch)
        elif ch in ")]" and stack:
            stack.pop()
        i += 1
    return "".join(stack)


def end_position(source: str) -> tuple[int, int]:
    """1-based (line, column) just after the last character that is not white space."""
    text = source.rstrip()
    line = text.count("\n") + 1
    return line, len(text) - (text.rfind("\n") + 1) + 1


def explain(exc: Any, source: str) -> tuple[str, int, int]:
    """(message, line, column) for a Lark parse error over `source` (1-based position)."""
    token = getattr(exc, "token", None)
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ()
    ended = type(exc).__name__ == "UnexpectedEOF" or getattr(token, "type", None) == "$END"
    if ended:
        line, column = end_position(source)
    else:
        line = getattr(exc, "line", None) or 1
        column = getattr(exc, "column", None) or 1
    wanted = describe(expected, open_brackets(source, line, column))
    if ended:
        return f"expected {wanted}, but the query ended", line, column
    if token is not None:
        return f"expected {wanted}, found {str(token)!r}", line, column
    char = getattr(exc, "char", None)
    if char in ('"', "'"):
        return f"unterminated string: no closing {char} on this line", line, column
    if char:
        return f"unexpected character {char!r}; expected {wanted}", line, column
    return "invalid syntax", line, column
