"""The local source's arrival clock over its time index: each indexed event's arrival time,
and the order in which a rule's selection clock picks events for a window.

`observe` turns each file the index read into what the ledger (`arrivals`) records — its
first bytes and how far it is complete (bytes up to the last whole line for NDJSON read in
place, records for everything else) — and gives every event its arrival time. A search
then selects by arrival (or by the rule's timestamp override, never before arrival) rather
than by event time, which still orders the events the query sees.
"""

from __future__ import annotations

import bisect
import os
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eqlwatch.backends.arrivals import Arrivals, Seen, observe_files
from eqlwatch.backends.event_index import Slot, TimeIndex, to_micros
from eqlwatch.engine import SourceEvent
from eqlwatch.errors import DataError
from eqlwatch.model import HitEvent
from eqlwatch.windowing import Selection, event_selection_time

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


@dataclass
class LateTally:
    """Events first seen in this observation whose arrival is more than `ingest_delay`
    after their event time, per file, and the largest such delay."""

    count: int = 0
    largest: timedelta = timedelta(0)
    by_file: dict[str, int] = field(default_factory=dict)


@dataclass
class ArrivalClock:
    """Per index position, the event's arrival (µs since the epoch)."""

    arrivals: array[int]
    observation: datetime
    late: LateTally
    real: bool = True  # False: no ledger, arrivals are the event times (override only)
    # Per position, the latest the event can have arrived (its observation); None: arrivals.
    latest: array[int] | None = None
    times: array[int] | None = None  # per position, the event time (µs)
    _orders: dict[tuple[str | None, bool], _Order] = field(default_factory=dict)

    def arrived(self, position: int) -> datetime:
        return from_micros(self.arrivals[position])

    def positions(
        self,
        selection: Selection,
        start: datetime,
        end: datetime,
        events: Callable[[], Iterator[tuple[int, SourceEvent]]],
    ) -> list[int]:
        """Index positions whose selection time lies in [start, end), in time order.

        On the arrival axis an event is known to have arrived between its arrival time and
        the observation that first saw it: one whose interval reaches into [start, end) is
        selected too. Two events that arrived minutes apart, the first seen by one run and
        the second by a run hours later (a stopped job), stay together in the window of the
        second, as their true arrivals would keep them.
        """
        found = self._order(selection, events)
        keys, order, times = found.keys, found.order, self.times
        first, stop = to_micros(start), to_micros(end)
        mid = bisect.bisect_left(keys, first)
        inside = order[mid : bisect.bisect_left(keys, stop)]
        if not found.late_order or times is None or not inside:
            return sorted(inside)
        # A hit this window owns has an event selected inside it, and its other events
        # happened within the query's span of that one (the window is at least that long):
        # events from further back in event time are not read, so a catch-up after a long
        # stop, where every event's interval reaches to now, stays linear. Only events whose
        # interval ends at or after `first` are looked at: in a running job, the recent ones.
        floor = min(times[i] for i in inside) - (stop - first)
        at = found.at
        later = found.late_order[bisect.bisect_left(found.late_keys, first) :]
        extra = [i for i in later if at[i] < first and times[i] >= floor]
        return sorted([*inside, *extra])

    def _order(
        self, selection: Selection, events: Callable[[], Iterator[tuple[int, SourceEvent]]]
    ) -> _Order:
        key = (selection.override, selection.fallback)
        found = self._orders.get(key)
        if found is not None:
            return found
        latest = self.latest if self.real else None
        at = self.arrivals
        until: array[int] | None = latest
        if selection.override is None:
            picked: list[tuple[int, int]] = [(t, i) for i, t in enumerate(self.arrivals)]
        else:  # the override field is in the event itself: one pass over the events
            picked = []
            at = array("q", [_NEVER]) * len(self.arrivals)
            until = None if latest is None else array("q", latest)
            for i, event in events():
                arrived = self.arrived(i) if self.real else None
                hit = HitEvent(event.index, event.id, event.source, arrived=arrived)
                try:
                    when = event_selection_time(hit, selection)
                except DataError:
                    continue  # an unreadable override: never selected, as in Elasticsearch
                if when is None:
                    continue
                picked.append((to_micros(when), i))
                at[i] = to_micros(when)
                if until is not None and latest is not None:
                    # the same rule with the latest the event can have arrived
                    last = HitEvent(
                        event.index, event.id, event.source, arrived=from_micros(latest[i])
                    )
                    until[i] = to_micros(event_selection_time(last, selection) or when)
        picked.sort()
        late: list[tuple[int, int]] = []
        if until is not None:
            late = sorted((u, i) for i, u in enumerate(until) if at[i] != _NEVER and u > at[i])
        found = _Order(
            keys=array("q", (t for t, _ in picked)),
            order=array("q", (i for _, i in picked)),
            at=at,
            late_keys=array("q", (u for u, _ in late)),
            late_order=array("q", (i for _, i in late)),
        )
        self._orders[key] = found
        return found


