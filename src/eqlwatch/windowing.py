"""Which time windows a rule run evaluates: pure functions of (checkpoint, now, policy).

Windows are cut on *selection time* (`Selection`): when an event became visible to us
(Kibana's `timestamp_override`, e.g. `event.ingested`, or the local source's arrival clock),
falling back to event time. Event time (`timestamp_field`) still orders events and drives
maxspan, `by` and sequences; only which run looks at an event moves to the selection axis,
so an event that arrives late is evaluated in the first run after it arrived.

Each `Slice` has an *attribution* interval [a, b) and a wider *query* interval
[a - overlap, b + hold_back). The search runs over the query interval, but a slice emits
only the hits that *complete* (last non-missing event) inside its attribution interval.
Attribution intervals tile time, so every hit belongs to exactly one slice: overlapping
queries never emit twice, and a sequence completing at t has all its events in
[t - maxspan, t], inside the query of the slice that owns t. After a slice's alerts are
durably written the checkpoint becomes its attribution end (`next_checkpoint`).

`hold_back` keeps attribution maxspan behind the data for queries whose verdict can still
change after the last matched event (a trailing `![...]`, or `until`), so the query sees the
whole span in which a voiding event could arrive. See docs/windowing.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eqlwatch.errors import DataError, EqlwatchError, Location
from eqlwatch.model import Hit, HitEvent, TimeWindow
from eqlwatch.rules.fields import get_field

_ZERO = timedelta(0)
_KINDS = ("event", "sequence", "sample")


class WindowTooDense(EqlwatchError):
    """A slice still returned a full page although it is already no longer than min_split."""


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """How one rule's runs cut time; derived from its query by `policy_for`."""

    overlap: timedelta
    hold_back: timedelta
    ingest_delay: timedelta
    look_back: timedelta
    max_chunk: timedelta
    max_slices: int
    min_split: timedelta

    def __post_init__(self) -> None:
        for name in ("overlap", "hold_back", "ingest_delay", "look_back"):
            if getattr(self, name) < _ZERO:
                raise ValueError(f"{name} must not be negative")
        for name in ("max_chunk", "min_split"):
            if getattr(self, name) <= _ZERO:
                raise ValueError(f"{name} must be positive")
        if self.max_slices < 1:
            raise ValueError("max_slices must be at least 1")


@dataclass(frozen=True, slots=True)
class Selection:
    """Which clock decides the run that looks at an event (Kibana's timestamp override).

    `override` (e.g. `event.ingested`) is read first; an event without it falls back to
    `timestamp_field` unless `fallback` is False, and is then never selected.
    """

    timestamp_field: str = "@timestamp"
    override: str | None = None
    fallback: bool = True

    def time_of(self, source: Mapping[str, Any], where: Location | None = None) -> datetime | None:
        """The event's selection time; None: never selected (no override, no fallback).

        An unreadable override value raises `DataError`, as an unreadable timestamp does.
        """
        fields = [self.override] if self.override else []
        if self.fallback or not self.override:
            fields.append(self.timestamp_field)
        for name in fields:
            raw = get_field(source, name)
            if raw is None:
                continue
            try:
                return parse_timestamp(raw)
            except ValueError as exc:
                located = Location(where.file if where else None, field=name)
                raise DataError(str(exc), location=located) from exc
        if self.override and not self.fallback:
            return None
        loc = Location(where.file if where else None, field=self.timestamp_field)
        raise DataError("event has no timestamp", location=loc)


@dataclass(frozen=True, slots=True)
class Slice:
    """Search over `query`; emit only hits completing inside `attribution`."""

    attribution: TimeWindow
    query: TimeWindow


def policy_for(
    *,
    maxspan: timedelta | None,
    has_until: bool,
    has_trailing_missing: bool,
    kind: str,
    ingest_delay: timedelta,
    look_back: timedelta,
    max_chunk: timedelta,
    max_slices: int,
    min_split: timedelta,
    max_sequence_span: timedelta,
    late_tolerance: timedelta = _ZERO,
) -> WindowPolicy:
    """The policy for one query: overlap is its maxspan, hold-back only if it can change.

    A sequence or sample without `maxspan` could span any time, so the job bounds it with
    `max_sequence_span`: matches longer than that are not found across window edges.
    Windows are on the selection axis, where a sequence's events can lie further apart
    than on event time when some arrive late: `late_tolerance` widens the overlap so a
    sequence whose events arrive within that much of each other is still seen whole.
    """
    if late_tolerance < _ZERO:
        raise ValueError("late_tolerance must not be negative")
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if maxspan is not None and maxspan < _ZERO:
        raise ValueError("maxspan must not be negative")
    span = max_sequence_span if maxspan is None else maxspan
    if kind == "event":
        span = _ZERO
    can_change = kind == "sequence" and (has_until or has_trailing_missing)
    return WindowPolicy(
        overlap=span if kind == "event" else max(span, late_tolerance),
        hold_back=span if can_change else _ZERO,
        ingest_delay=ingest_delay,
        look_back=look_back,
        max_chunk=max_chunk,
        max_slices=max_slices,
        min_split=min_split,
    )


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def make_slice(start: datetime, end: datetime, policy: WindowPolicy) -> Slice:
    """The slice attributing [start, end), with its query widened by the policy."""
    return Slice(
        attribution=TimeWindow(start, end),
        query=TimeWindow(start - policy.overlap, end + policy.hold_back),
    )


def attribution_limit(now: datetime, policy: WindowPolicy) -> datetime:
    """The latest attribution end a run at `now` may reach."""
    return _utc(now, "now") - policy.ingest_delay - policy.hold_back


