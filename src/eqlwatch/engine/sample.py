"""Samples: for each composite join key, distinct events filling every filter, in filter order.

Events are considered in the order they arrive (index order, then position in the index).
For each key, up to `max_samples_per_key` samples are built, each taking for every filter
the first candidate not already used (backtracking when a later filter would be left
empty). Samples are ordered by their composite key: null first, text by code point.
"""

from __future__ import annotations

from typing import Any

from eqlwatch.engine.plan import Plan, SourceEvent
from eqlwatch.engine.values import sort_key
from eqlwatch.model import Hit, HitEvent

Key = tuple[Any, ...]
Candidate = tuple[int, SourceEvent]


class SampleCollector:
    """Keeps a bounded list of candidate events per (key, filter)."""

    def __init__(self, n_filters: int, max_samples_per_key: int) -> None:
        self.n = n_filters
        self.per_key = max(1, max_samples_per_key)
        self.cap = self.n * self.per_key
        self.table: dict[Key, list[list[Candidate]]] = {}

    def feed(self, plan: Plan, hits: list[int], seq: int, event: SourceEvent) -> None:
        """Record `event` as a candidate of the filters `hits` it matches."""
        src = event.source
        for i in hits:
            for key in plan.stages[i].keys(src) or ():
                slots = self.table.get(key)
                if slots is None:
                    slots = self.table[key] = [[] for _ in range(self.n)]
                if len(slots[i]) < self.cap:
                    slots[i].append((seq, event))

    def finish(self) -> list[Hit]:
        hits: list[Hit] = []
        for key in sorted(self.table, key=lambda k: tuple(sort_key(x) for x in k)):
            slots = self.table[key]
            if any(not s for s in slots):
                continue
            used: set[int] = set()
            for _ in range(self.per_key):
                chosen = _assign(slots, 0, used, [])
                if chosen is None:
                    break
                used.update(seq for seq, _ in chosen)
                events = tuple(HitEvent(ev.index, ev.id, ev.source) for _, ev in chosen)
                hits.append(Hit("sample", events, key))
        return hits


def _assign(
    slots: list[list[Candidate]], i: int, used: set[int], picked: list[Candidate]
) -> list[Candidate] | None:
    """First assignment (in filter order, then arrival order) of distinct events."""
    if i == len(slots):
        return list(picked)
    taken = {seq for seq, _ in picked}
    for cand in slots[i]:
        if cand[0] in used or cand[0] in taken:
            continue
        picked.append(cand)
        found = _assign(slots, i + 1, used, picked)
        picked.pop()
        if found is not None:
            return found
    return None
