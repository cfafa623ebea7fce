"""The embedded backend's event source: files read once, searched by time window in memory.

Events are loaded on first use and kept sorted by timestamp, so each (rule, window) search
is a bisect plus one pass of the compiled query over that slice — the same request shape,
and the same answers, as an EQL search against Elasticsearch.
"""

from __future__ import annotations

import bisect
import fnmatch
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import structlog

from eqlwatch.backends.base import SourceStatus
from eqlwatch.backends.event_files import ErrorHandler, expand_paths, read_events
from eqlwatch.engine import CompiledQuery, SourceEvent, compile_query
from eqlwatch.errors import DataError
from eqlwatch.model import SearchRequest, SearchResult
from eqlwatch.rules.fields import get_field
from eqlwatch.windowing import parse_timestamp

log = structlog.get_logger(__name__)
_MAX_LOGGED = 20


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
        self.bad_records = 0
        self.file_problems: list[str] = []
        self.untimed = 0
        self._times: list[datetime] = []
        self._events: list[SourceEvent] = []
        self._loaded = False
        self._queries: dict[tuple[object, ...], CompiledQuery] = {}
        self._index_match: dict[tuple[str, tuple[str, ...]], bool] = {}

    def _report(self, error: DataError) -> None:
        if error.location is None or error.location.line is None:
            self.file_problems.append(str(error))  # a whole file unread, not one record
            return
        self.bad_records += 1
        if self.bad_records <= _MAX_LOGGED:
            log.warning("skipped malformed event", error=str(error))
        if self.on_error is not None:
            self.on_error(error)

    @classmethod
    def from_events(
        cls, events: Iterable[SourceEvent], *, timestamp_field: str = "@timestamp"
    ) -> LocalEventSource:
        """A source over events already in memory (tests, `hunt` pipelines)."""
        source = cls([], timestamp_field=timestamp_field)
        source._ingest(events)
        return source

    def load(self) -> None:
        if self._loaded:
            return
        self._ingest(read_events(self.paths, input_format=self.input_format, on_error=self._report))

    def _ingest(self, events: Iterable[SourceEvent]) -> None:
        keyed: list[tuple[datetime, int, SourceEvent]] = []
        field = self.timestamp_field
        for seq, event in enumerate(events):
            try:
                when = parse_timestamp(get_field(event.source, field))
            except ValueError:
                self.untimed += 1
                continue
            keyed.append((when, seq, event))
        keyed.sort(key=lambda item: (item[0], item[1]))
        self._times = [when for when, _, _ in keyed]
        self._events = [event for _, _, event in keyed]
        self._loaded = True
        log.info(
            "events loaded",
            events=len(self._events),
            skipped_malformed=self.bad_records,
            without_timestamp=self.untimed,
        )

    @property
    def events(self) -> list[SourceEvent]:
        self.load()
        return self._events

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
        """Minimal evidence: every configured path matched a file, and each file was read."""
        self.load()
        problems = [f"{raw}: no file matches" for raw in self.paths if not expand_paths([raw])]
        problems += self.file_problems
        newest = next(
            (
                self._times[i]
                for i in range(len(self._events) - 1, -1, -1)
                if self._in_indices(self._events[i].index, indices)
            ),
            None,
        )
        return SourceStatus(
            newest=newest,
            problems=tuple(problems),
            records=len(self._events),
            records_skipped=self.bad_records + self.untimed,
        )

    def search(self, request: SearchRequest) -> SearchResult:
        self.load()
        lo, hi = 0, len(self._events)
        if request.window is not None:
            lo = bisect.bisect_left(self._times, request.window.start)
            hi = bisect.bisect_left(self._times, request.window.end)
        patterns = request.indices
        selected = (e for e in self._events[lo:hi] if self._in_indices(e.index, patterns))
        hits = self._compiled(request).run(selected)
        return SearchResult(hits=tuple(hits), total=len(hits), relation="eq")
