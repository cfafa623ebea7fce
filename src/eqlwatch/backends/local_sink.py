"""Alerts appended to an NDJSON file, idempotent by alert id, fsynced before returning.

Writers hold an inter-process lock (`alerts.ndjson.lock`) while they read what others
appended and append their own, so two processes never write the same alert twice nor
interleave lines. Ids already in the file are read once and then incrementally, from where
the last read stopped.

Damage is repaired without losing alerts: only an unterminated last line (a crash
mid-append) is cut, and its bytes are kept in `alerts.ndjson.torn`; a complete line that is
not an alert (blank, malformed, no id) stays where it is and is reported with its line
number. An alert whose newline never landed is complete and keeps its place.

A suppressed alert (`eqlwatch.suppression`) is updated by appending its new version with
the same id: the last line of an id is the alert as it stands (`current_documents`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import structlog

from eqlwatch.backends.filelock import exclusive
from eqlwatch.errors import BackendError
from eqlwatch.jsondump import dumps
from eqlwatch.model import Alert, WriteResult
from eqlwatch.suppression import Version, fields_of, set_fields, with_fields

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
    # Suppressed alerts: (offset, length) of the latest line of each id (its current version).
    latest: dict[str, tuple[int, int]] = field(default_factory=dict)


def _read_line(line: bytes) -> tuple[str | None, bool]:
    """The alert id of one NDJSON line (None when not an alert), and whether it is a
    suppressed alert (one that later lines may update)."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, False
    if not isinstance(doc, dict):
        return None, False
    ns = doc.get("eqlwatch")
    alert_id = ns.get("alert_id") if isinstance(ns, dict) else None
    if not isinstance(alert_id, str):
        return None, False
    return alert_id, fields_of(doc) is not None


def alert_id_of(line: bytes) -> str | None:
    """The alert id of one NDJSON line, None when the line is not an alert."""
    return _read_line(line)[0]


def current_documents(lines: Iterable[bytes]) -> dict[str, dict[str, Any]]:
    """The alerts of an alerts file, by id: a suppressed alert's later lines are its newer
    versions, so the last line of each id is the alert as it stands (readers use this)."""
    out: dict[str, dict[str, Any]] = {}
    for line in lines:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        ns = doc.get("eqlwatch") if isinstance(doc, dict) else None
        alert_id = ns.get("alert_id") if isinstance(ns, dict) else None
        if isinstance(alert_id, str):
            out[alert_id] = doc
    return out


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
        alert_id, suppressed = _read_line(raw)
        if alert_id is None:
            result.bad_lines.append(number)
        else:
            result.ids.add(alert_id)
            if suppressed:
                result.latest[alert_id] = (result.end, len(raw))
        result.end += len(raw)
    return result


class LocalFileSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn_path = path.with_name(path.name + ".torn")
        self._ids: set[str] = set()
        self._latest: dict[str, tuple[int, int]] = {}  # see `ScanResult.latest`
        self._offset = 0  # bytes of the file already read into _ids
        self._lines = 0  # complete lines in those bytes
        self._file: tuple[int, int] | None = None  # (device, inode) those bytes came from

    def _catch_up(self, handle: BinaryIO) -> None:
        """Under the lock: read what was appended since our last read; repair a torn tail."""
        stat = os.fstat(handle.fileno())
        if (stat.st_dev, stat.st_ino) != self._file or stat.st_size < self._offset:
            # First read, or the file was rotated, replaced or truncated: read it all.
            self._ids, self._offset, self._lines = set(), 0, 0
            self._latest = {}
            self._file = (stat.st_dev, stat.st_ino)
        found = scan(handle, start=self._offset, first_line=self._lines + 1)
        self._ids |= found.ids
        self._latest |= found.latest
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
            if _read_line(tail)[1]:
                self._latest[alert_id] = (self._offset, len(tail))
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

    def suppress(self, versions: Sequence[Version]) -> WriteResult:
        """Appends each suppressed alert's new version (same id) when it differs from the
        one in the file; readers take the last line of an id (`current_documents`)."""
        if not versions:
            return WriteResult(created=0, existing=0)
        created = existing = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with exclusive(self.path), self.path.open("a+b") as handle:
                self._catch_up(handle)
                lines: list[Alert] = []
                for version in versions:
                    held = self._current(handle, version.alert_id)
                    if held is None and version.first is None:
                        log.warning(
                            "suppressed alert not in the alerts file; its update is dropped",
                            path=str(self.path),
                            alert_id=version.alert_id,
                        )
                        continue
                    if held is None:
                        assert version.first is not None
                        created += 1
                        lines.append(with_fields(version.first, version.fields))
                        continue
                    existing += 1
                    if fields_of(held) != version.fields:
                        lines.append(Alert(version.alert_id, "", set_fields(held, version.fields)))
                if lines:
                    start = self._offset
                    self._append(handle, lines)
                    self._index_appended(handle, start)
        except OSError as exc:
            raise BackendError(f"cannot write alerts to {self.path}: {exc}") from exc
        return WriteResult(created=created, existing=existing)

    def _current(self, handle: BinaryIO, alert_id: str) -> dict[str, Any] | None:
        """The latest version in the file of a suppressed alert (None: not there)."""
        where = self._latest.get(alert_id)
        if where is None:
            return None
        handle.seek(where[0])
        doc = orjson.loads(handle.read(where[1]))
        return doc if isinstance(doc, dict) else None

    def _index_appended(self, handle: BinaryIO, start: int) -> None:
        found = scan(handle, start=start)
        self._ids |= found.ids
        self._latest |= found.latest

    def _append(self, handle: BinaryIO, fresh: list[Alert]) -> None:
        payload = b"".join(dumps(_with_id(a)) + b"\n" for a in fresh)
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
