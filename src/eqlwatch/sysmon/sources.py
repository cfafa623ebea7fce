"""Raw records out of files: EVTX, JSON (array, wrapper object or NDJSON) and event XML.

I/O only, no mapping. Each record comes with where it was found (file and line, or the
record number when the container has no lines), and a record that cannot be decoded comes
as a `DataError` in its place, so one bad line never stops the read.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import struct
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any, TextIO

import orjson

from eqlwatch.engine.reader import open_bytes
from eqlwatch.errors import DataError, Location

EVTX_MAGIC = b"ElfFile\x00"
GZIP_MAGIC = b"\x1f\x8b"
# Consecutive undecodable EVTX records after which the file is taken as unreadable.
_MAX_EVTX_ERRORS = 1000

# A whole-file JSON array is loaded at once; past this size only NDJSON is read (streamed).
MAX_WHOLE_JSON_CHARS = 1 << 30

RawRecord = tuple[Location, Any]


def head_bytes(path: Path, size: int = 4096) -> bytes:
    """The first bytes of the file's content as `open_bytes` reads it (gunzipped, UTF-16
    decoded), after a UTF-8 byte-order mark."""
    with open_bytes(path) as stream:
        return stream.read(size)


def open_text(path: Path) -> TextIO:
    """The file as text: gunzipped, UTF-8 (a BOM skipped) or UTF-16/32 (`open_bytes`)."""
    return io.TextIOWrapper(open_bytes(path), encoding="utf-8", errors="replace", newline=None)


def first_text(path: Path) -> str:
    """The first non-blank characters of a text file (for telling its format)."""
    return head_bytes(path).decode("utf-8-sig", errors="replace").lstrip()


def _loc(path: Path, line: int | None = None, record: int | None = None) -> Location:
    return Location(file=str(path), line=line, field=None if record is None else f"record {record}")


def _container_records(path: Path, value: Any) -> Iterator[RawRecord]:
    """Records of a whole-file JSON value: an array, `{"events": [...]}`, or one object."""
    if isinstance(value, dict):
        for key in ("events", "expected", "hits"):
            if isinstance(value.get(key), list):
                value = value[key]
                break
    items = value if isinstance(value, list) else [value]
    for n, item in enumerate(items, 1):
        if isinstance(item, dict):
            yield _loc(path, record=n), item
        else:
            yield _loc(path, record=n), DataError("record is not a JSON object")


def json_records(path: Path) -> Iterator[RawRecord]:
    """JSON records: NDJSON line by line, or a whole-file array / wrapper object.

    A first line that does not parse is a pretty-printed document only when none of the
    next lines parses as an object either; otherwise it is a torn NDJSON line, reported
    alone, and the rest of the file is read.
    """
    start = first_text(path)
    if start.startswith("["):
        yield from _whole_json(path)
        return
    with open_text(path) as fh:
        lines = enumerate(fh, 1)
        for lineno, line in lines:
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if lineno == 1 and start.startswith("{"):
                    ahead = list(islice(lines, _LOOKAHEAD))
                    if not any(_is_object(text) for _, text in ahead):
                        break  # a pretty-printed single document, not NDJSON
                    yield _loc(path, line=lineno), DataError(f"invalid JSON: {exc}")
                    yield from _ndjson(path, ahead)
                    yield from _ndjson(path, lines)
                    return
                yield _loc(path, line=lineno), DataError(f"invalid JSON: {exc}")
                continue
            yield _record(path, lineno, value)
        else:
            return
    yield from _whole_json(path)


_LOOKAHEAD = 8  # lines looked at to tell a torn first NDJSON line from a pretty document


def _is_object(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


def _record(path: Path, lineno: int, value: Any) -> RawRecord:
    if isinstance(value, dict):
        return _loc(path, line=lineno), value
    return _loc(path, line=lineno), DataError("line is not a JSON object")


def _ndjson(path: Path, lines: Iterable[tuple[int, str]]) -> Iterator[RawRecord]:
    for lineno, line in lines:
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield _loc(path, line=lineno), DataError(f"invalid JSON: {exc}")
            continue
        yield _record(path, lineno, value)


def _whole_json(path: Path) -> Iterator[RawRecord]:
    with open_text(path) as fh:
        content = fh.read(MAX_WHOLE_JSON_CHARS + 1)
    if len(content) > MAX_WHOLE_JSON_CHARS:
        yield _loc(path), DataError("JSON document too large to load whole; use NDJSON")
        return
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        yield _loc(path, line=exc.lineno), DataError(f"invalid JSON: {exc.msg}")
        return
    yield from _container_records(path, value)


def xml_records(path: Path) -> Iterator[RawRecord]:
    """The text of each `<Event ...>...</Event>`, one per line or spread over several."""
    buf: list[str] = []
    start = 0
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not buf:
                idx = line.find("<Event")
                if idx < 0:
                    if line.strip() and not line.lstrip().startswith("<?xml"):
                        yield _loc(path, line=lineno), DataError("no <Event> on this line")
                    continue
                line, start = line[idx:], lineno
            buf.append(line)
            if "</Event>" in line:
                text = "".join(buf)
                yield _loc(path, line=start), text[: text.rindex("</Event>") + len("</Event>")]
                buf = []
    if buf:
        yield _loc(path, line=start), DataError("<Event> not closed before end of file")


def evtx_records(path: Path) -> Iterator[RawRecord]:
    """Each record of a binary EVTX file (gzipped or not) as the evtx-rs JSON `Event` object."""
    for number, record in _evtx(path, parse=True):
        yield evtx_location(path, number), record


def evtx_numbered_texts(path: Path) -> Iterator[tuple[int, Any]]:
    """Each record of a binary EVTX file as evtx-rs writes its JSON, not parsed (a `str`),
    with its record number (0: the file as a whole); a record the parser gives no text for
    comes parsed as `evtx_records` gives it. The number, not a `Location`: a reader that
    screens records makes one (`evtx_location`) only for those it reports or keeps.

    A plain file's parser is opened here and its records come straight from `_evtx_loop`
    (one generator between the parser and the caller, not two: ~0.1 us a record); a
    gzipped file needs its decompressor closed after the read, so it takes `_evtx`."""
    with path.open("rb") as fh:
        gz = fh.read(2) == GZIP_MAGIC
    if gz:
        return _evtx(path, parse=False)
    from evtx import PyEvtxParser

    try:
        records = PyEvtxParser(str(path)).records_json()
    except (OSError, RuntimeError, ValueError) as exc:
        return iter([(0, DataError(f"not a readable EVTX file: {exc}"))])
    return chain(_evtx_loop(records, parse=False), _cut_short(path))


def evtx_location(path: Path, number: int) -> Location:
    """Where record `number` of an EVTX file is (0: the file itself)."""
    return _loc(path, record=number) if number else _loc(path)


def _evtx(path: Path, *, parse: bool) -> Iterator[tuple[int, Any]]:
    from evtx import PyEvtxParser

    with path.open("rb") as fh:
        gz = fh.read(2) == GZIP_MAGIC
    with contextlib.ExitStack() as stack:
        source: Any = stack.enter_context(gzip.open(path, "rb")) if gz else str(path)
        try:
            records = PyEvtxParser(source).records_json()
        except (OSError, RuntimeError, ValueError) as exc:
            yield 0, DataError(f"not a readable EVTX file: {exc}")
            return
        yield from _evtx_loop(records, parse)
    if not gz:
        yield from _cut_short(path)


_CHUNK = 65536  # an EVTX chunk: a 512-byte header, then records


def _cut_short(path: Path) -> Iterator[tuple[int, DataError]]:
    """A file-wide error when the file is shorter than the chunks its header lists (a
    copy cut short, a download or transfer stopped): the parser then skips the incomplete
    last chunk without a word, and its records would be lost unreported. Looked at once
    the records are read. Not for gzipped files (their size is not at hand)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEADER_FIELDS)
            size = fh.seek(0, io.SEEK_END)
    except OSError:
        return
    if len(head) < _HEADER_FIELDS or not head.startswith(EVTX_MAGIC):
        return
    header_size, chunks = struct.unpack_from("<HH", head, 40)
    expected = header_size + chunks * _CHUNK
    if header_size == _HEADER_BLOCK and size < expected:
        whole = max(0, (size - header_size) // _CHUNK)
        yield (
            0,
            DataError(
                f"EVTX file cut short: {size:,} bytes where its header lists {chunks} "
                f"chunks ({expected:,} bytes); the records past chunk {whole} were not read"
            ),
        )


_HEADER_BLOCK = 4096  # the file header block, before the first chunk
_HEADER_FIELDS = 44  # the header's bytes up to its chunk count (u16 at offset 42)


def _evtx_loop(records: Iterator[Any], parse: bool = True) -> Iterator[tuple[int, Any]]:
    """Numbered records of the parser's iterator, an exception it raises (a damaged chunk
    or record) yielded as a `DataError` in that record's place; stops after
    `_MAX_EVTX_ERRORS` in a row. A `for` loop per run of good records: the per-record path
    is this loop's body only, re-entered after each error (the parser goes on past it)."""
    n = errors = 0
    while True:
        try:
            if parse:
                for record in records:
                    n += 1
                    errors = 0
                    yield n, _record_value(record)
                return
            for record in records:
                n += 1
                errors = 0
                try:
                    yield n, record["data"] + ""  # a `str` (+ raises TypeError otherwise)
                except (KeyError, TypeError):
                    yield n, _record_value(record)
            return
        except Exception as exc:  # the parser raises plain exceptions on damaged chunks
            n += 1
            errors += 1
            yield n, DataError(f"unreadable EVTX record: {exc}")
            if errors >= _MAX_EVTX_ERRORS:
                break
    yield 0, DataError("too many unreadable EVTX records; stopped")


def _record_value(record: Any) -> Any:
    """A parser record's `data` parsed, or the `DataError` saying why it cannot be."""
    if not isinstance(record, dict):
        return DataError("unreadable EVTX record")
    try:
        return orjson.loads(record["data"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        return DataError(f"unreadable EVTX record: {exc}")
