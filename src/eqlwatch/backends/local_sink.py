"""Alerts appended to an NDJSON file, idempotent by alert id, fsynced before returning.

On open the file's ids are read once, so re-running a window (after a crash, a restart or an
overlapping slice) never writes an alert twice. A torn last line from a crash is ignored
when reading and overwritten by the next complete record.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import orjson
import structlog

from eqlwatch.errors import BackendError
from eqlwatch.model import Alert, WriteResult

log = structlog.get_logger(__name__)


class LocalFileSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids: set[str] | None = None

    def _known_ids(self) -> set[str]:
        if self._ids is None:
            self._ids = set()
            if self.path.exists():
                self._ids = self._scan_and_repair()
        return self._ids

    def _scan_and_repair(self) -> set[str]:
        ids: set[str] = set()
        good_end = 0
        with self.path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # torn tail from a crash mid-write
                try:
                    doc = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    break
                good_end += len(raw)
                alert_id = (
                    doc.get("eqlwatch", {}).get("alert_id") if isinstance(doc, dict) else None
                )
                if isinstance(alert_id, str):
                    ids.add(alert_id)
        if good_end != self.path.stat().st_size:
            log.warning("alerts file had a torn tail; truncating", path=str(self.path))
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)
        return ids

    def write(self, alerts: Sequence[Alert]) -> WriteResult:
        known = self._known_ids()
        fresh: list[Alert] = []
        batch_ids: set[str] = set()
        for alert in alerts:
            if alert.id not in known and alert.id not in batch_ids:
                fresh.append(alert)
                batch_ids.add(alert.id)
        if fresh:
            payload = b"".join(orjson.dumps(_with_id(a)) + b"\n" for a in fresh)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab") as handle:
                    handle.write(payload)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                self._ids = None  # unknown how much landed: rescan next time
                raise BackendError(f"cannot write alerts to {self.path}: {exc}") from exc
            known.update(batch_ids)
        return WriteResult(created=len(fresh), existing=len(alerts) - len(fresh))


def _with_id(alert: Alert) -> dict[str, object]:
    doc = dict(alert.document)
    existing = doc.get("eqlwatch")
    ns: dict[str, object] = dict(existing) if isinstance(existing, dict) else {}
    ns["alert_id"] = alert.id
    doc["eqlwatch"] = ns
    return doc
