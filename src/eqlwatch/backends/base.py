"""The three narrow seams every backend implements.

The alert pipeline talks only to these protocols, so the embedded engine over local files,
the in-memory test double and Elasticsearch are interchangeable, and one contract suite
(tests/backends/) runs the same scenarios on each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from eqlwatch.model import Alert, SearchRequest, SearchResult, WriteResult
from eqlwatch.suppression import GroupState, Version


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What a source can vouch for before its windows are trusted (evidence before progress).

    `problems` name what makes the data untrustworthy (a glob that matched no file, an
    unreadable file, a format that could not be detected), each naming its file; any problem
    holds the checkpoint. `newest` is the newest event time the source holds for the
    requested indices (the watermark), None when it holds none yet. `files_matched`,
    `files_read`, `records` and `records_skipped` are what the local source read (0 for
    Elasticsearch), for the run report.
    """

    newest: datetime | None
    problems: tuple[str, ...] = ()
    files_matched: int = 0
    files_read: int = 0
    records: int = 0
    records_skipped: int = 0
    # Events first seen this run that arrived more than ingest_delay after their event time
    # (the local source's arrival clock), the largest such delay, and the count per file.
    late_events: int = 0
    late_max_delay_s: float = 0.0
    late_by_file: tuple[tuple[str, int], ...] = ()


@runtime_checkable
class EventSource(Protocol):
    """Runs EQL searches, and says what it holds before the runner trusts its windows."""

    def search(self, request: SearchRequest) -> SearchResult:
        """One search; raises `RetryableBackendError` when the window was not evaluated."""
        ...

    def status(self, indices: tuple[str, ...], timestamp_field: str) -> SourceStatus:
        """The source's health and watermark for these indices (asked once per rule run).

        "No such index yet" is not a problem: it is `newest=None` (waiting for data).
        Raises `RetryableBackendError` when the source cannot be asked right now.
        """
        ...


@runtime_checkable
class AlertSink(Protocol):
    """Writes alerts durably and idempotently: writing the same alert id twice creates one.

    Returns only once every alert is durable; raises on any failure so the caller does not
    advance its checkpoint.
    """

    def write(self, alerts: Sequence[Alert]) -> WriteResult: ...


@runtime_checkable
class SuppressingSink(Protocol):
    """A sink that can keep suppressed alerts up to date (`eqlwatch.suppression`).

    `suppress` creates each version's document when it has none (from `Version.first`) and
    otherwise sets its `kibana.alert.suppression` to the version's fields; writing the same
    version twice leaves the same document. Raises like `write`.
    """

    def suppress(self, versions: Sequence[Version]) -> WriteResult: ...


@runtime_checkable
class SuppressionStore(Protocol):
    """Per-rule suppression state (the open bucket of each group), keyed like checkpoints."""

    def get_suppression(self, key: str) -> dict[str, GroupState]: ...

    def set_suppression(self, key: str, groups: Mapping[str, GroupState]) -> None: ...


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
