"""Streaming sequence matching with Elasticsearch's rules.

Per positive stage and join key only the latest partial sequence is kept (Elasticsearch
trims older ones when a later stage takes the latest); an event is tried against the stages
from last to first, so it never fills two slots of one sequence. `maxspan` is measured from
the first to the current event; `until` drops every pending partial of its key. Missing
events (`![...]`) are checked the way Elasticsearch checks them after matching the positive
stages: any hit strictly between the neighbouring events (their epoch milliseconds as
bounds, against exact hit times, as its range queries do) discards the sequence;
leading/trailing hits discard it only when they fall within `maxspan` (see `_settle`).
Sequences are ordered by their completing event.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from eqlwatch.engine.plan import Ordinal, Plan, Source, SourceEvent, StagePlan, ordinal_of
from eqlwatch.engine.values import NS_PER_MS
from eqlwatch.errors import DataError
from eqlwatch.model import Hit, HitEvent

Event = tuple[Ordinal, SourceEvent]
Key = tuple[Any, ...]
Emit = Callable[[Ordinal, Hit], None]
_SWEEP_EVERY = 8192
MISSING_EVENT = HitEvent(index="", id="", source={}, missing=True)


class _Partial:
    __slots__ = ("events", "start")

    def __init__(self, event: Event) -> None:
        self.events = [event]
        self.start = event[0].ts


class _Pending:
    """A sequence waiting for the end of its window to rule out a trailing missing event."""

    __slots__ = ("base", "deadline", "done", "events", "key", "last_ms")

    def __init__(self, events: list[Event], key: Key, base: int, maxspan: int) -> None:
        self.events, self.key, self.base = events, key, base
        self.deadline = base + maxspan
        self.last_ms = events[-1][0].ts // NS_PER_MS * NS_PER_MS
        self.done = False


def _holds(stage: StagePlan, src: Source, cache: dict[int, bool] | None) -> bool:
    """The stage's condition on src, evaluated once per condition and event."""
    cond = stage.cond
    if cond is None:
        return True
    if cache is None:
        return bool(cond(src))
    hit = cache.get(stage.cond_id)
    if hit is None:
        hit = cache[stage.cond_id] = bool(cond(src))
    return hit


def _floor_ms(ts: int) -> int:
    return ts // NS_PER_MS * NS_PER_MS


