"""Needles looked for only where their field comes from in a raw record.

The raw screen (`hunt_lines.py`) passes a record holding a rule's literal anywhere: a
`cmd.exe` start whose command line runs `regasm.exe` passes for `process.name :
"regasm.exe"`, though its `process.name` is `cmd.exe`. For a group of needles from tests on
fields the Sysmon mapping fills from EventData (`needles.Tied`, `mapping.field_sources`),
a record the plain needles let through is parsed and each needle it holds is looked for
only in the values of keys that feed one of those fields (`"Image": "...regasm.exe..."`),
at any depth: an EVTX record's `EventData`, an NXLog line's top-level keys (the rendered
`Message` holds the values as text under no such key, so it passes nothing):

- keys are matched without case (the mapping reads them with case: more records pass);
- a key whose value is not a string (a number, an object such as `{"#text": ...}`, null)
  counts as holding every needle: `clean_event_data` may turn such values into text;
- a string value is written as the needles are (JSON-escaped, ASCII lower case), so a
  needle is in it exactly when the plain screen would find it in that value;
- the refined answer is used only where the plain scan was sure of the text (no `\\u` or
  `\\/` escape, no character `str.lower` maps to ASCII; `linematch.needle_scan`).

Records of other channels get none of these fields (`normalize_generic`), so a needle in
their keys passes them too often, never too rarely. Needles that are not ASCII text and
fields without known sources stay plain (found anywhere). Parsing only the records the
plain needles let through (a few in a hundred) costs less than a Hyperscan database of
one escape-walking regex per needle, which took 23 s to compile for detection-rules'
Windows rules (3,489 needle and key pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import orjson

from eqlwatch.engine.needles import Group, Tied
from eqlwatch.sysmon.mapping import field_sources

Pair = tuple[bytes, frozenset[str]]  # a needle and the EventData keys it must be in
FieldLook = Callable[[bytes | str, frozenset[int]], frozenset[int] | None]


@cache
def _sources() -> dict[str, frozenset[str]]:
    return field_sources()


def tied_keys(group: Group) -> frozenset[str] | None:
    """The EventData keys a tied group's needles must be in; None: look anywhere."""
    if not isinstance(group, Tied) or not group.fields:
        return None
    sources = _sources()
    if not all(f in sources for f in group.fields):
        return None
    if not all(n.isascii() and n and not n.startswith(b"<") for n in group):
        return None
    return frozenset().union(*(sources[f] for f in group.fields))


def field_look(pairs: Sequence[Pair], needle_ids: Mapping[bytes, int]) -> FieldLook:
    """For a record's JSON text and the plain needles `found` in it (ids of `needle_ids`):
    the positions in `pairs` whose needle is in one of its keys' values (see the module);
    None when the text does not parse (the caller keeps the plain answer)."""
    by_needle: dict[int, list[tuple[int, bytes, tuple[str, ...]]]] = {}
    for i, (needle, keys) in enumerate(pairs):
        lower = tuple(sorted({k.lower() for k in keys}))
        by_needle.setdefault(needle_ids[needle], []).append((i, needle, lower))
    wanted_keys = frozenset(
        k for entries in by_needle.values() for *_, keys in entries for k in keys
    )
    nothing: frozenset[int] = frozenset()

    def look(text: bytes | str, found: frozenset[int]) -> frozenset[int] | None:
        entries = [e for n in found if n in by_needle for e in by_needle[n]]
        if not entries:
            return nothing
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        values = _values(record, wanted_keys)
        return frozenset(
            i
            for i, needle, keys in entries
            if any(v is None or needle in v for k in keys for v in values.get(k, ()))
        )

    return look


def _values(record: Any, keys: frozenset[str]) -> dict[str, list[bytes | None]]:
    """The values of `keys` (lower case) anywhere in `record`, as JSON string content in
    ASCII lower case; None for a value that is not a string."""
    out: dict[str, list[bytes | None]] = {}
    stack = [record]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            for key, value in node.items():
                low = key.lower()
                if low in keys:
                    text = orjson.dumps(value)[1:-1].lower() if type(value) is str else None
                    out.setdefault(low, []).append(text)
                if type(value) is dict or type(value) is list:
                    stack.append(value)
        elif type(node) is list:
            stack.extend(v for v in node if type(v) is dict or type(v) is list)
    return out
