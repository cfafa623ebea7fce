"""Events from exported files: NDJSON or a JSON array, either one optionally gzipped.

Each file is one index, named after the file (`logs.ndjson.gz` -> `logs`). A line (or
array element) may be a bare `_source` object or an Elasticsearch hit
(`{"_id": ..., "_source": {...}}`). The `_id` is the hit's `_id`, else the source's `_id`
or `id` field, else derived from the record's content (`identity.record_id`), never from
its position, so same-named files in two folders or a rotated file cannot make two events
one.
Malformed lines are recorded with file:line in an `ErrorCounter` and skipped.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from eqlwatch.engine.identity import record_id
from eqlwatch.engine.plan import SourceEvent
from eqlwatch.engine.transcode import Transcoded, wide_encoding
from eqlwatch.errors import DataError, Location

_KEEP_ERRORS = 100
_SUFFIXES = (".gz", ".ndjson", ".jsonl", ".json", ".data")


@dataclass
class ErrorCounter:
    """Malformed input seen while reading: a count and the first few errors."""

    count: int = 0
    errors: list[DataError] = field(default_factory=list)
    on_error: Callable[[DataError], None] | None = None

    def add(self, error: DataError) -> None:
        self.count += 1
        if len(self.errors) < _KEEP_ERRORS:
            self.errors.append(error)
        if self.on_error is not None:
            self.on_error(error)


def index_name(path: str | Path) -> str:
    """The index a file stands for: its name without data, compression and rotation suffixes
    (`logs.ndjson.1.gz` -> `logs`), so a rotated file's events keep their index (and with
    their content ids, their alert ids)."""
    name = Path(path).name
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name, changed = name[: -len(suffix)], True
        stem, dot, number = name.rpartition(".")
        if dot and number.isdigit() and stem.endswith(_SUFFIXES[1:]):
            name, changed = stem, True
    return name


Stream = io.BufferedReader | gzip.GzipFile


UTF8_BOM = b"\xef\xbb\xbf"


def open_bytes(path: Path) -> Stream:
    """The file's bytes as UTF-8: gunzipped when it starts with gzip's magic, after a UTF-8
    byte-order mark when it has one (Windows tools write them; a first line starting with
    one is not JSON), decoded when it is UTF-16 or UTF-32 text (`transcode`). Positions
    (`tell`, `seek`) count from after the mark, in UTF-8 bytes."""
    raw = path.open("rb")
    stream: Stream = raw
    if raw.peek(2)[:2] == b"\x1f\x8b":
        raw.close()
        stream = gzip.GzipFile(path, "rb")
    head = stream.peek(4)[:4]
    if head.startswith(UTF8_BOM):
        return io.BufferedReader(_AfterMark(stream, len(UTF8_BOM)))
    wide = wide_encoding(head)
    if wide is None:
        return stream
    return io.BufferedReader(Transcoded(stream, wide[1], wide[0]))


class _AfterMark(io.RawIOBase):
    """A binary stream seen from `skip` bytes on: what follows a byte-order mark."""

    def __init__(self, inner: Stream, skip: int) -> None:
        super().__init__()
        self._inner, self._skip = inner, skip
        inner.seek(skip)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._inner.readinto(buffer)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            offset += self._skip
        return self._inner.seek(offset, whence) - self._skip

    def tell(self) -> int:
        return self._inner.tell() - self._skip

    def close(self) -> None:
        self._inner.close()
        super().close()


def source_event(index: str, doc: Any, where: Location) -> SourceEvent:
    """One parsed JSON document as an event: an ES hit (`_source`, `_id`) or a bare source
    (id from `_id`/`id`, else from its content). Not an object: DataError at `where`."""
    if not isinstance(doc, dict):
        raise DataError("expected a JSON object", location=where)
    source = doc.get("_source")
    if isinstance(source, dict):
        ident = doc.get("_id")
        if ident is None or isinstance(ident, dict | list):
            ident = record_id(source)
        return SourceEvent(index, str(ident), source)
    ident = doc.get("_id", doc.get("id"))
    if ident is None or isinstance(ident, dict | list):
        ident = record_id(doc)
    return SourceEvent(index, str(ident), doc)


def read_event_file(
    path: str | Path,
    *,
    index: str | None = None,
    errors: ErrorCounter | None = None,
    line_filter: Callable[[bytes], bool] | None = None,
) -> tuple[Iterator[SourceEvent], ErrorCounter]:
    """Lazily read one file of events; raises DataError only if it cannot be opened.

    `line_filter` (from `CompiledQuery.line_filter`) skips NDJSON lines before parsing.
    The iterator is an `EventStream`, which a hot loop may read as raw lines instead.
    """
    p = Path(path)
    counter = errors if errors is not None else ErrorCounter()
    name = index if index is not None else index_name(p)
    try:
        stream = open_bytes(p)
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror}", location=Location(file=str(p))) from None
    return EventStream(RawLines(stream, p, name, counter, line_filter)), counter


@dataclass
class RawLines:
    """An open NDJSON file of one index, with how to report and decode its odd lines."""

    stream: Stream
    path: Path
    index: str
    counter: ErrorCounter
    keep: Callable[[bytes], bool] | None

    def malformed(self, number: int, line: bytes, exc: orjson.JSONDecodeError) -> None:
        """Record a line that is not JSON (blank lines are not errors)."""
        if line.strip():
            where = Location(file=str(self.path), line=number)
            self.counter.add(DataError(f"malformed JSON: {exc}", location=where))

    def odd(self, number: int, doc: Any) -> SourceEvent | None:
        """A parsed line that is not a plain `_source` (a hit, an `id`, or not an object)."""
        try:
            where = Location(file=str(self.path), line=number)
            return source_event(self.index, doc, where)
        except DataError as exc:
            self.counter.add(exc)
            return None


class EventStream:
    """The events of one file, read once: iterate it, or take `ndjson()` before that."""

    def __init__(self, raw: RawLines) -> None:
        self._raw: RawLines | None = raw
        self._events: Iterator[SourceEvent] | None = None

    def __iter__(self) -> Iterator[SourceEvent]:
        if self._events is None:
            raw, self._raw = self._raw, None
            self._events = _events(raw) if raw is not None else iter(())
        return self._events

    def __next__(self) -> SourceEvent:
        return next(iter(self))

    def ndjson(self) -> RawLines | None:
        """The unread NDJSON lines for a caller that parses them itself (it must close the
        stream), or None for a JSON array or once iteration has begun."""
        raw = self._raw
        if raw is None or raw.stream.peek(64).lstrip().startswith(b"["):
            return None
        self._raw = None
        self._events = iter(())
        return raw


def _events(raw: RawLines) -> Iterator[SourceEvent]:
    with raw.stream as reader:
        head = reader.peek(64).lstrip()
        if head.startswith(b"["):
            yield from _array(reader.read(), raw.path, raw.index, raw.counter)
            return
        loads, keep, index = orjson.loads, raw.keep, raw.index
        new = tuple.__new__  # SourceEvent(...) without NamedTuple's Python-level __new__
        for number, line in enumerate(reader, 1):
            if keep is not None and not keep(line):
                continue
            try:
                doc = loads(line)
            except orjson.JSONDecodeError as exc:
                raw.malformed(number, line, exc)
                continue
            if type(doc) is dict and "_source" not in doc and "_id" not in doc and "id" not in doc:
                yield new(SourceEvent, (index, record_id(doc), doc))  # the common case, kept cheap
                continue
            event = raw.odd(number, doc)
            if event is not None:
                yield event


def _array(data: bytes, path: Path, index: str, counter: ErrorCounter) -> Iterator[SourceEvent]:
    try:
        docs = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        line = data[: exc.pos].count(b"\n") + 1
        counter.add(
            DataError(f"malformed JSON array: {exc.msg}", location=Location(str(path), line))
        )
        return
    for position, doc in enumerate(docs, 1):
        try:
            where = Location(file=str(path), field=f"[{position}]")
            yield source_event(index, doc, where)
        except DataError as exc:
            counter.add(exc)