class SequenceMatcher:
    """Feed events in (timestamp, tiebreaker) order; completed sequences go to `emit`."""

    def __init__(
        self,
        missing: tuple[bool, ...],
        maxspan_ms: int | None,
        emit: Emit,
        shared_conditions: bool = True,
    ) -> None:
        self.missing = missing
        self.positives = [i for i, m in enumerate(missing) if not m]
        self.maxspan = maxspan_ms * NS_PER_MS if maxspan_ms else None
        self.emit = emit
        self.states: list[dict[Key, _Partial]] = [{} for _ in self.positives[:-1]]
        first, last = self.positives[0], self.positives[-1]
        self.leading = list(range(first))
        self.trailing = list(range(last + 1, len(missing)))
        self.middle = [
            (i, self.positives.index(max(p for p in self.positives if p < i)))
            for i in range(first, last)
            if missing[i]
        ]
        # recent hits of missing stages by key: leading and middle ones for the checks at
        # completion, trailing ones because a `date_nanos` hit in the last event's
        # millisecond, before it, already counts as trailing (see `_early_trailing`)
        self.history: dict[int, dict[Key, deque[int]]] = {i: {} for i, m in enumerate(missing) if m}
        self.pending: dict[Key, list[_Pending]] = {}
        self.deadlines: list[tuple[int, int, _Pending]] = []
        self.counter = 0
        self.seen = 0
        self.sweep_every = _SWEEP_EVERY
        self.watched = [i for i, m in enumerate(missing) if m]
        self.descending = [(pos, i) for pos, i in enumerate(self.positives)][::-1]
        # `with runs` repeats a filter: then condition results are cached per event
        self.shared_conditions = shared_conditions
        self.last: tuple[int, Any] | None = None

    # --- feeding -------------------------------------------------------------------------
    def offer(self, plan: Plan, cands: tuple[int, ...], seq: int, ev: SourceEvent) -> None:
        """One event and the filters its category selects (`len(stages)` is until).

        Later stages look up the join key before evaluating their condition: an event that
        cannot extend any pending sequence costs a key read, not a condition.
        """
        src = ev.source
        work, flagged, until = self._select(plan, cands, src)
        if not (work or flagged or until or self.deadlines):
            return
        ordinal = ordinal_of(plan, src, seq)
        if ordinal is None:
            return
        self._check_order(ordinal)
        ts = ordinal.ts
        if self.deadlines:
            self._expire(ts)
        if flagged:
            self._missing_stages(plan, flagged, src, ts)
        event = (ordinal, ev)
        for pos, keys in work:
            for key in keys:
                self._advance(pos, key, event)
        if until:
            assert plan.until is not None
            for key in plan.until.keys(src) or ():
                for state in self.states:
                    state.pop(key, None)
        self.seen += 1
        if self.maxspan is not None and self.seen % self.sweep_every == 0:
            self._sweep(ts)

    def _select(
        self, plan: Plan, cands: tuple[int, ...], src: Source
    ) -> tuple[list[tuple[int, list[Key]]], Sequence[int], bool]:
        """(positive stages to advance with their keys, missing stages hit, until hit)."""
        stages = plan.stages
        cache: dict[int, bool] | None = {} if self.shared_conditions else None
        work: list[tuple[int, list[Key]]] = []
        for pos, i in self.descending:
            if i not in cands:
                continue
            stage = stages[i]
            keys: list[Key] | None = None
            if pos > 0:
                prev = self.states[pos - 1]
                if not prev:
                    continue
                keys = [k for k in stage.keys(src) or () if k in prev]
                if not keys:
                    continue
            if not _holds(stage, src, cache):
                continue
            if keys is None:
                keys = stage.keys(src)
                if not keys:
                    continue
            work.append((pos, keys))
        flagged = (
            [i for i in self.watched if i in cands and _holds(stages[i], src, cache)]
            if self.watched
            else ()
        )
        until = plan.until is not None and len(stages) in cands and _holds(plan.until, src, cache)
        return work, flagged, until

    def _check_order(self, ordinal: Ordinal) -> None:
        current = (ordinal.ts, ordinal.tb)
        if self.last is not None and current < self.last:
            raise DataError(
                f"events must arrive in timestamp order for sequences (event #{ordinal.seq + 1})"
            )
        self.last = current

    def _advance(self, pos: int, key: Key, event: Event) -> None:
        last = len(self.positives) - 1
        if pos == 0:
            partial = _Partial(event)
            if last == 0:
                self._complete(partial.events, key)
            else:
                self.states[0][key] = partial
            return
        partial_or_none = self.states[pos - 1].pop(key, None)
        if partial_or_none is None:
            return
        partial = partial_or_none
        if self.maxspan is not None and event[0].ts - partial.start > self.maxspan:
            return
        partial.events.append(event)
        if pos == last:
            self._complete(partial.events, key)
        else:
            self.states[pos][key] = partial

    def _missing_stages(self, plan: Plan, hits: Sequence[int], src: Source, ts: int) -> None:
        for i in self.trailing:
            if i in hits:
                for key in plan.stages[i].keys(src) or ():
                    self._trailing_hit(key, ts)
        for i, table in self.history.items():
            if i not in hits:
                continue
            span = 0 if i in self.trailing else (self.maxspan or 0)
            horizon = ts - span - NS_PER_MS
            for key in plan.stages[i].keys(src) or ():
                times = table.get(key)
                if times is None:
                    times = table[key] = deque()
                times.append(ts)
                while times[0] < horizon:
                    times.popleft()

    # --- completion and missing events ---------------------------------------------------
    def _complete(self, events: list[Event], key: Key) -> None:
        if len(self.positives) == len(self.missing):
            self._emit(events, key)
            return
        for stage, prev in self.middle:
            lo = _floor_ms(events[prev][0].ts)
            hi = _floor_ms(events[prev + 1][0].ts)
            if any(lo < t < hi for t in self.history[stage].get(key, ())):
                return
        last_leading = self._last_leading(events, key) if self.leading else None
        if self.leading and last_leading is None:
            self._emit(events, key)
            return
        assert self.maxspan is not None  # missing events require maxspan (parser checks)
        if self.trailing:
            base = last_leading if last_leading is not None else events[0][0].ts
            early = self._early_trailing(events, key)
            if early is not None:
                if early - base > self.maxspan:
                    self._emit(events, key)
                return
            pending = _Pending(events, key, base, self.maxspan)
            self.pending.setdefault(key, []).append(pending)
            self.counter += 1
            heapq.heappush(self.deadlines, (pending.deadline, self.counter, pending))
            return
        if last_leading is None or events[-1][0].ts - last_leading > self.maxspan:
            self._emit(events, key)

    def _early_trailing(self, events: list[Event], key: Key) -> int | None:
        """The first trailing hit that came before the last event yet after its millisecond
        began: Elasticsearch looks for trailing events `> last event's epoch ms`, so with
        `date_nanos` such a hit is the sequence's first trailing event."""
        after = _floor_ms(events[-1][0].ts)
        found = [t for i in self.trailing for t in self.history[i].get(key, ()) if t > after]
        return min(found) if found else None

    def _last_leading(self, events: list[Event], key: Key) -> int | None:
        start = _floor_ms(events[0][0].ts)
        best: int | None = None
        for stage in self.leading:
            for t in reversed(self.history[stage].get(key, ())):
                if t < start:
                    best = t if best is None else max(best, t)
                    break
        return best

    def _trailing_hit(self, key: Key, ts: int) -> None:
        waiting = self.pending.get(key)
        if not waiting:
            return
        keep: list[_Pending] = []
        for p in waiting:
            if p.done:
                continue
            if ts > p.last_ms:
                p.done = True
                if ts - p.base > (self.maxspan or 0):
                    self._emit(p.events, p.key)
            else:
                keep.append(p)
        if keep:
            self.pending[key] = keep
        else:
            del self.pending[key]

    def _expire(self, now: int) -> None:
        while self.deadlines and self.deadlines[0][0] < now:
            _, _, p = heapq.heappop(self.deadlines)
            self._settle(p)

    def _settle(self, p: _Pending) -> None:
        """No trailing missing event within maxspan: the sequence stands."""
        if p.done:
            return
        p.done = True
        self._emit(p.events, p.key)
        waiting = self.pending.get(p.key)
        if waiting is not None:
            rest = [q for q in waiting if not q.done]
            if rest:
                self.pending[p.key] = rest
            else:
                del self.pending[p.key]

    def _emit(self, events: list[Event], key: Key) -> None:
        it = iter(events)
        out: list[HitEvent] = []
        for missing in self.missing:
            if missing:
                out.append(MISSING_EVENT)
            else:
                _, ev = next(it)
                out.append(HitEvent(ev.index, ev.id, ev.source))
        self.emit(events[-1][0], Hit("sequence", tuple(out), key))

    # --- housekeeping --------------------------------------------------------------------
    def _sweep(self, now: int) -> None:
        """Drop partials that can no longer complete within maxspan, and stale history."""
        assert self.maxspan is not None
        limit = now - self.maxspan
        for state in self.states:
            stale = [k for k, p in state.items() if p.start < limit]
            for k in stale:
                del state[k]
        horizon = limit - NS_PER_MS
        for table in self.history.values():
            for k in [k for k, times in table.items() if not times or times[-1] < horizon]:
                del table[k]

    def finish(self) -> None:
        """End of input: sequences still waiting on a trailing missing event stand."""
        while self.deadlines:
            _, _, p = heapq.heappop(self.deadlines)
            self._settle(p)

    def pending_since(self) -> int | None:
        """Earliest start (ns) of a partial or waiting sequence whose verdict could change."""
        starts = [p.start for state in self.states for p in state.values()]
        starts += [p.events[0][0].ts for _, _, p in self.deadlines if not p.done]
        return min(starts) if starts else None
