"""The engine's entry points: compile a query once, then stream events through executors.

An `Executor` is stateful and reads each event once. Event queries accept events in any
order (results are sorted at the end); sequences need events in (timestamp, tiebreaker)
order across calls to `feed` — the order the alert pipeline and `run` provide — and raise
`DataError` otherwise. Events without a usable timestamp are skipped by event and sequence
queries (samples do not need one). Results do not depend on how the input is chunked.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain
from typing import Any

from eqlwatch.engine.ordered import InOrder
from eqlwatch.engine.parse import ParsedQuery, parse
from eqlwatch.engine.plainseq import (
    PlainFeeder,
    feed_in_order,
    feed_lines,
    feed_plain,
    is_plain,
)
from eqlwatch.engine.plan import Ordinal, Plan, Settings, SourceEvent, build_plan, ordinal_of
from eqlwatch.engine.prefilter import LineFilter, line_filter
from eqlwatch.engine.reader import EventStream
from eqlwatch.engine.sample import SampleCollector
from eqlwatch.engine.schema import FieldSchema
from eqlwatch.engine.sequence import SequenceMatcher
from eqlwatch.model import Hit, HitEvent, HitKind

Pipes = tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class QueryInfo:
    """What the scheduler needs to know about a query without running it."""

    kind: HitKind
    maxspan: timedelta | None
    has_until: bool
    has_trailing_missing: bool
    pipes: Pipes
    fields: frozenset[str]


class _Bounded:
    """Results kept in order; only as many as the first head/tail (or size) can return."""

    def __init__(self, pipes: Pipes, size: int | None) -> None:
        self.pipes, self.size = pipes, size
        first = pipes[0] if pipes else (("head", size) if size is not None else None)
        self.mode: str | None = first[0] if first is not None else None
        self.limit: int = first[1] if first is not None else 0
        self.items: list[tuple[Ordinal, int, Hit]] = []
        self.counter = 0

    def add(self, ordinal: Ordinal, hit: Hit) -> None:
        self.counter += 1
        self.items.append((ordinal, self.counter, hit))
        if self.mode is not None and len(self.items) > 2 * self.limit + 1024:
            self._trim()

    def _trim(self) -> None:
        pick = heapq.nsmallest if self.mode == "head" else heapq.nlargest
        self.items = pick(self.limit, self.items)  # (ordinal, counter) is unique

    def result(self) -> list[Hit]:
        # (ordinal, counter) is unique, so plain tuple order never compares two hits
        ordered = [hit for _, _, hit in sorted(self.items)]
        return select(ordered, self.pipes, self.size)


def select(items: list[Hit], pipes: Pipes, size: int | None) -> list[Hit]:
    """Apply head/tail pipes in order, then the request size (from the end after a tail)."""
    for name, n in pipes:
        items = items[:n] if name == "head" else (items[-n:] if n > 0 else [])
    if size is not None:
        from_end = bool(pipes) and pipes[-1][0] == "tail"
        items = (items[-size:] if size > 0 else []) if from_end else items[:size]
    return items


class CompiledQuery:
    """A parsed query plus request options; compiles per index lazily."""

    def __init__(
        self,
        parsed: ParsedQuery,
        schema: FieldSchema,
        settings: Settings,
        size: int | None,
        max_samples_per_key: int,
    ) -> None:
        self.parsed, self.schema, self.settings = parsed, schema, settings
        self.size, self.max_samples_per_key = size, max_samples_per_key
        self._plans: dict[str, Plan] = {}
        probe = self.plan_for("")
        missing = [s.missing for s in parsed.stages]
        self.info = QueryInfo(
            kind=parsed.kind,  # type: ignore[arg-type]
            maxspan=timedelta(milliseconds=parsed.maxspan_ms) if parsed.maxspan_ms else None,
            has_until=parsed.until is not None,
            has_trailing_missing=bool(missing) and missing[-1],
            pipes=parsed.pipes,
            fields=probe.fields,
        )

    def line_filter(self, index: str) -> LineFilter | None:
        """A raw-line test for NDJSON files of `index` (see `prefilter`), if one applies."""
        s = self.settings
        return line_filter(
            self.parsed, self.schema.for_index(index), s.timestamp_field, s.event_category_field
        )

    def plan_for(self, index: str) -> Plan:
        plan = self._plans.get(index)
        if plan is None:
            plan = build_plan(self.parsed, self.schema.for_index(index), self.settings)
            self._plans[index] = plan
        return plan

    def executor(self) -> Executor:
        return Executor(self)

    def run(
        self,
        events: Iterable[SourceEvent],
        again: Callable[[], Iterable[SourceEvent]] | None = None,
    ) -> list[Hit]:
        """All events at once, in any order. A sequence takes them as they come while they
        come in time order; at the first that does not, it starts over with the relevant
        events held and sorted (`run_sorted`), the same results either way. To start over
        it keeps the events it let through, unless `again` reads the same events anew."""
        if self.parsed.kind != "sequence":
            ex = self.executor()
            ex.feed(events)
            return ex.finish()
        rest = iter(events)
        watch = InOrder(self.plan_for, keep=again is None)
        ex = self.executor()
        ex.feed_in_order(rest, watch)
        if watch.late is None:
            return ex.finish()
        del ex  # its partial sequences are no use now
        if again is not None:
            close = getattr(rest, "close", None)
            if close is not None:
                close()  # a generator: its open files
            return self.run_sorted(again())
        seen, watch.passed = watch.passed, []
        return self.run_sorted(chain(seen, (watch.late,), rest))

    def run_sorted(self, events: Iterable[SourceEvent]) -> list[Hit]:
        """A sequence over events in any order: the relevant ones held and sorted."""
        ex = self.executor()
        ex.feed(self.sort(ev for ev in events if self.relevant(ev)))
        return ex.finish()

    def relevant(self, event: SourceEvent) -> bool:
        """Whether any filter of the query (stages, until) can match the event."""
        return bool(self.plan_for(event.index).filters_matching(event.source))

    def sort(self, events: Iterable[SourceEvent]) -> list[SourceEvent]:
        """Events in (timestamp, tiebreaker, arrival) order; events without timestamp dropped."""
        keyed = []
        for seq, ev in enumerate(events):
            ordinal = ordinal_of(self.plan_for(ev.index), ev.source, seq)
            if ordinal is not None:
                keyed.append((ordinal, ev))
        keyed.sort(key=lambda pair: pair[0])
        return [ev for _, ev in keyed]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector (restoring its previous state).

    Reading and matching keep many parsed events alive and make no reference cycles, so full
    GC passes over them only cost time; see `Executor.feed`.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Executor:
    """Streaming evaluation of one compiled query."""

    def __init__(self, query: CompiledQuery) -> None:
        self.query = query
        parsed = query.parsed
        self.kind = parsed.kind
        self.seq = 0
        self.results = _Bounded(parsed.pipes, query.size)
        self.matcher: SequenceMatcher | None = None
        self.samples: SampleCollector | None = None
        if self.kind == "sequence":
            missing = tuple(s.missing for s in parsed.stages)
            conditions = [id(s.condition) for s in parsed.stages]
            shared = len(set(conditions)) < len(conditions)
            self.matcher = SequenceMatcher(missing, parsed.maxspan_ms, self.results.add, shared)
        elif self.kind == "sample":
            self.samples = SampleCollector(len(parsed.stages), query.max_samples_per_key)
        self.plain: PlainFeeder | None = None
        if self.matcher is not None and is_plain(self.matcher, parsed.until is not None):
            self.plain = PlainFeeder(self.matcher, query.plan_for)

    def feed(self, events: Iterable[SourceEvent]) -> None:
        """Evaluate events; the category is read first, timestamps only for matches.

        The cyclic garbage collector is paused meanwhile: the engine creates no reference
        cycles, and with many live event dicts its full passes cost more than matching.
        """
        with gc_paused():
            self._feed(events)

    def feed_in_order(self, events: Iterable[SourceEvent], watch: InOrder) -> None:
        """`feed(watch.events(events))`, in one loop where the plain feeder applies."""
        if self.plain is None:
            self.feed(watch.events(events))
            return
        with gc_paused():
            feed_in_order(self.plain, events, self.seq, self._store_seq, watch)

    def _feed(self, events: Iterable[SourceEvent]) -> None:
        if self.matcher is not None:
            self._feed_sequence(events, self.matcher)
            return
        plan_for = self.query.plan_for
        index: str | None = None
        plan: Plan | None = None
        for ev in events:
            if ev.index != index or plan is None:
                index, plan = ev.index, plan_for(ev.index)
            seq = self.seq
            self.seq = seq + 1
            src = ev.source
            if self.samples is not None:
                hits = plan.filters_matching(src)
                if hits:
                    self.samples.feed(plan, hits, seq, ev)
            elif plan.dispatch(src) and self._event_match(plan, src):
                ordinal = ordinal_of(plan, src, seq)
                if ordinal is not None:
                    self.results.add(ordinal, Hit("event", (HitEvent(ev.index, ev.id, src),)))

    def _feed_sequence(self, events: Iterable[SourceEvent], matcher: SequenceMatcher) -> None:
        """The hot loop of sequence queries: most events stop at the category dispatch."""
        if self.plain is not None:
            raw = events.ndjson() if isinstance(events, EventStream) else None
            if raw is not None:
                feed_lines(self.plain, raw, self.seq, self._store_seq)
            else:
                feed_plain(self.plain, events, self.seq, self._store_seq)
            return
        plan_for = self.query.plan_for
        index = ""
        plan = plan_for(index)
        dispatch, offer = plan.dispatch, matcher.offer
        seq = self.seq
        try:
            for ev in events:
                if ev[0] != index:
                    index = ev[0]
                    plan = plan_for(index)
                    dispatch = plan.dispatch
                cands = dispatch(ev[2])
                if cands or matcher.deadlines:
                    offer(plan, cands, seq, ev)
                seq += 1
        finally:
            self.seq = seq

    def _store_seq(self, seq: int) -> None:
        self.seq = seq

    @staticmethod
    def _event_match(plan: Plan, src: Any) -> bool:
        cond = plan.stages[0].cond
        return cond is None or cond(src)

    def finish(self) -> list[Hit]:
        """Hits ordered as Elasticsearch orders them, with size/head/tail applied.

        Sorting many held hits allocates enough to set off full GC passes: paused too.
        """
        with gc_paused():
            return self._finish()

    def _finish(self) -> list[Hit]:
        if self.samples is not None:
            return select(self.samples.finish(), self.query.parsed.pipes, self.query.size)
        if self.matcher is not None:
            self.matcher.finish()
        return self.results.result()

    def pending_since(self) -> int | None:
        """Earliest timestamp (ns) of a pending sequence that could still complete."""
        return self.matcher.pending_since() if self.matcher is not None else None


def compile_query(
    text: str,
    *,
    schema: FieldSchema | None = None,
    timestamp_field: str = "@timestamp",
    tiebreaker_field: str | None = None,
    event_category_field: str = "event.category",
    size: int | None = None,
    max_samples_per_key: int = 1,
) -> CompiledQuery:
    """Parse and check `text` (raises QueryError with line:column)."""
    parsed = parse(text)
    settings = Settings(timestamp_field, tiebreaker_field, event_category_field)
    return CompiledQuery(parsed, schema or FieldSchema(), settings, size, max_samples_per_key)
