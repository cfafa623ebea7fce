"""Needles looked for only where their field comes from in a raw record's JSON text.

The raw screen (`hunt_lines.py`) passes a record holding a rule's literal anywhere: a
`cmd.exe` start whose command line runs `regasm.exe` passes for `process.name :
"regasm.exe"`, though its `process.name` is `cmd.exe`. For a group of needles from tests on
fields the Sysmon mapping fills from EventData (`needles.Tied`, `mapping.field_sources`),
this looks for each needle only inside the string value of a key that feeds one of those
fields (`"Image": "...regasm.exe..."`), in the text as it was written: an EVTX record's
JSON (the parser's) or an NXLog line (EventData keys at the top, beside NXLog's own; the
rendered `Message` holds the values as text under no key, so it passes nothing):

- keys are matched without case (the mapping reads them with case: more records pass);
- a key whose value is not a JSON string (a number, an object such as `{"#text": ...}`)
  counts as holding every needle: `clean_event_data` turns such values into text;
- the value is walked escape by escape (`\\\\.` is one character), so the needle, written
  as the plain screen writes it (JSON-escaped, lower case), is found only at a character
  boundary of the value, which is where an occurrence in the decoded value puts it;
- the refined answer is used only where the plain scan was sure of the text (no `\\u` or
  `\\/` escape, no character `str.lower` maps to ASCII; `linematch.needle_scan`), so the
  escaped value is the decoded value character for character, ASCII case aside.

Records of other channels get none of these fields (`normalize_generic`), so a needle in
their keys passes them too often, never too rarely. Needles that are not ASCII text and
fields without known sources stay plain (found anywhere).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache

from eqlwatch.engine.hsdb_cache import compiled
from eqlwatch.engine.needles import Group, Tied
from eqlwatch.sysmon.mapping import field_sources

Pair = tuple[bytes, frozenset[str]]  # a needle and the EventData keys it must be in
PairScan = Callable[[bytes], frozenset[int]]
_SPACE = rb"[ \t\r\n]*"


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


def pair_pattern(needle: bytes, keys: Iterable[str]) -> bytes:
    """A regex (matched without case, `.` matching anything) for `needle` inside the string
    value of one of `keys`, or any non-string value of one of them."""
    names = b"|".join(re.escape(k.encode()) for k in sorted(keys))
    literal = b"".join(b"\\x%02x" % byte for byte in needle)
    return (
        b'"(?:' + names + b')"' + _SPACE + b":" + _SPACE
        + b'(?:[^" \\t\\r\\n]|"(?:[^"\\\\]|\\\\.)*' + literal + b")"
    )  # fmt: skip


def pair_scan(pairs: Sequence[Pair], *, fast: bool = True) -> PairScan:
    """The ids (positions in `pairs`) of the pairs a text holds (see the module)."""
    expressions = [pair_pattern(n, keys) for n, keys in pairs]
    if fast:
        try:
            import hyperscan
        except ImportError:
            pass
        else:
            flag = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
            flag |= hyperscan.HS_FLAG_DOTALL
            db = compiled(
                expressions, range(len(pairs)), [flag] * len(pairs), hyperscan.HS_MODE_BLOCK
            )
            scratch = hyperscan.Scratch(db)
            found: list[int] = []

            def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
                found.append(ident)

            def scan(text: bytes) -> frozenset[int]:
                db.scan(text, on_match, 0, None, scratch)
                ids = frozenset(found)
                found.clear()
                return ids

            return scan
    searches = [re.compile(e, re.IGNORECASE | re.DOTALL).search for e in expressions]
    return lambda text: frozenset(i for i, s in enumerate(searches) if s(text) is not None)
