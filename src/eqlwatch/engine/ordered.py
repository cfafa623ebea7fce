"""Sequences over input already in time order: no holding, no sorting.

A sequence must see its events in (timestamp, tiebreaker, arrival) order. Exported files
nearly always are in that order, and then holding every relevant event and sorting it
is wasted work (the conditions run twice, the events stay in memory). `InOrder` lets
events through while the ones the query's categories select arrive in order, and stops
at the first that does not: the caller then starts over, holding and sorting the events
it let through (kept, unless the caller can read its input again), that one and the rest
(the same results either way; see tests/engine/test_ordered.py).

Only events some filter's category selects are let through: no other event can change
a sequence (an event that reaches no stage advances, ends or rules out nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from eqlwatch.engine.plan import Plan, SourceEvent, ordinal_of
from eqlwatch.engine.values import NS_PER_MS, fast_iso

Position = Callable[[Any], tuple[int, Any] | None]


def position_reader(plan: Plan) -> Position:
    """(timestamp, tiebreaker) of an event as `ordinal_of` reads it; None without one."""
    iso = plan.iso_timestamp
    ties = plan.tiebreaker is not None  # without one, the tiebreaker part is None

    def position(src: Any) -> tuple[int, Any] | None:
        if iso is not None:
            text = src.get(iso)
            if type(text) is str and len(text) >= 20:
                ts = fast_iso(text)
                if ts is not None:
                    return ts - ts % NS_PER_MS, None  # a `date`, as in `plainseq`
        o = ordinal_of(plan, src, 0)
        if o is None:
            return None
        return o.ts, (o.tb if ties else None)

    return position


class InOrder:
    """Passes on the selected events while they arrive in order (see the module doc)."""

    def __init__(self, plan_for: Callable[[str], Plan], keep: bool = True) -> None:
        self.plan_for, self.keep = plan_for, keep
        self.passed: list[SourceEvent] = []  # everything let through, for a start over
        self.late: SourceEvent | None = None  # the first event out of order

    def events(self, events: Iterable[SourceEvent]) -> Iterator[SourceEvent]:
        keep = self.passed.append if self.keep else _drop
        index: str | None = None
        dispatch: Callable[[Any], tuple[int, ...]] = _nothing
        position: Position = nowhere
        last_ts = -(1 << 63)
        last_tb: Any = None
        for ev in events:
            if ev[0] != index:
                index = ev[0]
                plan = self.plan_for(index)
                dispatch, position = plan.dispatch, position_reader(plan)
            src = ev[2]
            if not dispatch(src):
                continue
            at = position(src)
            if at is not None:
                ts, tb = at
                if ts <= last_ts and (ts < last_ts or before_tie(tb, last_tb)):
                    self.late = ev
                    return
                last_ts, last_tb = ts, tb
            keep(ev)
            yield ev


def before_tie(tb: Any, last: Any) -> bool:
    """Whether a tiebreaker sorts before the last one (None: no tiebreaker field)."""
    return tb is not None and last is not None and bool(tb < last)


def _nothing(src: Any) -> tuple[int, ...]:
    return ()


def nowhere(src: Any) -> tuple[int, Any] | None:
    return None


def _drop(ev: SourceEvent) -> None:
    pass
