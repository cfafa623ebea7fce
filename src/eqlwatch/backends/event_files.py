"""Every kind of event file eqlwatch reads, as one stream of engine events.

ECS NDJSON / JSON arrays (optionally gzipped) take the engine's fast reader, the index named
after the file; raw Windows logs (EVTX, evtx-rs JSON, Winlogbeat, NXLog, EventData arrays,
Splunk XML) go through the Sysmon → ECS normaliser and land in the data stream Elastic's
integration would use. Bad records are reported with file and line and skipped.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from eqlwatch.engine import SourceEvent
from eqlwatch.engine.reader import ErrorCounter, read_event_file
from eqlwatch.errors import DataError, Location
from eqlwatch.sysmon import detect_format, read_windows_events

ErrorHandler = Callable[[DataError], None]
EVENT_SUFFIXES = (".ndjson", ".json", ".jsonl", ".evtx", ".xml", ".log", ".gz")


def is_event_file(name: str) -> bool:
    """Whether a file in a folder is read: an event file's suffix, possibly rotated (`.1`)."""
    name = name.lower().removesuffix(".gz")
    stem, dot, number = name.rpartition(".")
    if dot and number.isdigit():
        name = stem
    return name.endswith(EVENT_SUFFIXES)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files, folders (their event files, recursively, sorted) and glob patterns."""
    found: dict[Path, None] = {}
    for raw in paths:
        text = str(raw)
        if any(ch in text for ch in "*?["):
            matches = [Path(p) for p in sorted(glob.glob(text, recursive=True))]
        else:
            matches = [Path(text)]
        for path in matches:
            if path.is_dir():
                found.update(
                    dict.fromkeys(
                        p for p in sorted(path.rglob("*")) if p.is_file() and is_event_file(p.name)
                    )
                )
            else:
                found[path] = None
    return list(found)


def read_events(
    paths: Iterable[str | Path],
    *,
    input_format: str = "auto",
    on_error: ErrorHandler | None = None,
) -> Iterator[SourceEvent]:
    """All events of all files, file by file, in file order."""
    for path in expand_paths(paths):
        if not path.exists():
            error = DataError("no such file or directory", location=Location(file=str(path)))
            if on_error is None:
                raise error
            on_error(error)
            continue
        yield from _read_one(path, input_format, on_error)


def _read_one(
    path: Path, input_format: str, on_error: ErrorHandler | None
) -> Iterator[SourceEvent]:
    fmt = input_format
    if fmt == "auto":
        try:
            fmt = detect_format(path)
        except DataError as error:
            if on_error is None:
                raise
            on_error(error)
            return
    yield from read_file_events(path, fmt, on_error)


def read_file_events(path: Path, fmt: str, on_error: ErrorHandler | None) -> Iterator[SourceEvent]:
    """The events of one file of a known format (never "auto")."""
    if fmt == "ecs":
        events, _counter = read_event_file(path, errors=ErrorCounter(on_error=on_error))
        yield from events
        return
    for event in read_windows_events(path, fmt, on_error=on_error):
        yield SourceEvent(event.index, event.id, event.source)
