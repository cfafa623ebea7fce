"""A compact time index over event files, so the local source streams instead of holding
every event in memory.

One pass over the files records, per event, its time (microseconds since the epoch), which
file and where in it (offset, length) and its index; about 30 bytes an event, in `array`s.
A window's search then reads back just the events of that window, in time order, from the
files themselves. Plain ECS NDJSON files are read back in place; everything else (gzip,
JSON arrays, raw Windows formats) is normalised once into an anonymous temporary NDJSON
file (`{"_id": ..., "_source": ...}` per line) and read back from there.

Reading also gathers the evidence `SourceStatus` reports: files matched and read, records,
records skipped, and the problems (no file matched, unreadable file, unknown format) that
must hold the checkpoint. Events whose timestamp cannot be read are counted per file with
their first file:line examples and logged, never raised.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import msgspec
import orjson
import structlog

from eqlwatch.backends.event_files import expand_paths, read_file_events
from eqlwatch.engine import SourceEvent
from eqlwatch.engine.identity import record_id
from eqlwatch.engine.reader import UTF8_BOM, index_name, source_event
from eqlwatch.engine.transcode import wide_encoding
from eqlwatch.errors import DataError, Location, RetryableBackendError
from eqlwatch.jsondump import dumps
from eqlwatch.rules.fields import get_field
from eqlwatch.sysmon import detect_format
from eqlwatch.sysmon.reader import NoRecordsError
from eqlwatch.sysmon.sources import GZIP_MAGIC
from eqlwatch.windowing import parse_timestamp

log = structlog.get_logger(__name__)

ErrorHandler = Callable[[DataError], None]
LineTest = Callable[[bytes], bool]
EXAMPLES = 3  # file:line examples kept per file and kind of skipped record
_BLOCK = 1 << 20  # read-back granularity: most windows are runs of neighbouring lines
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_micros(when: datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the epoch (exact)."""
    return (when - _EPOCH) // _US


@dataclass
class FileTally:
    """What was skipped in one file: counts and the first few places, for one warning."""

    malformed: int = 0
    untimed: int = 0
    examples: list[str] = field(default_factory=list)

    def untimed_at(self, where: str, why: str) -> None:
        self.untimed += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{where}: {why}")


@dataclass(frozen=True, slots=True)
class Slot:
    """A file events are read back from: its path, identity and size when indexed."""

    path: str
    device: int
    inode: int
    size: int
    spilled: bool  # True: our temporary file of `{"_id", "_source"}` lines


