"""Candidates per rule, and lines held back until a sequence's first stage is known.

A sequence joined by keys, without missing-event stages, can only use a later-stage or
`until` event whose join key some first-stage event also has. Lines a sequence rule wants
only for its later stages (no first-stage needle in them) are therefore validated, counted and noted
by where they are in the file (not kept: image loads alone are ~30 % of an endpoint's
lines); once every first-stage candidate is parsed, the noted lines are read again and only
those that contain one of their key values are parsed. Everything else a rule gets
is kept with its position, so each rule still sees its events in file order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from eqlwatch.engine import CompiledQuery, SourceEvent
from eqlwatch.engine.needles import Group, Sample, best_group, filter_groups
from eqlwatch.engine.query import Executor
from eqlwatch.errors import EqlwatchError
from eqlwatch.model import Hit
from eqlwatch.pipeline.linematch import any_needle, escaped


def first_stage_needles(query: CompiledQuery, sample: Sample | None) -> Group | None:
    """Needles of a keyed sequence's first stage; None when its lines cannot be held back."""
    parsed = query.parsed
    filters = [*parsed.stages, *([parsed.until] if parsed.until else [])]
    if (
        parsed.kind != "sequence"
        or any(s.missing for s in parsed.stages)
        or not all(s.keys for s in filters)
    ):
        return None
    groups = filter_groups(parsed.stages[0], query.settings.timestamp_field, sample)
    return best_group(groups, sample) if groups else None


def key_texts(query: CompiledQuery, events: Sequence[SourceEvent]) -> set[bytes] | None:
    """First join-key values of the first-stage matches, as lower-cased JSON text.

    None when a value is not a string (its text in a line is not predictable).
    """
    texts: set[bytes] = set()
    for event in events:
        stage = query.plan_for(event.index).stages[0]
        if not stage.match(event.source):
            continue
        for key in stage.keys(event.source) or ():
            if not key or type(key[0]) is not str:
                return None
            texts.add(orjson.dumps(key[0])[1:-1].lower())
    return texts


@dataclass(frozen=True, slots=True)
class Held:
    """A validated line held back for the sequence rules in `targets`, by where it is in
    the (decompressed) file."""

    position: int
    offset: int
    size: int
    number: int
    path: Path
    index: str
    targets: list[int]


# Events read between two feeds of the rules evaluated as they come. Small enough that
# the batch's parsed events are still in the CPU's caches when the last rule reads them
# (each rule passes over the batch in turn): 4,096 -> 512 took detection-rules' Windows
# rules over 200,000 gen_defend.py lines from 3.56-4.18 to 3.29-3.70 s CPU (3 runs each,
# in-process, load ~2.4); smaller batches gained no more.
FEED_EVERY = 512


@dataclass
class Candidates:
    """Events per rule (with positions for rules that may hold lines back).

    A rule given an executor in `streams` (a filter or a sample: no time order needed)
    is fed its events every `FEED_EVERY` events read instead of keeping them all until
    the end: with hundreds of rules, broad filters (every process start) otherwise held
    most of the input in memory (2.2 GB over 1,000,000 endpoint events).
    """

    first: Sequence[Group | None]
    track: Collection[int] = ()  # more rules whose positions are kept (see `merge`)
    streams: Sequence[Executor | None] = ()
    events: list[list[SourceEvent]] = field(init=False)
    positions: list[list[int]] = field(init=False)
    held: list[Held] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events = [[] for _ in self.first]
        self.positions = [[] for _ in self.first]
        self.holding = any(g is not None for g in self.first)
        self.tracked = [g is not None or i in self.track for i, g in enumerate(self.first)]
        self._streams = list(self.streams) or [None] * len(self.first)
        self._streamed = [i for i, ex in enumerate(self._streams) if ex is not None]
        assert not any(self.tracked[i] for i in self._streamed)
        self._failures: dict[int, EqlwatchError] = {}
        self._unfed = 0

    def add(self, position: int, event: SourceEvent, targets: Sequence[int]) -> None:
        for i in targets:
            self.events[i].append(event)
            if self.tracked[i]:
                self.positions[i].append(position)
        self._unfed += 1
        if self._unfed >= FEED_EVERY and self._streamed:
            self._feed()

    def streamed(self, i: int) -> bool:
        return self._streams[i] is not None

    def finish(self, i: int) -> list[Hit]:
        """The hits of streamed rule `i` (its error, if evaluating it failed)."""
        self._feed_rule(i)
        failure = self._failures.get(i)
        if failure is not None:
            raise failure
        executor = self._streams[i]
        assert executor is not None
        return executor.finish()

    def _feed(self) -> None:
        events = self.events
        for i in self._streamed:
            if events[i]:
                self._feed_rule(i)
        self._unfed = 0

    def _feed_rule(self, i: int) -> None:
        events, executor = self.events[i], self._streams[i]
        if not events or executor is None:
            return
        self.events[i] = []
        if i in self._failures:
            return
        try:
            executor.feed(events)
        except EqlwatchError as exc:  # the rule fails, as when run at the end
            self._failures[i] = exc

    def merge(self, extra: Sequence[list[tuple[int, SourceEvent]]]) -> list[list[SourceEvent]]:
        """Add events found later (with their positions) to tracked rules, in file order."""
        for i, more in enumerate(extra):
            if more:
                assert self.tracked[i]
                pairs = [*zip(self.positions[i], self.events[i], strict=True), *more]
                pairs.sort(key=lambda pair: pair[0])
                self.positions[i] = [position for position, _ in pairs]
                self.events[i] = [event for _, event in pairs]
        return self.events

    def may_hold(self, line: bytes, targets: Sequence[int]) -> bool:
        """Only sequence rules want the line, and none of them for its first stage."""
        groups = [self.first[i] for i in targets]
        if not groups or any(g is None for g in groups):
            return False
        if not line.isascii() or escaped(line):
            return False
        low = line.lower()
        return not any(n in low for g in groups if g is not None for n in g)

    def resolve(
        self,
        queries: Sequence[CompiledQuery],
        reread: Callable[[Sequence[Held]], Iterable[tuple[Held, bytes]]],
        decode: Callable[[Held, bytes], SourceEvent | None],
        *,
        fast: bool = True,
    ) -> list[list[SourceEvent]]:
        """Parse the held lines some first-stage key occurs in; every rule's events in order.

        `reread` gives the held lines back (in order; one that cannot be read is reported
        there and left out)."""
        if not self.held:
            return self.events
        # only the rules lines were held for need their first-stage keys (working them out
        # runs the first stage over every candidate of the rule)
        holding = {i for held in self.held for i in held.targets}
        searches = [
            self._search(q, i, fast) if i in holding else None for i, q in enumerate(queries)
        ]
        extra: list[list[tuple[int, SourceEvent]]] = [[] for _ in queries]
        for held, line in reread(self.held):
            need = [i for i in held.targets if _wanted(searches[i], line)]
            event = decode(held, line) if need else None
            if event is not None:
                for i in need:
                    extra[i].append((held.position, event))
        return self.merge(extra)

    def _search(self, query: CompiledQuery, i: int, fast: bool) -> Callable[[bytes], bool] | None:
        """A test for held lines of rule `i` (None: every held line is needed)."""
        if self.first[i] is None:
            return None
        texts = key_texts(query, self.events[i])
        return None if texts is None else any_needle(texts, fast=fast)


def _wanted(search: Callable[[bytes], bool] | None, line: bytes) -> bool:
    return search is None or search(line)
