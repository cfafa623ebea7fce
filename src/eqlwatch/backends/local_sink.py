"""Alerts appended to an NDJSON file, idempotent by alert id, fsynced before returning.

Writers hold an inter-process lock (`alerts.ndjson.lock`) while they read what others
appended and append their own, so two processes never write the same alert twice nor
interleave lines. Ids already in the file are read once and then incrementally, from where
the last read stopped.

Damage is repaired without losing alerts: only an unterminated last line (a crash
mid-append) is cut, and its bytes are kept in `alerts.ndjson.torn`; a complete line that is
not an alert (blank, malformed, no id) stays where it is and is reported with its line
number. An alert whose newline never landed is complete and keeps its place.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson
import structlog

from eqlwatch.backends.filelock import exclusive
from eqlwatch.errors import BackendError
from eqlwatch.model import Alert, WriteResult

log = structlog.get_logger(__name__)
# How many bad line numbers one warning lists; the count is always complete.
MAX_REPORTED_LINES = 10


@dataclass(slots=True)
class ScanResult:
    """What one pass over (part of) the alerts file found."""

    ids: set[str] = field(default_factory=set)
    end: int = 0  # offset just past the last complete line
    lines: int = 0  # complete lines seen
    bad_lines: list[int] = field(default_factory=list)  # 1-based numbers of non-alert lines
    tail: bytes = b""  # an unterminated last line


def alert_id_of(line: bytes) -> str | None:
    """The alert id of one NDJSON line, None when the line is not an alert."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    ns = doc.get("eqlwatch")
    alert_id = ns.get("alert_id") if isinstance(ns, dict) else None
    return alert_id if isinstance(alert_id, str) else None


def scan(handle: BinaryIO, *, start: int = 0, first_line: int = 1) -> ScanResult:
    """Read alert ids from `start` (a line boundary) to the end; pure apart from reading."""
    handle.seek(start)
    result = ScanResult(end=start)
    number = first_line - 1
    for raw in handle:
        if not raw.endswith(b"\n"):
            result.tail = raw
            break
        number += 1
        result.lines += 1
        result.end += len(raw)
        alert_id = alert_id_of(raw)
        if alert_id is None:
            result.bad_lines.append(number)
        else:
            result.ids.add(alert_id)
    return result


class LocalFileSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn_path = path.with_name(path.name + ".torn")
        self._ids: set[str] = set()
        self._offset = 0  # bytes of the file already read into _ids
        self._lines = 0  # complete lines in those bytes
        self._file: tuple[int, int] | None = None  # (device, inode) those bytes came from

    def _catch_up(self, handle: BinaryIO) -> None:
        """Under the lock: read what was appended since our last read; repair a torn tail."""
        stat = os.fstat(handle.fileno())
        if (stat.st_dev, stat.st_ino) != self._file or stat.st_size < self._offset:
            # First read, or the file was rotated, replaced or truncated: read it all.
            self._ids, self._offset, self._lines = set(), 0, 0
            self._file = (stat.st_dev, stat.st_ino)
        found = scan(handle, start=self._offset, first_line=self._lines + 1)
        self._ids |= found.ids
        self._offset, self._lines = found.end, self._lines + found.lines
        if found.bad_lines:
            log.warning(
                "alerts file has lines that are not alerts; they are kept as they are",
                path=str(self.path),
                count=len(found.bad_lines),
                lines=found.bad_lines[:MAX_REPORTED_LINES],
            )
        if found.tail:
            self._repair_tail(handle, found.tail)

    def _repair_tail(self, handle: BinaryIO, tail: bytes) -> None:
        line = self._lines + 1
        alert_id = alert_id_of(tail)
        if alert_id is not None:
            # The whole alert landed, only its newline did not: finish the line.
            handle.seek(0, os.SEEK_END)
            handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            self._ids.add(alert_id)
            self._offset += len(tail) + 1
            self._lines += 1
            log.warning("alerts file's last line had no newline; completed it", line=line)
            return
        with self.torn_path.open("ab") as torn:
            torn.write(tail + b"\n")
            torn.flush()
            os.fsync(torn.fileno())
        handle.truncate(self._offset)
        os.fsync(handle.fileno())
        log.warning(
            "alerts file had a torn last line (a crash mid-write); cut it, bytes kept aside",
            path=str(self.path),
            line=line,
            bytes=len(tail),
            kept_in=str(self.torn_path),
        )

    def write(self, alerts: Sequence[Alert]) -> WriteResult:
        if not alerts:
            return WriteResult(created=0, existing=0)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with exclusive(self.path), self.path.open("a+b") as handle:
                self._catch_up(handle)
                fresh: list[Alert] = []
                batch_ids: set[str] = set()
                for alert in alerts:
                    if alert.id not in self._ids and alert.id not in batch_ids:
                        fresh.append(alert)
                        batch_ids.add(alert.id)
                if fresh:
                    self._append(handle, fresh)
                    self._ids |= batch_ids
        except OSError as exc:
            raise BackendError(f"cannot write alerts to {self.path}: {exc}") from exc
        return WriteResult(created=len(fresh), existing=len(alerts) - len(fresh))

    def _append(self, handle: BinaryIO, fresh: list[Alert]) -> None:
        payload = b"".join(orjson.dumps(_with_id(a)) + b"\n" for a in fresh)
        try:
            handle.seek(0, os.SEEK_END)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:
            # Unknown how much landed: take it back so the file ends on a whole line.
            with contextlib.suppress(OSError):  # else the next writer cuts the torn tail
                handle.truncate(self._offset)
            raise
        self._offset += len(payload)
        self._lines += len(fresh)


def _with_id(alert: Alert) -> dict[str, object]:
    doc = dict(alert.document)
    existing = doc.get("eqlwatch")
    ns: dict[str, object] = dict(existing) if isinstance(existing, dict) else {}
    ns["alert_id"] = alert.id
    doc["eqlwatch"] = ns
    return doc
