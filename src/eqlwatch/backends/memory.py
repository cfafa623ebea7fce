"""In-memory sink and state store: the test double every contract scenario also runs on.

They honour the same promises as the durable backends (idempotent ids, leases with expiry)
and can be told to fail, so tests exercise the pipeline's recovery paths for real.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from eqlwatch.backends.base import Lease
from eqlwatch.errors import BackendError
from eqlwatch.model import Alert, WriteResult


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

    def documents(self) -> list[dict[str, Any]]:
        return [dict(a.document) for a in self.alerts.values()]


class MemoryStateStore:
    """Checkpoints and leases in dicts; shared between 'replicas' by sharing the object."""

    def __init__(self) -> None:
        self.checkpoints: dict[str, datetime] = {}
        self.leases: dict[str, Lease] = {}

    def get_checkpoint(self, key: str) -> datetime | None:
        return self.checkpoints.get(key)

    def set_checkpoint(self, key: str, value: datetime) -> None:
        self.checkpoints[key] = value

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
