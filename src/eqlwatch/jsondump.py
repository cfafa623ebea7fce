"""JSON writing that an event's depth cannot break.

orjson writes at most 254 levels of nesting and raises past that, while it reads up to
1,023: an event nested between the two (one field of hostile input) parsed, matched, and
then killed the command that named or wrote it. `dumps` is `orjson.dumps` and, only for
such a value, the standard library's writer with room for the depth, in the same form
(compact or indented by 2, keys sorted when asked, UTF-8 unescaped).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from eqlwatch.depth import room

_TOO_DEEP = "Recursion limit reached"  # orjson's message for a value nested too deeply


def dumps(value: Any, *, option: int = 0, default: Callable[[Any], Any] | None = None) -> bytes:
    """`orjson.dumps(value, option=option, default=default)`, for values of any depth."""
    try:
        return orjson.dumps(value, default=default, option=option)
    except TypeError as exc:
        if str(exc) != _TOO_DEEP:
            raise
    return _deep(value, option, default)


def _deep(value: Any, option: int, default: Callable[[Any], Any] | None) -> bytes:
    indented = bool(option & orjson.OPT_INDENT_2)
    try:
        with room():
            text = json.dumps(
                value,
                ensure_ascii=False,
                allow_nan=False,
                sort_keys=bool(option & orjson.OPT_SORT_KEYS),
                indent=2 if indented else None,
                separators=(",", ": ") if indented else (",", ":"),
                default=default,
            )
        body = text.encode()
    except (ValueError, RecursionError) as exc:  # NaN, a lone surrogate, or deeper still
        raise TypeError(f"cannot write this value as JSON: {exc}") from None
    return body + b"\n" if option & orjson.OPT_APPEND_NEWLINE else body
