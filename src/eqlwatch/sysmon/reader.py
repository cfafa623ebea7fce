"""Read Windows event files of any supported format into ECS events ready to index or hunt.

`read_windows_events` is the one entry point for `hunt`, the local backend and `load`:
it tells the format (or takes `--input-format`), maps every record to ECS, gives each a
stable `_id` and the data stream it belongs to, and reports bad records without stopping.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from eqlwatch.engine.identity import record_id
from eqlwatch.errors import ConfigError, DataError, Location
from eqlwatch.jsondump import dumps
from eqlwatch.model import HitEvent
from eqlwatch.sysmon.normalize import (
    FORWARDED_DATASET,
    SYSMON_DATASET,
    data_stream_name,
    normalize_record,
    to_record,
)
from eqlwatch.sysmon.record import SYSMON_PROVIDER, WinRecord
from eqlwatch.sysmon.shapes import record_shape
from eqlwatch.sysmon.sources import (
    EVTX_MAGIC,
    RawRecord,
    evtx_records,
    first_text,
    head_bytes,
    json_records,
    xml_records,
)

INPUT_FORMATS = (
    "auto",
    "evtx",
    "evtx-json",
    "winlogbeat",
    "nxlog",
    "eventdata-array",
    "splunk-xml",
    "ecs",
)
_FILE_SUFFIXES = (".evtx", ".json", ".ndjson", ".jsonl", ".xml", ".log", ".txt", ".gz")

ErrorHandler = Callable[[DataError], None]
# Whether a raw record may matter (False: skip it before it is normalised; see hunt_raw).
RecordScreen = Callable[[WinRecord], bool]


@dataclass(frozen=True, slots=True)
class NormalizedEvent:
    """One ECS document with its stable `_id`, its data stream, and where it was read."""

    id: str
    index: str
    source: dict[str, Any]
    origin: Location

    def to_hit_event(self) -> HitEvent:
        return HitEvent(index=self.index, id=self.id, source=self.source)


def detect_format(path: Path) -> str:
    """The input format of one file (never "auto"); `DataError` when it cannot be told.

    Told from the first records that parse (up to `DETECT_RECORDS` of them are looked at),
    so a torn or damaged first line costs that line, not the file.
    """
    if head_bytes(path, len(EVTX_MAGIC)).startswith(EVTX_MAGIC):
        return "evtx"
    start = first_text(path)
    if start.startswith("<"):
        return "splunk-xml"
    first: tuple[Location, DataError] | None = None
    for seen, (loc, value) in enumerate(json_records(path), 1):
        if seen > DETECT_RECORDS:
            break
        if isinstance(value, DataError):
            first = first or (loc, value)
            continue
        shape = record_shape(value)
        if shape is not None:
            return shape
        first = first or (loc, DataError("cannot tell the input format of this record"))
    if first is not None:
        loc, error = first
        raise DataError(f"cannot tell the input format: {error.message}", location=loc)
    raise NoRecordsError("no records to tell the input format from", location=Location(str(path)))


DETECT_RECORDS = 100


class NoRecordsError(DataError):
    """The file holds no record at all (empty, `[]`): nothing to tell, nothing lost."""


def _stable_id(rec: WinRecord | None, raw: Any, seen: Counter[bytes]) -> str:
    """Hash of provider/channel/computer/record id/event id/time, or of the raw record.

    Record ids alone repeat across machines of the same name (lab snapshots), so the
    System time is part of the key.

    Raw-record ids carry how often the same bytes were already seen in this read, so two
    identical records stay two events and a re-read gives the same ids again.
    """
    if rec is not None and rec.record_id is not None and rec.computer:
        key = "|".join(
            str(v) for v in (rec.provider, rec.channel, rec.computer, rec.record_id, rec.event_id)
        )
        key += f"|{rec.time_created}"
        return hashlib.sha256(key.encode()).hexdigest()[:40]
    body = raw.encode() if isinstance(raw, str) else dumps(raw, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(body).digest()
    seen[digest] += 1
    return hashlib.sha256(digest + str(seen[digest]).encode()).hexdigest()[:40]


def _ecs_event(raw: Mapping[str, Any], loc: Location) -> NormalizedEvent:
    """An already-ECS document (or an Elasticsearch hit) passed through unchanged."""
    source = raw.get("_source")
    doc = dict(source) if isinstance(source, Mapping) else dict(raw)
    ds = doc.get("data_stream")
    if isinstance(raw.get("_index"), str):
        index = raw["_index"]
    elif isinstance(ds, Mapping) and {"type", "dataset", "namespace"} <= ds.keys():
        index = f"{ds['type']}-{ds['dataset']}-{ds['namespace']}"
    else:
        event = doc.get("event")
        provider = event.get("provider") if isinstance(event, Mapping) else None
        sysmon = provider == SYSMON_PROVIDER
        index = data_stream_name(SYSMON_DATASET if sysmon else FORWARDED_DATASET)
    doc_id = raw.get("_id")
    if not isinstance(doc_id, str):
        doc_id = record_id(doc)  # as the engine's reader names it: same record, same id
    return NormalizedEvent(id=doc_id, index=index, source=doc, origin=loc)


def record_event(
    raw: Any, fmt: str, seen: Counter[bytes], loc: Location, screen: RecordScreen | None = None
) -> NormalizedEvent | None:
    """One raw record (parsed JSON or event XML) of a file in `fmt` as its ECS event; None
    when `screen` drops it. `seen` counts the records named by their content (no record id
    or computer), dropped ones too, so the ids of later identical records do not depend on
    the screen. `DataError` when the record is no Windows event, or is nested too deeply
    to map within the recursion limit (the CLI raises it, `depth.ROOM`; a caller that does
    not gets the hostile record reported, not the read ended)."""
    try:
        return _record_event(raw, fmt, seen, loc, screen)
    except RecursionError as exc:
        raise DataError(f"record nested too deeply to read: {exc}") from None


def _record_event(
    raw: Any, fmt: str, seen: Counter[bytes], loc: Location, screen: RecordScreen | None
) -> NormalizedEvent | None:
    if fmt == "ecs":
        return _ecs_event(raw, loc)
    rec = to_record(raw, "auto" if fmt in ("evtx", "splunk-xml") else fmt)
    if screen is not None and not screen(rec):
        if rec.record_id is None or not rec.computer:
            _stable_id(rec, raw, seen)
        return None
    doc = normalize_record(rec)
    ds = doc["data_stream"]
    return NormalizedEvent(
        id=_stable_id(rec, raw, seen),
        index=data_stream_name(ds["dataset"], ds["namespace"]),
        source=doc,
        origin=loc,
    )


def _raw_records(path: Path, fmt: str) -> Iterator[RawRecord]:
    if fmt == "evtx":
        return evtx_records(path)
    if fmt == "splunk-xml":
        return xml_records(path)
    return json_records(path)


def report_error(err: DataError, loc: Location, on_error: ErrorHandler | None) -> None:
    """Log a bad record and hand it to `on_error`, located at `loc` unless it names a file."""
    located = err if err.location is not None and err.location.file else _with_location(err, loc)
    import structlog  # here: reading events must not cost structlog's import (cli/app.py)

    structlog.get_logger(__name__).warning("skipped record", error=str(located))
    if on_error is not None:
        on_error(located)


def _with_location(err: DataError, loc: Location) -> DataError:
    field = err.location.field if err.location is not None else None
    where = Location(file=loc.file, line=loc.line, field=field or loc.field)
    return DataError(err.message, location=where)


def _read_file(
    path: Path, fmt: str, on_error: ErrorHandler | None, screen: RecordScreen | None = None
) -> Iterator[NormalizedEvent]:
    if fmt == "auto":
        try:
            fmt = detect_format(path)
        except DataError as err:
            report_error(err, Location(file=str(path)), on_error)
            return
    seen: Counter[bytes] = Counter()
    for loc, raw in _raw_records(path, fmt):
        if isinstance(raw, DataError):
            report_error(raw, loc, on_error)
            continue
        try:
            event = record_event(raw, fmt, seen, loc, screen)
        except DataError as err:
            report_error(err, loc, on_error)
            continue
        if event is not None:
            yield event


def _files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    return sorted(
        p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(_FILE_SUFFIXES)
    )


def read_windows_events(
    path: Path,
    input_format: str = "auto",
    *,
    on_error: ErrorHandler | None = None,
    screen: RecordScreen | None = None,
) -> Iterator[NormalizedEvent]:
    """ECS events from a file (or every event file under a directory), in file order.

    `input_format` is one of `INPUT_FORMATS`; "auto" tells it per file. A record that
    cannot be read is logged, handed to `on_error` with its file and line (or record
    number), and skipped. `screen`, when given, sees each record before it is normalised
    and drops those it answers False for (they are still read and checked).
    """
    if input_format not in INPUT_FORMATS:
        raise ConfigError(
            f"unknown input format {input_format!r}; expected one of {', '.join(INPUT_FORMATS)}",
            location=Location(field="input_format"),
        )
    if not path.exists():
        raise DataError("no such file or directory", location=Location(file=str(path)))
    for file in _files(path):
        yield from _read_file(file, input_format, on_error, screen)
