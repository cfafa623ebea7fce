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
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from eqlwatch.backends.base import SourceStatus
from eqlwatch.backends.event_files import ErrorHandler
from eqlwatch.backends.event_index import IndexBuilder, TimeIndex, read_back, to_micros
from eqlwatch.engine import CompiledQuery, SourceEvent, compile_query
from eqlwatch.model import SearchRequest, SearchResult

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
    ) -> None:
        self.paths = list(paths)
        self.input_format = input_format
        self.timestamp_field = timestamp_field
        self.on_error = on_error
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
        return SourceStatus(
            newest=newest,
            problems=tuple(index.problems),
            files_matched=index.files_matched,
            files_read=index.files_read,
            records=len(index),
            records_skipped=index.skipped,
        )

    def search(self, request: SearchRequest) -> SearchResult:
        index = self._index(request.timestamp_field)
        lo, hi = 0, len(index)
        if request.window is not None:
            lo = bisect.bisect_left(index.times, to_micros(request.window.start))
            hi = bisect.bisect_left(index.times, to_micros(request.window.end))
        compiled = self._compiled(request)
        names, patterns = index.index_names, request.indices
        selected = read_back(
            index,
            lo,
            hi,
            lambda code: self._in_indices(names[code], patterns),
            lambda code: compiled.line_filter(names[code]),
        )
        hits = compiled.run(selected)
        return SearchResult(hits=tuple(hits), total=len(hits), relation="eq")
