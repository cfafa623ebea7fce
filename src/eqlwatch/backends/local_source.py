"""The embedded backend's event source: files indexed once by time, read back per window.

On first use one pass over the files builds a compact time index (`event_index`): per event
its time and where it lives, not the event itself. Each (rule, window) search is then a
bisect plus one pass of the compiled query over the window's events, read back from the
files in time order — the same request shape, and the same answers, as an EQL search
against Elasticsearch, in memory bounded by the index and the query's own state rather than
by the size of the files (a 1 GB NDJSON file: see docs/windowing.md).
"""

from __future__ import annotations

import bisect
import fnmatch
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from eqlwatch.backends.arrival_index import ArrivalClock, LateTally, observe
from eqlwatch.backends.base import SourceStatus
from eqlwatch.backends.event_files import ErrorHandler
from eqlwatch.backends.event_index import IndexBuilder, TimeIndex, read_at, read_back, to_micros
from eqlwatch.engine import CompiledQuery, SourceEvent, compile_query
from eqlwatch.model import Hit, HitEvent, SearchRequest, SearchResult
from eqlwatch.windowing import Selection

log = structlog.get_logger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LocalEventSource:
    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        input_format: str = "auto",
        timestamp_field: str = "@timestamp",
        on_error: ErrorHandler | None = None,
        ledger: Path | None = None,
        ingest_delay: timedelta = timedelta(0),
    ) -> None:
        self.paths = list(paths)
        self.input_format = input_format
        self.timestamp_field = timestamp_field
        self.on_error = on_error
        self.ledger = ledger
        self.ingest_delay = ingest_delay
        self._observe_at: datetime | None = None
        self._clocks: dict[str, ArrivalClock] = {}
        self._indexes: dict[str, TimeIndex] = {}
        self._given: list[SourceEvent] | None = None
        self._queries: dict[tuple[object, ...], CompiledQuery] = {}
        self._index_match: dict[tuple[str, tuple[str, ...]], bool] = {}

    @classmethod
    def from_events(
        cls, events: Iterable[SourceEvent], *, timestamp_field: str = "@timestamp"
    ) -> LocalEventSource:
        """A source over events already read (tests, `hunt` pipelines)."""
        source = cls([], timestamp_field=timestamp_field)
        source._given = list(events)
        return source

    def _index(self, timestamp_field: str) -> TimeIndex:
        """The time index for this timestamp field, built on first use."""
        index = self._indexes.get(timestamp_field)
        if index is None:
            builder = IndexBuilder(timestamp_field, self.input_format, self.on_error)
            if self._given is not None:
                builder.add_events(self._given, "events")
                builder.index.files_matched = builder.index.files_read = 1
                builder.index.sort()
                index = builder.index
            else:
                index = builder.build(self.paths)
            self._indexes[timestamp_field] = index
            log.info(
                "events indexed",
                events=len(index),
                files=index.files_read,
                skipped=index.skipped,
                problems=len(index.problems),
            )
        return index

    def begin_run(self, now: datetime) -> None:
        """A scheduled run at `now`: read the files afresh and, with a ledger, observe them
        (events first seen now arrive now; see `backends.arrivals`)."""
        self.close()
        self._indexes.clear()
        self._clocks.clear()
        self._observe_at = now

    def _clock(self, timestamp_field: str) -> ArrivalClock | None:
        """The arrival clock of this run's index; None without a ledger or outside `run`."""
        if self.ledger is None or self._observe_at is None:
            return None
        clock = self._clocks.get(timestamp_field)
        if clock is None:
            index = self._index(timestamp_field)
            clock = observe(index, self.ledger, self._observe_at, self.ingest_delay)
            self._clocks[timestamp_field] = clock
            if clock.late.count:
                log.warning(
                    "late events arrived",
                    count=clock.late.count,
                    largest_delay_s=clock.late.largest.total_seconds(),
                    files=clock.late.by_file,
                )
        return clock

    def load(self) -> None:
        """Index the files now (otherwise done by the first search or status)."""
        self._index(self.timestamp_field)

    def close(self) -> None:
        for index in self._indexes.values():
            index.close()

    @property
    def events(self) -> list[SourceEvent]:
        """Every indexed event in time order (tests; a search reads only its window)."""
        index = self._index(self.timestamp_field)
        return list(read_back(index, 0, len(index), lambda _: True, lambda _: None))

    def _compiled(self, request: SearchRequest) -> CompiledQuery:
        key = (
            request.query,
            request.timestamp_field,
            request.tiebreaker_field,
            request.event_category_field,
            request.size,
            request.max_samples_per_key,
        )
        compiled = self._queries.get(key)
        if compiled is None:
            compiled = self._queries[key] = compile_query(
                request.query,
                timestamp_field=request.timestamp_field,
                tiebreaker_field=request.tiebreaker_field,
                event_category_field=request.event_category_field,
                size=request.size,
                max_samples_per_key=request.max_samples_per_key,
            )
        return compiled

    def _in_indices(self, index: str, patterns: tuple[str, ...]) -> bool:
        key = (index, patterns)
        verdict = self._index_match.get(key)
        if verdict is None:
            verdict = self._index_match[key] = not patterns or any(
                fnmatch.fnmatchcase(index, p) for p in patterns
            )
        return verdict

    def status(self, indices: tuple[str, ...], timestamp_field: str) -> SourceStatus:
        """What the files hold for these indices: problems that must hold the checkpoint
        (a path matching no file, an unreadable file, an unknown format), the newest event
        time (the watermark) and what was read."""
        index = self._index(timestamp_field)
        names = index.index_names
        newest_us = max(
            (t for code, t in index.newest.items() if self._in_indices(names[code], indices)),
            default=None,
        )
        newest = None if newest_us is None else _EPOCH + timedelta(microseconds=newest_us)
        clock = self._clock(timestamp_field) if not index.problems else None
        late = clock.late if clock is not None else _NO_LATE
        return SourceStatus(
            late_events=late.count,
            late_max_delay_s=late.largest.total_seconds(),
            late_by_file=tuple(sorted(late.by_file.items())),
            newest=newest,
            problems=tuple(index.problems),
            files_matched=index.files_matched,
            files_read=index.files_read,
            records=len(index),
            records_skipped=index.skipped,
        )

    def search(self, request: SearchRequest) -> SearchResult:
        index = self._index(request.timestamp_field)
        clock = self._clock(request.timestamp_field)
        compiled = self._compiled(request)
        names, patterns = index.index_names, request.indices

        def wanted(code: int) -> bool:
            return self._in_indices(names[code], patterns)

        def line_test(code: int) -> Callable[[bytes], bool] | None:
            return compiled.line_filter(names[code])

        if clock is None and (request.window is None or request.selection_field is None):
            lo, hi = 0, len(index)
            if request.window is not None:
                lo = bisect.bisect_left(index.times, to_micros(request.window.start))
                hi = bisect.bisect_left(index.times, to_micros(request.window.end))
            hits = compiled.run(read_back(index, lo, hi, wanted, line_test))
            return SearchResult(hits=tuple(hits), total=len(hits), relation="eq")
        return self._search_selected(request, index, clock, compiled, wanted, line_test)

    def _search_selected(
        self,
        request: SearchRequest,
        index: TimeIndex,
        clock: ArrivalClock | None,
        compiled: CompiledQuery,
        wanted: Callable[[int], bool],
        line_test: Callable[[int], Callable[[bytes], bool] | None],
    ) -> SearchResult:
        """The window on the selection axis: arrival, or the rule's timestamp override."""
        if clock is None:  # no arrival clock (backfill, hunt): an override over event time
            key = f"{request.timestamp_field}\0plain"
            clock = self._clocks.get(key)
            if clock is None:
                never = datetime.max.replace(tzinfo=UTC)
                clock = self._clocks[key] = ArrivalClock(index.times, never, _NO_LATE, False)
        positions: Iterable[int] = range(len(index))
        if request.window is not None:
            selection = Selection(
                request.timestamp_field, request.selection_field, request.selection_fallback
            )
            positions = clock.positions(
                selection,
                request.window.start,
                request.window.end,
                lambda: read_at(index, range(len(index)), lambda _: True, lambda _: None),
            )
        arrived: dict[tuple[str, str], datetime] = {}

        def events() -> Iterator[SourceEvent]:
            for i, event in read_at(index, positions, wanted, line_test):
                arrived[(event.index, event.id)] = clock.arrived(i)
                yield event

        hits = compiled.run(events())
        if self.ledger is not None and self._observe_at is not None:
            hits = [_with_arrivals(hit, arrived) for hit in hits]
        return SearchResult(hits=tuple(hits), total=len(hits), relation="eq")


_NO_LATE = LateTally()


def _with_arrivals(hit: Hit, arrived: dict[tuple[str, str], datetime]) -> Hit:
    """The hit's events with the arrival the search selected them by (for attribution)."""
    events = tuple(
        e if e.missing else HitEvent(e.index, e.id, e.source, arrived=arrived.get((e.index, e.id)))
        for e in hit.events
    )
    return Hit(hit.kind, events, hit.join_keys)
