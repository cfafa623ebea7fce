"""`query`'s JSON answer written hit by hit, byte for byte what one indented dump writes.

A million-event sequence answers with ~100 MB of JSON; dumping it in one piece held all
of it in memory at once, next to the hits. Here the response is dumped without its hits
and each hit is dumped on its own, indented to its depth: JSON strings hold no raw
newline, so indenting every line of a hit's dump is exact. `tests/cli/test_answer.py`
holds the result to `orjson.dumps(response, option=OPT_INDENT_2)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import orjson

from eqlwatch.jsondump import dumps

_INDENT = orjson.OPT_INDENT_2
_DEPTH = b"      "  # a hit sits at depth 3: response > hits > events/sequences
_EMPTY_TAIL = b"[]\n  }\n}"  # the end of the response dumped with an empty hit list
_BATCH = 16  # hits per write


def write_answer(out: IO[bytes], response: Mapping[str, Any]) -> None:
    """Write `response` (an EQL search response whose `hits` ends with its `events` or
    `sequences` list) and a final newline."""
    hits = response["hits"]
    key = "sequences" if "sequences" in hits else "events"
    items = hits[key]
    shell = dumps_indented({**response, "hits": {**hits, key: []}})
    if not items or not shell.endswith(_EMPTY_TAIL) or list(hits)[-1] != key:
        out.write(dumps_indented(response) + b"\n")  # not the usual shape: in one piece
        return
    out.write(shell[: -len(_EMPTY_TAIL)] + b"[\n")
    for start in range(0, len(items), _BATCH):
        batch = items[start : start + _BATCH]
        parts = [_DEPTH + dumps_indented(item).replace(b"\n", b"\n" + _DEPTH) for item in batch]
        out.write((b",\n" if start else b"") + b",\n".join(parts))
    out.write(b"\n    ]\n  }\n}\n")


def dumps_indented(value: Any) -> bytes:
    return dumps(value, option=_INDENT)