def plan(checkpoint: datetime | None, now: datetime, policy: WindowPolicy) -> list[Slice]:
    """The slices to evaluate now: from the checkpoint (or now - look_back) in bounded chunks.

    Empty when there is nothing new yet, or when the checkpoint lies past the limit (a clock
    step backwards never re-evaluates or moves the checkpoint back).
    """
    now = _utc(now, "now")
    start = _utc(checkpoint, "checkpoint") if checkpoint is not None else now - policy.look_back
    limit = attribution_limit(now, policy)
    slices: list[Slice] = []
    while start < limit and len(slices) < policy.max_slices:
        end = min(start + policy.max_chunk, limit)
        slices.append(make_slice(start, end, policy))
        start = end
    return slices


def next_checkpoint(done: Slice) -> datetime:
    """Where the next run starts once `done`'s alerts are durably written."""
    return done.attribution.end


def split(s: Slice, policy: WindowPolicy) -> tuple[Slice, Slice]:
    """Halve a slice whose search came back full; its halves partition the attribution."""
    start, end = s.attribution.start, s.attribution.end
    length = end - start
    if length <= policy.min_split or length < timedelta(microseconds=2):
        raise WindowTooDense(
            f"window {start.isoformat()} .. {end.isoformat()} is still full at "
            f"{length} (min_split {policy.min_split}); raise the search size or narrow the rule"
        )
    middle = start + (length // 2)
    return make_slice(start, middle, policy), make_slice(middle, end, policy)


def attributed(
    hits: Iterable[Hit], s: Slice, completion: Callable[[Hit], datetime | None]
) -> list[Hit]:
    """The hits this slice owns: those completing inside its attribution interval."""
    start, end = s.attribution.start, s.attribution.end
    owned = []
    for hit in hits:
        when = completion(hit)
        if when is not None and start <= when < end:
            owned.append(hit)
    return owned


def selection_time(hit: Hit, selection: Selection) -> datetime | None:
    """Which slice owns a hit: the latest selection time of its non-missing events.

    An event the backend gave an arrival time (`HitEvent.arrived`, the local source) is
    selected by it unless it carries the override field itself; then by the later of the
    two, so a file dropped in late is never attributed to a run already past. None: an
    event the selection never picks (the backend's filter would not have returned it).
    """
    latest: datetime | None = None
    for event in hit.events:
        if event.missing:
            continue
        when = event_selection_time(event, selection)
        if when is None:
            return None
        latest = when if latest is None or when > latest else latest
    if latest is None:
        raise DataError("hit has no non-missing event", location=Location(field="selection"))
    return latest


def event_selection_time(event: HitEvent, selection: Selection) -> datetime | None:
    """One event's selection time: the override field, else arrival, else event time."""
    where = Location(file=f"{event.index}/{event.id}")
    if event.arrived is None:
        return selection.time_of(event.source, where)
    if selection.override:
        raw = get_field(event.source, selection.override)
        if raw is not None:
            own = Selection(selection.override, None, True).time_of(event.source, where)
            return own if own is not None and own > event.arrived else event.arrived
        if not selection.fallback:
            return None
    return event.arrived


def completion_time(hit: Hit, timestamp_field: str = "@timestamp") -> datetime:
    """When a hit completed: the latest timestamp of its non-missing events (UTC).

    For events and sequences that is the last non-missing event; samples are not ordered
    by time, so the latest is taken rather than the last.
    """
    latest: datetime | None = None
    for event in hit.events:
        if event.missing:
            continue
        where = Location(file=f"{event.index}/{event.id}", field=timestamp_field)
        raw = get_field(event.source, timestamp_field)
        if raw is None:
            raise DataError("event has no timestamp", location=where)
        try:
            value = parse_timestamp(raw)
        except ValueError as exc:
            raise DataError(str(exc), location=where) from exc
        latest = value if latest is None or value > latest else latest
    if latest is None:
        raise DataError("hit has no non-missing event", location=Location(field=timestamp_field))
    return latest


_FRACTION = re.compile(r"(\.\d{6})\d+")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def parse_timestamp(raw: Any) -> datetime:
    """ISO 8601 (nanoseconds truncated; no offset means UTC, as in Elasticsearch) or epoch
    milliseconds as a number or numeric string (Elasticsearch's default date format reads
    numbers as epoch millis). Anything else, and any value outside what a `datetime` holds
    (years 1-9999, NaN, infinity, `1e300`), raises `ValueError`, never another exception,
    so one odd value costs its event and not the rule."""
    if isinstance(raw, list | tuple) and len(raw) == 1:
        raw = raw[0]
    if isinstance(raw, bool):
        raise ValueError(f"not a timestamp: {raw!r}")
    if isinstance(raw, int | float):
        try:
            return _EPOCH + timedelta(milliseconds=raw)
        except (OverflowError, ValueError):
            raise ValueError(f"timestamp out of range: {_short(raw)}") from None
    if not isinstance(raw, str):
        raise ValueError(f"not a timestamp: {_short(raw)}")
    text = raw.strip()
    if _NUMBER.match(text):
        return parse_timestamp(float(text) if "." in text else int(text))
    try:
        value = datetime.fromisoformat(_FRACTION.sub(r"\1", text))
    except ValueError:
        raise ValueError(f"not a timestamp: {_short(raw)}") from None
    try:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp out of range: {_short(raw)}") from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _short(raw: Any) -> str:
    """The value for an error message, cut so a huge value cannot flood a log line."""
    text = repr(raw)
    return text if len(text) <= 80 else f"{text[:77]}..."
