"""Marking fields optional (`?field`) when Elasticsearch says no target index maps them.

One rule often spans Elastic Defend and Sysmon indices, and a field such as
`process.Ext.token.integrity_level_name` may be unmapped in every index of a small or
Sysmon-only cluster. Elasticsearch then rejects the query ("Unknown column"). Marking the
field optional gives exactly the semantics of a mapped field that no document has (null),
so the rule still runs. Pure text logic: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_UNKNOWN_COLUMN = re.compile(r"Unknown column \[([^\]]+)\]")


def unknown_columns(reason: str) -> tuple[str, ...]:
    """Field names an EQL `verification_exception` reason reports as unknown, in order."""
    seen: dict[str, None] = {}
    for name in _UNKNOWN_COLUMN.findall(reason):
        seen.setdefault(name, None)
    return tuple(seen)


def _string_spans(query: str) -> list[tuple[int, int]]:
    """Start/end of every string literal ("...", \"\"\"...\"\"\", '...'), so we never edit them."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(query):
        if query.startswith('"""', i):
            end = query.find('"""', i + 3)
            end = len(query) if end < 0 else end + 3
        elif query[i] in "\"'":
            quote, end = query[i], i + 1
            while end < len(query) and query[end] != quote:
                end += 2 if query[end] == "\\" else 1
            end = min(end + 1, len(query))
        else:
            i += 1
            continue
        spans.append((i, end))
        i = end
    return spans


def make_optional(query: str, fields: Iterable[str]) -> str:
    """The query with each bare occurrence of `fields` written `?field` (strings untouched)."""
    wanted = set(fields)
    if not wanted:
        return query
    spans = _string_spans(query)
    pattern = re.compile(
        r"(?<![A-Za-z0-9_.@?])(" + "|".join(re.escape(f) for f in sorted(wanted)) + r")"
        r"(?![A-Za-z0-9_.@])"
    )

    def in_string(pos: int) -> bool:
        return any(start <= pos < end for start, end in spans)

    out: list[str] = []
    last = 0
    for match in pattern.finditer(query):
        if in_string(match.start()):
            continue
        out.append(query[last : match.start()])
        out.append("?" + match.group(1))
        last = match.end()
    out.append(query[last:])
    return "".join(out)
