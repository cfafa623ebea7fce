"""Content-derived `_id`s for events read from files.

A local event's id is a hash of the record itself, never of where it was found: the same
record gets the same id in any folder, in any file, after rotation, gzipped or not, as an
NDJSON line or a JSON-array element, in `run`, `hunt` and `query`; two different records
never share one (a 160-bit BLAKE2b digest). The hash is taken over the record's canonical
JSON (orjson, keys sorted), so whitespace and key order do not matter. See docs/windowing.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from eqlwatch.jsondump import dumps
from eqlwatch.model import Hit, HitEvent

ID_BYTES = 20  # 40 hex characters, the length of the Windows readers' record ids
_SORTED = orjson.OPT_SORT_KEYS


def record_id(source: Mapping[str, Any]) -> str:
    """The id of one event `_source`: a hash of its canonical JSON."""
    body = dumps(source, option=_SORTED)
    return hashlib.blake2b(body, digest_size=ID_BYTES).hexdigest()


# The `_id` of an event read by a caller that names only the events it outputs (`query`:
# a few hits out of many events). Compared by identity: no id read from input is this
# very object, whatever its text. An id that is `bytes` is the event's NDJSON line, of
# which only the fields the query reads were parsed (`pipeline.query_docs`).
LATER = "".join(["<", "id later", ">"])


def named(hits: list[Hit]) -> list[Hit]:
    """`hits` (changed in place, and returned) with each `LATER` id replaced by
    `record_id` of its event, and each event known by its line parsed whole and named:
    the same ids and sources as reading every line whole and naming it, paid for the
    events shown only. In place, each hit's line is let go once its source is parsed."""
    for n, hit in enumerate(hits):
        if any(e.id is LATER or _line(e) is not None for e in hit.events):
            hits[n] = Hit(hit.kind, tuple(map(_named, hit.events)), hit.join_keys)
    return hits


def _line(e: HitEvent) -> bytes | None:
    """The line an event is known by until named (typed `str`: a `bytes` id never leaves
    `query`'s reading and naming)."""
    ident: object = e.id
    return ident if type(ident) is bytes else None


def _named(e: HitEvent) -> HitEvent:
    line = _line(e)
    if line is not None:
        source = orjson.loads(line)  # what msgspec read in part, as the reader reads it
        return HitEvent(e.index, record_id(source), source, e.missing, e.arrived)
    if e.id is LATER:
        return HitEvent(e.index, record_id(e.source), e.source, e.missing, e.arrived)
    return e


def shown(e: HitEvent) -> dict[str, Any]:
    """`named`'s event as an Elasticsearch response shows it (`HitEvent.to_es`), without
    building the named event first (the answer writer's path, hit after hit)."""
    line = _line(e)
    if line is not None and not e.missing:
        source = orjson.loads(line)
        return {"_index": e.index, "_id": record_id(source), "_source": source}
    return _named(e).to_es()
