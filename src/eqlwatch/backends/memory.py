"""In-memory source, sink and state store: the test doubles every contract scenario runs on.

They honour the same promises as the durable backends (idempotent ids, leases with expiry,
a watermark) and can be told to fail or to report problems, so tests exercise the
pipeline's recovery paths for real.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from eqlwatch.backends.base import Lease, SourceStatus
from eqlwatch.engine import SourceEvent, compile_query
from eqlwatch.errors import BackendError, DataError
from eqlwatch.model import Alert, SearchRequest, SearchResult, WriteResult
from eqlwatch.rules.fields import get_field
from eqlwatch.suppression import GroupState, Version, with_fields
from eqlwatch.windowing import Selection, parse_timestamp


class MemoryEventSource:
    """Events held in a list; `add` makes more arrive (late data), `problems` are reported.

    Events without a parseable timestamp are never searched, as in the local source.
    """

    def __init__(self, events: Iterable[SourceEvent] = ()) -> None:
        self.events: list[SourceEvent] = []
        self.problems: tuple[str, ...] = ()
        self.status_calls = 0
        self.add(events)

    def add(self, events: Iterable[SourceEvent]) -> None:
        self.events.extend(events)

    def _time(self, event: SourceEvent, field: str) -> datetime | None:
        try:
            return parse_timestamp(get_field(event.source, field))
        except ValueError:
            return None

    def _in(self, event: SourceEvent, indices: tuple[str, ...]) -> bool:
        return not indices or any(fnmatch.fnmatchcase(event.index, p) for p in indices)

    def search(self, request: SearchRequest) -> SearchResult:
        chosen: list[tuple[datetime, int, SourceEvent]] = []
        selection = Selection(
            request.timestamp_field, request.selection_field, request.selection_fallback
        )
        for seq, event in enumerate(self.events):
            when = self._time(event, request.timestamp_field)
            if when is None or not self._in(event, request.indices):
                continue
            window = request.window
            if window is not None and request.selection_field:
                try:
                    picked = selection.time_of(event.source)
                except DataError:
                    continue
                if picked is None or not window.start <= picked < window.end:
                    continue
                chosen.append((when, seq, event))
            elif window is None or window.start <= when < window.end:
                chosen.append((when, seq, event))
        chosen.sort(key=lambda item: (item[0], item[1]))
        compiled = compile_query(
            request.query,
            timestamp_field=request.timestamp_field,
            tiebreaker_field=request.tiebreaker_field,
            event_category_field=request.event_category_field,
            size=request.size,
            max_samples_per_key=request.max_samples_per_key,
        )
        hits = compiled.run(e for _, _, e in chosen)
        return SearchResult(hits=tuple(hits), total=len(hits), relation="eq")

    def status(self, indices: tuple[str, ...], timestamp_field: str) -> SourceStatus:
        self.status_calls += 1
        times = [
            when
            for event in self.events
            if self._in(event, indices) and (when := self._time(event, timestamp_field))
        ]
        return SourceStatus(
            newest=max(times, default=None), problems=self.problems, records=len(self.events)
        )


class MemorySink:
    """Keeps alerts by id; `fail_next` makes the next N writes raise before writing anything."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.fail_next = 0
        self.writes = 0

    def write(self, alerts: Sequence[Alert]) -> WriteResult:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise BackendError("memory sink: injected write failure")
        self.writes += 1
        created = existing = 0
        for alert in alerts:
            if alert.id in self.alerts:
                existing += 1
            else:
                self.alerts[alert.id] = alert
                created += 1
        return WriteResult(created=created, existing=existing)

    def suppress(self, versions: Sequence[Version]) -> WriteResult:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise BackendError("memory sink: injected write failure")
        self.writes += 1
        created = existing = 0
        for version in versions:
            held = self.alerts.get(version.alert_id)
            base = held if held is not None else version.first
            if base is None:  # removed from under us: nothing to update (logged by others)
                continue
            created, existing = created + (held is None), existing + (held is not None)
            self.alerts[version.alert_id] = with_fields(base, version.fields)
        return WriteResult(created=created, existing=existing)

    def documents(self) -> list[dict[str, Any]]:
        return [dict(a.document) for a in self.alerts.values()]


class MemoryStateStore:
    """Checkpoints and leases in dicts; shared between 'replicas' by sharing the object."""

    def __init__(self) -> None:
        self.checkpoints: dict[str, datetime] = {}
        self.leases: dict[str, Lease] = {}
        self.suppression: dict[str, dict[str, GroupState]] = {}

    def get_checkpoint(self, key: str) -> datetime | None:
        return self.checkpoints.get(key)

    def set_checkpoint(self, key: str, value: datetime) -> None:
        self.checkpoints[key] = value

    def get_suppression(self, key: str) -> dict[str, GroupState]:
        return dict(self.suppression.get(key, {}))

    def set_suppression(self, key: str, groups: Mapping[str, GroupState]) -> None:
        self.suppression[key] = dict(groups)

    def acquire_lease(self, key: str, owner: str, now: datetime, ttl_s: float) -> Lease | None:
        held = self.leases.get(key)
        if held is not None and held.owner != owner and held.expires > now:
            return None
        lease = Lease(key=key, owner=owner, expires=now + timedelta(seconds=ttl_s))
        self.leases[key] = lease
        return lease

    def release_lease(self, lease: Lease) -> None:
        held = self.leases.get(lease.key)
        if held is not None and held.owner == lease.owner:
            del self.leases[lease.key]
