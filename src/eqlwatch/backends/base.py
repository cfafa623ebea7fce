"""The three narrow seams every backend implements.

The alert pipeline talks only to these protocols, so the embedded engine over local files,
the in-memory test double and Elasticsearch are interchangeable, and one contract suite
(tests/backends/) runs the same scenarios on each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from eqlwatch.model import Alert, SearchRequest, SearchResult, WriteResult


@runtime_checkable
class EventSource(Protocol):
    """Runs one EQL search. Raises `RetryableBackendError` when the window was not evaluated."""

    def search(self, request: SearchRequest) -> SearchResult: ...


@runtime_checkable
class AlertSink(Protocol):
    """Writes alerts durably and idempotently: writing the same alert id twice creates one.

    Returns only once every alert is durable; raises on any failure so the caller does not
    advance its checkpoint.
    """

    def write(self, alerts: Sequence[Alert]) -> WriteResult: ...


@dataclass(frozen=True, slots=True)
class Lease:
    """Permission for one owner to run one (job, rule) until `expires`."""

    key: str
    owner: str
    expires: datetime


@runtime_checkable
class StateStore(Protocol):
    """Checkpoints and leases, keyed by "job_id/rule_id"."""

    def get_checkpoint(self, key: str) -> datetime | None: ...

    def set_checkpoint(self, key: str, value: datetime) -> None: ...

    def acquire_lease(self, key: str, owner: str, now: datetime, ttl_s: float) -> Lease | None:
        """Take or renew the lease; None when another live owner holds it."""
        ...

    def release_lease(self, lease: Lease) -> None: ...