class _Decoders:
    """The timestamp of an NDJSON line without building the rest of it (msgspec skips
    unknown fields); lines with `_source`, or a dotted timestamp field, are parsed whole."""

    def __init__(self, timestamp_field: str) -> None:
        self.field = timestamp_field
        self.head: Callable[[bytes], Any] | None = None
        if "." not in timestamp_field:
            head = msgspec.defstruct(
                "Head",
                [
                    ("ts", Any, msgspec.field(name=timestamp_field, default=None)),
                    ("hit", Any, msgspec.field(name="_source", default=None)),
                ],
            )
            self.head = msgspec.json.Decoder(head).decode

    def stamp(self, line: bytes) -> Any:
        """The raw timestamp value; DataError-free: malformed lines raise ValueError."""
        if self.head is not None:
            try:
                head = self.head(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass  # parsed again below, for orjson's verdict and message
            else:
                if head.hit is None:
                    return head.ts
        doc = orjson.loads(line)  # JSONDecodeError is a ValueError
        if type(doc) is not dict:
            raise _NotObject
        source = doc.get("_source")
        return get_field(source if isinstance(source, dict) else doc, self.field)


class _NotObjectError(ValueError):
    """A JSON line that is not an object."""


_NotObject = _NotObjectError("expected a JSON object")


@dataclass
class TimeIndex:
    """Every readable event of the files: time-sorted parallel arrays plus the evidence."""

    timestamp_field: str
    times: array[int] = field(default_factory=lambda: array("q"))
    files: array[int] = field(default_factory=lambda: array("i"))
    offsets: array[int] = field(default_factory=lambda: array("q"))
    lengths: array[int] = field(default_factory=lambda: array("q"))
    indexes: array[int] = field(default_factory=lambda: array("i"))
    index_names: list[str] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files_matched: int = 0
    files_read: int = 0
    skipped: int = 0
    newest: dict[int, int] = field(default_factory=dict)  # index code -> newest time (µs)
    spill: IO[bytes] | None = None
    _codes: dict[str, int] = field(default_factory=dict)

    def code(self, index: str) -> int:
        code = self._codes.get(index)
        if code is None:
            code = self._codes[index] = len(self.index_names)
            self.index_names.append(index)
        return code

    def add(self, when: int, slot: int, offset: int, length: int, code: int) -> None:
        self.times.append(when)
        self.files.append(slot)
        self.offsets.append(offset)
        self.lengths.append(length)
        self.indexes.append(code)
        if when > self.newest.get(code, when - 1):
            self.newest[code] = when

    def __len__(self) -> int:
        return len(self.times)

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()
            self.spill = None

    def sort(self) -> None:
        """Time order, ties in reading order (stable); a no-op for already sorted input."""
        times = self.times
        if all(times[i] <= times[i + 1] for i in range(len(times) - 1)):
            return
        order = sorted(range(len(times)), key=times.__getitem__)
        for name in ("times", "files", "offsets", "lengths", "indexes"):
            column = getattr(self, name)
            setattr(self, name, array(column.typecode, [column[i] for i in order]))


class IndexBuilder:
    """One pass over the configured paths into a `TimeIndex` (see the module docstring)."""

    def __init__(
        self,
        timestamp_field: str,
        input_format: str = "auto",
        on_error: ErrorHandler | None = None,
    ) -> None:
        self.index = TimeIndex(timestamp_field)
        self.input_format = input_format
        self.on_error = on_error
        self.decoders = _Decoders(timestamp_field)
        self.logged = 0

    def build(self, paths: Iterable[str | Path]) -> TimeIndex:
        files: dict[Path, None] = {}
        for raw in paths:
            matched = expand_paths([raw])
            matched = [p for p in matched if p.exists() or p.is_symlink()]
            if not matched:
                self.index.problems.append(f"{raw}: no file matches")
            files.update(dict.fromkeys(matched))
        for path in files:
            self.index.files_matched += 1
            self._file(path)
        self.index.sort()
        return self.index

    def add_events(self, events: Iterable[SourceEvent], label: str) -> None:
        """Events already read (tests, `from_events`), spilled like a raw Windows file."""
        self._spill_events(events, label, FileTally())

    def _problem(self, text: str) -> None:
        self.index.problems.append(text)
        log.warning("event file not read", problem=text)

    def _file(self, path: Path) -> None:
        tally = FileTally()
        try:
            with path.open("rb") as fh:
                head = fh.read(4096)
            fmt = self.input_format
            if fmt == "auto":
                if not head.strip():
                    self.index.files_read += 1  # empty: nothing to read, nothing lost
                    return
                try:
                    fmt = detect_format(path)
                except NoRecordsError:
                    self.index.files_read += 1
                    return
            text = head.removeprefix(UTF8_BOM)
            in_place = not head.startswith(GZIP_MAGIC) and wide_encoding(head) is None
            if fmt == "ecs" and in_place and text.lstrip()[:1] != b"[":
                self._lines(path, tally)
            else:
                self._spill_file(path, fmt, tally)
        except DataError as exc:
            self._problem(str(exc) if exc.location else f"{path}: {exc}")
            return
        except OSError as exc:
            self._problem(f"{path}: cannot read: {exc.strerror or exc}")
            return
        self.index.files_read += 1
        self._warn(path, tally)

    def _warn(self, path: Path, tally: FileTally) -> None:
        self.index.skipped += tally.malformed + tally.untimed
        if tally.untimed:
            log.warning(
                "events without a usable timestamp skipped",
                file=str(path),
                field=self.index.timestamp_field,
                count=tally.untimed,
                examples=tally.examples,
            )

    def _bad(self, error: DataError, tally: FileTally) -> None:
        tally.malformed += 1
        self.logged += 1
        if self.logged <= 20:
            log.warning("skipped malformed event", error=str(error))
        if self.on_error is not None:
            self.on_error(error)

    def _lines(self, path: Path, tally: FileTally) -> None:
        """A plain ECS NDJSON file, indexed in place: its lines are read back from it."""
        index = self.index
        with path.open("rb") as fh:
            stat = os.fstat(fh.fileno())
            slot = len(index.slots)
            code = index.code(index_name(path))
            stamp, parse, add = self.decoders.stamp, parse_timestamp, index.add
            offset = 0
            if fh.peek(len(UTF8_BOM))[: len(UTF8_BOM)] == UTF8_BOM:  # not part of line 1
                offset = len(fh.read(len(UTF8_BOM)))
            for number, line in enumerate(fh, 1):
                size = len(line)
                try:
                    raw = stamp(line)
                except ValueError as exc:
                    if line.strip():
                        what = (
                            "expected a JSON object"
                            if exc is _NotObject
                            else f"malformed JSON: {exc}"
                        )
                        self._bad(DataError(what, location=Location(str(path), number)), tally)
                    offset += size
                    continue
                try:
                    when = to_micros(parse(raw))
                except ValueError as exc:
                    tally.untimed_at(f"{path}:{number}", str(exc))
                else:
                    add(when, slot, offset, size, code)
                offset += size
        index.slots.append(Slot(str(path), stat.st_dev, stat.st_ino, offset, spilled=False))

    def _spill_file(self, path: Path, fmt: str, tally: FileTally) -> None:
        def report(error: DataError) -> None:
            where = error.location
            if where is not None and where.line is None and where.field is None:
                raise error  # the whole file, not one record: a problem
            self._bad(error, tally)

        self._spill_events(read_file_events(path, fmt, report), str(path), tally)

    def _spill_events(self, events: Iterable[SourceEvent], label: str, tally: FileTally) -> None:
        index = self.index
        if index.spill is None:
            index.spill = tempfile.TemporaryFile(prefix="eqlwatch-events-")  # noqa: SIM115
            weakref.finalize(index, index.spill.close)  # sources are not closed explicitly
        spill = index.spill
        stat = os.fstat(spill.fileno())
        slot = len(index.slots)
        offset = spill.seek(0, os.SEEK_END)
        field_name = index.timestamp_field
        for number, event in enumerate(events, 1):
            try:
                when = to_micros(parse_timestamp(get_field(event.source, field_name)))
            except ValueError as exc:
                tally.untimed_at(f"{label} record {number}", str(exc))
                continue
            line = dumps({"_id": event.id, "_source": event.source}) + b"\n"
            spill.write(line)
            index.add(when, slot, offset, len(line), index.code(event.index))
            offset += len(line)
        spill.flush()
        index.slots.append(Slot(label, stat.st_dev, stat.st_ino, offset, spilled=True))


class _Reader:
    """Reads events back from one slot in blocks; refuses a file that changed under it."""

    def __init__(self, slot: Slot, spill: IO[bytes] | None) -> None:
        self.slot = slot
        self.own = not slot.spilled
        if slot.spilled:
            assert spill is not None
            self.fd = spill.fileno()
        else:
            try:
                self.fd = os.open(slot.path, os.O_RDONLY)
            except OSError as exc:
                raise RetryableBackendError(f"{slot.path}: cannot reopen: {exc.strerror}") from None
            stat = os.fstat(self.fd)
            if (stat.st_dev, stat.st_ino) != (slot.device, slot.inode) or stat.st_size < slot.size:
                os.close(self.fd)
                raise RetryableBackendError(f"{slot.path}: replaced or truncated while in use")
        self.start = 0
        self.data = b""

    def get(self, offset: int, length: int) -> bytes:
        rel = offset - self.start
        if rel < 0 or rel + length > len(self.data):
            self.data = os.pread(self.fd, max(length, _BLOCK), offset)
            self.start, rel = offset, 0
            if len(self.data) < length:
                raise RetryableBackendError(f"{self.slot.path}: shorter than when indexed")
        return self.data[rel : rel + length]

    def close(self) -> None:
        if self.own:
            os.close(self.fd)


def read_back(
    index: TimeIndex,
    lo: int,
    hi: int,
    wanted: Callable[[int], bool],
    line_test: Callable[[int], LineTest | None],
) -> Iterator[SourceEvent]:
    """Events lo..hi of the index (time order) whose index code is `wanted`, each line first
    put to its index's `line_test` (skipped unparsed when it provably cannot match)."""
    return (event for _, event in read_at(index, range(lo, hi), wanted, line_test))


def read_at(
    index: TimeIndex,
    positions: Iterable[int],
    wanted: Callable[[int], bool],
    line_test: Callable[[int], LineTest | None],
) -> Iterator[tuple[int, SourceEvent]]:
    """As `read_back`, over given positions (ascending: time order), each event with its
    position (the arrival clock selects events that are not one run of the index)."""
    readers: dict[int, _Reader] = {}
    files, offsets, lengths, codes = index.files, index.offsets, index.lengths, index.indexes
    names, slots = index.index_names, index.slots
    verdicts: dict[int, bool] = {}
    tests: dict[int, LineTest | None] = {}
    loads = orjson.loads
    try:
        for i in positions:
            code = codes[i]
            ok = verdicts.get(code)
            if ok is None:
                ok = verdicts[code] = wanted(code)
                tests[code] = line_test(code)
            if not ok:
                continue
            slot = files[i]
            reader = readers.get(slot)
            if reader is None:
                reader = readers[slot] = _Reader(slots[slot], index.spill)
            line = reader.get(offsets[i], lengths[i])
            keep = tests[code]
            if keep is not None and not keep(line):
                continue
            try:
                doc = loads(line)
            except orjson.JSONDecodeError as exc:  # msgspec read it (e.g. 1e999); orjson not
                log.warning("skipped malformed event", file=slots[slot].path, error=str(exc))
                continue
            if reader.slot.spilled:
                yield i, SourceEvent(names[code], doc["_id"], doc["_source"])
            elif (
                type(doc) is dict and "_source" not in doc and "_id" not in doc and "id" not in doc
            ):
                yield i, SourceEvent(names[code], record_id(doc), doc)
            else:
                yield i, source_event(names[code], doc, Location(file=slots[slot].path))
    finally:
        for reader in readers.values():
            reader.close()
