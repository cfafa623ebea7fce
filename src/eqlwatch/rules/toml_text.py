r"""Rule files' TOML, read ten times faster than tomllib and to the same result.

tomllib was a fifth of a cold `validate` over detection-rules (2,192 files: 1.8 s of CPU;
rtoml, Rust: 0.18 s). rtoml is used only where its result is known to equal tomllib's,
and tomllib decides everything else, so errors (their messages and positions) and edge
cases stay tomllib's. tomllib reads TOML 1.0; rtoml also TOML 1.1, whose additions each
send the text to tomllib:
- an inline table (newlines and a trailing comma allowed in 1.1): any `{`;
- the `\e` and `\xHH` escapes: a backslash (not itself escaped) before `e` or `x`;
- a time without seconds: any date or time in rtoml's result (rtoml's time zone objects
  cannot be pickled either, and the rule cache pickles rules).
Also sent to tomllib: a text rtoml rejects (including nesting past its depth limit:
tomllib reads it or raises its own error); a text with a carriage return (rtoml keeps CRLF
inside multi-line strings, tomllib turns it into LF). 303 of detection-rules' 2,192
files take the slow way, for a `{`. The checks are cheap str and literal-led regex
searches: a regex for `HH:MM` over the texts cost half of what rtoml saved.
`tests/rules/test_toml_text.py` compares both on every TOML file of this repository,
on TOML 1.1 and other edge cases, and on hypothesis-made texts and documents.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from typing import Any

_ESCAPES = re.compile(r"\\+[ex]")  # a run of backslashes before `e` or `x`
_TIMES = (dt.date, dt.time)  # dt.datetime is a dt.date


def loads(text: str) -> dict[str, Any]:
    """`tomllib.loads(text)`: the same value, the same TOMLDecodeError."""
    if "{" not in text and "\r" not in text and not _new_escape(text):
        import rtoml

        try:
            value: dict[str, Any] = rtoml.loads(text)
        except Exception:  # rejected, too deep: tomllib reads it or says why not
            value = {}
        if value and not _has_time(value):
            return value
    return tomllib.loads(text)


def _new_escape(text: str) -> bool:
    """Whether a backslash escapes an `e` or `x` (an odd run of them) anywhere."""
    return "\\" in text and any(len(m.group()) % 2 == 0 for m in _ESCAPES.finditer(text))


def _has_time(value: object) -> bool:
    """Whether a date, time or date-time is anywhere in a parsed document."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, _TIMES):
            return True
    return False
