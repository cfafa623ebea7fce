"""The values that cross the seams between engine, backends and the alert pipeline.

A search (embedded engine or Elasticsearch) answers with `Hit`s shaped like the `hits`
of an Elasticsearch EQL response; everything downstream (enrichment, notes, alerts)
reads only these, so it never knows which backend produced them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

HitKind = Literal["event", "sequence", "sample"]


@dataclass(frozen=True, slots=True)
class HitEvent:
    """One event of a hit, as Elasticsearch returns it (`missing` marks a `![...]` slot)."""

    index: str
    id: str
    source: Mapping[str, Any]
    missing: bool = False
    # When the event reached the source (the local arrival clock), if the backend knows it
    # better than the event itself does; windows then select and attribute by it.
    arrived: datetime | None = None

    def to_es(self) -> dict[str, Any]:
        """The event as it appears in an Elasticsearch EQL response (a source that is a
        dict is shared, not copied: the response is for writing out, not for changing)."""
        if self.missing:
            return {"_index": self.index, "_id": self.id, "_source": {}, "missing": True}
        return {"_index": self.index, "_id": self.id, "_source": _as_dict(self.source)}


def _as_dict(source: Mapping[str, Any]) -> dict[str, Any]:
    return source if type(source) is dict else dict(source)


@dataclass(frozen=True, slots=True)
class Hit:
    """A single event match, or one sequence / sample with its events in order."""

    kind: HitKind
    events: tuple[HitEvent, ...]
    join_keys: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open interval [start, end) of event time, always timezone-aware UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("TimeWindow bounds must be timezone-aware")
        if self.end < self.start:
            raise ValueError(f"TimeWindow end {self.end} is before start {self.start}")


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One EQL search of one rule over one window, independent of the backend."""

    query: str
    indices: tuple[str, ...]
    window: TimeWindow | None = None
    size: int = 1000
    timestamp_field: str = "@timestamp"
    tiebreaker_field: str | None = None
    event_category_field: str = "event.category"
    max_samples_per_key: int = 1
    filter: Mapping[str, Any] | None = None
    # The oldest Elastic Stack the rule runs on ("8.6.0"); a backend on an older cluster
    # raises UnsupportedRule. None: any version.
    min_stack_version: str | None = None
    # The window selects by this field (Kibana's `timestamp_override`, e.g. event.ingested)
    # instead of `timestamp_field`; events without it fall back to `timestamp_field` unless
    # `selection_fallback` is False. Ordering, maxspan and `by` stay on `timestamp_field`.
    selection_field: str | None = None
    selection_fallback: bool = True


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What a backend found. `relation == "gte"` or `len(hits) >= size` means: split the window."""

    hits: tuple[Hit, ...]
    total: int
    relation: Literal["eq", "gte"] = "eq"
    took_ms: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def is_full(self, size: int) -> bool:
        return self.relation == "gte" or len(self.hits) >= size


@dataclass(frozen=True, slots=True)
class Alert:
    """An ECS alert document with its deterministic id (hash of rule id and event refs)."""

    id: str
    rule_id: str
    document: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """How a sink took a batch: `created` new, `existing` already there (409 / same id)."""

    created: int
    existing: int