_NEVER = 2**63 - 1  # the selection time of an event the selection never picks


@dataclass(frozen=True, slots=True)
class _Order:
    """One selection's positions sorted by selection time (`keys`, `order`), each position's
    selection time (`at`), and the events that may have arrived later than they are selected
    by, sorted by the latest selection time they can have (`late_keys`, `late_order`)."""

    keys: array[int]
    order: array[int]
    at: array[int]
    late_keys: array[int]
    late_order: array[int]


def observe(index: TimeIndex, ledger: Path, now: datetime, ingest_delay: timedelta) -> ArrivalClock:
    """Record what the index read in the ledger, and every event's arrival."""
    per_slot: dict[int, list[int]] = {}
    for i, code in enumerate(index.files):
        per_slot.setdefault(code, []).append(i)
    seen: list[Seen] = []
    observed: list[int] = []
    for number, slot in enumerate(index.slots):
        item = _seen(slot, per_slot.get(number, []), index)
        if item is not None:
            seen.append(item)
            observed.append(number)
    _, obs, found = observe_files(ledger, now, seen)
    by_slot: dict[int, Arrivals] = dict(zip(observed, found, strict=True))
    arrivals = array("q", index.times)
    latest = array("q", index.times)
    late = LateTally()
    limit = ingest_delay // _US
    for number, positions in per_slot.items():
        arr = by_slot.get(number)
        if arr is None:
            continue
        spilled = index.slots[number].spilled
        ordered = sorted(positions, key=index.offsets.__getitem__) if spilled else positions
        for ordinal, i in enumerate(ordered):
            where = ordinal if spilled else index.offsets[i]
            when = from_micros(index.times[i])
            arrivals[i] = got = to_micros(arr.arrival(where, when))
            latest[i] = to_micros(arr.latest(where, when))
            delay = got - index.times[i]
            if where >= arr.new_from and delay > limit:
                late.count += 1
                name = index.slots[number].path
                late.by_file[name] = late.by_file.get(name, 0) + 1
                late.largest = max(late.largest, timedelta(microseconds=delay))
    return ArrivalClock(arrivals, obs, late, latest=latest, times=index.times)


def _seen(slot: Slot, positions: list[int], index: TimeIndex) -> Seen | None:
    """What the ledger records of one slot; None for events not from a file."""
    path = Path(slot.path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
            if slot.spilled:
                return Seen(slot.path, head, len(positions), "records")
            return Seen(slot.path, head, _complete(fh.fileno(), slot, positions, index), "bytes")
    except OSError:
        return None  # given events, or a file gone since: their event time stands


def _complete(fd: int, slot: Slot, positions: list[int], index: TimeIndex) -> int:
    """How far an NDJSON file is complete: through its last newline, or through its last
    line when that line was read as an event (a file whose last line has no newline). A torn
    line being written is not covered, so it arrives with the run that sees it whole."""
    size = slot.size
    if size == 0:
        return 0
    if positions:
        last = max(positions, key=index.offsets.__getitem__)
        if index.offsets[last] + index.lengths[last] == size:
            return size
    end = size
    while end > 0:
        start = max(0, end - 65536)
        block = os.pread(fd, end - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0
