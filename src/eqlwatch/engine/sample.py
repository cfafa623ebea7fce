"""Samples: for each composite join key, distinct events filling every filter, in filter order.

Events are considered in the order they arrive (index order, then position in the index).
Like Elasticsearch, each filter keeps its first `filters x max_samples_per_key` events per
key, and samples are the first combinations of distinct events (one per filter) in
depth-first order — so several samples of one key may share an event. Samples are ordered
by their composite key: null first, text by code point.
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
            for chosen in _combinations(slots, self.per_key):
                events = tuple(HitEvent(ev.index, ev.id, ev.source) for _, ev in chosen)
                hits.append(Hit("sample", events, key))
        return hits


def _combinations(slots: list[list[Candidate]], limit: int) -> list[list[Candidate]]:
    """The first `limit` picks of distinct events, one per filter, in depth-first order.

    The last filter varies fastest; different samples of one key may share events.
    """
    found: list[list[Candidate]] = []
    picked: list[Candidate] = []

    def walk(i: int) -> None:
        for cand in slots[i]:
            if any(cand[0] == seq for seq, _ in picked):
                continue
            picked.append(cand)
            if i == len(slots) - 1:
                found.append(list(picked))
            else:
                walk(i + 1)
            picked.pop()
            if len(found) == limit:
                return

    walk(0)
    return found
