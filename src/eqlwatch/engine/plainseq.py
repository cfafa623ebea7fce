"""The hot loop for the common sequence: positive stages only, no `until`, distinct filters.

`SequenceMatcher.offer` handles every sequence shape; most rules are this simple one, and
there each event goes through selection and advancement in one pass, with no lists of work
built per event. The results are the same as `offer`'s: a stage is tried only when its
category matches, later stages look up the join key before running their condition, the
ordinal (timestamp) is read only for an event that advances something, and stages go from
last to first so an event never fills two slots of one sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import orjson

from eqlwatch.engine.identity import record_id
from eqlwatch.engine.ordered import InOrder, Position, before_tie, nowhere, position_reader
from eqlwatch.engine.plan import NO_TIEBREAKER, Ordinal, Plan, SourceEvent, ordinal_of
from eqlwatch.engine.reader import RawLines
from eqlwatch.engine.sequence import SequenceMatcher, _Partial
from eqlwatch.engine.values import NS_PER_MS, fast_iso


def is_plain(matcher: SequenceMatcher, has_until: bool) -> bool:
    """Whether `feed_plain` may stand in for `offer` with this matcher."""
    plain = not has_until and not matcher.shared_conditions and not any(matcher.missing)
    return plain and len(matcher.positives) >= 2


Step = Callable[[Any, tuple[int, ...], int, Any, Any, int | None], None]


class PlainFeeder:
    """Selection and advancement of one event (`step`), for both input forms below."""

    def __init__(self, matcher: SequenceMatcher, plan_for: Callable[[str], Plan]) -> None:
        self.matcher, self.plan_for = matcher, plan_for
        self.index: str | None = None
        self.plan: Plan | None = None
        self.step: Step = _no_step

    def use(self, index: str) -> Callable[[Any], tuple[int, ...]]:
        """Switch to the plan of `index`; returns its category dispatch."""
        plan = self.plan = self.plan_for(index)
        self.index = index
        self.step = _stepper(self.matcher, plan, index)
        return plan.dispatch


def _no_step(
    src: Any, cands: tuple[int, ...], seq: int, ev: Any, held: Any, ts: int | None
) -> None:
    raise AssertionError("PlainFeeder.use() first")


def _stepper(m: SequenceMatcher, plan: Plan, index: str) -> Step:
    """`step(src, cands, seq, ev, held, ts)`: try the event's candidate stages, last first;
    from raw lines `ev` is None and `held` is (line number, line), kept by the partials.
    `ts`: the event's ISO `@timestamp` as the ordinal takes it, when the caller read it
    already (`feed_in_order`); None: read here if a stage needs it."""
    states = m.states
    first = states[0]
    stages = plan.stages
    steps = [(p, i, stages[i].cond, stages[i].keys) for p, i in m.descending]
    ordinal = _ordinal_reader(m, plan)

    def step(
        src: Any, cands: tuple[int, ...], seq: int, ev: Any, held: Any, ts: int | None
    ) -> None:
        event: Any = None
        for pos, i, cond, keys_of in steps:
            if i not in cands:
                continue
            if pos:
                prev = states[pos - 1]
                if not prev:
                    continue
                keys = keys_of(src)
                if not keys:
                    continue
                if len(keys) == 1:
                    if keys[0] not in prev:
                        continue
                else:
                    keys = [k for k in keys if k in prev]
                    if not keys:
                        continue
                if cond is not None and not cond(src):
                    continue
            else:
                if cond is not None and not cond(src):
                    continue
                keys = keys_of(src)
                if not keys:
                    continue
            if event is None:
                o = ordinal(src, seq, ts)
                if o is None:
                    return
                if ev is None:  # from a raw line: keep the line, parse again if it completes
                    ev = _new(_Line, (index, held))
                event = (o, ev)
            if pos == 0:
                for key in keys:
                    first[key] = _Partial(event)
            else:
                _advance(m, pos, keys, event)
        if event is not None:
            m.seen += 1
            if m.maxspan is not None and m.seen % m.sweep_every == 0:
                m._sweep(event[0][0])

    return step


def _ordinal_reader(
    m: SequenceMatcher, plan: Plan
) -> Callable[[Any, int, int | None], Ordinal | None]:
    """`ordinal_of` (ISO `@timestamp` read inline when it applies), checked for order."""
    iso = plan.iso_timestamp

    def ordinal(src: Any, seq: int, ts: int | None) -> Ordinal | None:
        o = None
        if ts is not None:  # read by the caller, as below
            o = _new(Ordinal, (ts, NO_TIEBREAKER, seq))
        elif iso is not None:
            text = src.get(iso)
            if type(text) is str and len(text) >= 20:
                ts = fast_iso(text)
                if ts is not None:
                    ts -= ts % NS_PER_MS  # a `date`: what Elasticsearch indexes
                    o = _new(Ordinal, (ts, NO_TIEBREAKER, seq))
        if o is None:
            o = ordinal_of(plan, src, seq)
            if o is None:
                return None
        m._check_order(o)
        return o

    return ordinal


def _advance(m: SequenceMatcher, pos: int, keys: list[Any], event: Any) -> None:
    """Extend the partials of `keys` waiting at stage `pos` (> 0) with `event`."""
    states = m.states
    prev = states[pos - 1]
    ts = event[0][0]
    maxspan = m.maxspan
    for key in keys:
        partial = prev.pop(key, None)
        if partial is None or (maxspan is not None and ts - partial.start > maxspan):
            continue
        partial.events.append(event)
        if pos == len(states):
            m._emit([(o, _parsed(ev)) for o, ev in partial.events], key)
        else:
            states[pos][key] = partial


def feed_plain(
    feeder: PlainFeeder,
    events: Iterable[SourceEvent],
    seq: int,
    store: Callable[[int], None],
) -> None:
    """Feed `events` (numbered from `seq`); `store` gets the next number, even on error."""
    index = feeder.index
    dispatch: Callable[[Any], tuple[int, ...]] = (
        feeder.use(index) if index is not None else _nothing
    )
    step = feeder.step
    try:
        for ev in events:
            if ev[0] != index:
                index = ev[0]
                dispatch = feeder.use(index)
                step = feeder.step
            src = ev[2]
            cands = dispatch(src)
            if cands:
                step(src, cands, seq, ev, 0, None)
            seq += 1
    finally:
        store(seq)


def feed_in_order(
    feeder: PlainFeeder,
    events: Iterable[SourceEvent],
    seq: int,
    store: Callable[[int], None],
    watch: InOrder,
) -> None:
    """`feed_plain(feeder, watch.events(events), ...)` in one loop: each event's category
    is dispatched and its timestamp read once, for the order check and the stages both
    (same events passed, kept and numbered, the same first late one; see `ordered`)."""
    keep = watch.passed.append if watch.keep else None
    index: str | None = None
    dispatch: Callable[[Any], tuple[int, ...]] = _nothing
    position: Position = nowhere
    step = feeder.step
    iso: str | None = None
    first: str | None = None  # `plan.dispatch` inline when it reads `a.b` (`plan.category`)
    second, get = "", _no_category.get
    none: tuple[int, ...] = ()
    last_ts = -(1 << 63)
    last_tb: Any = None
    try:
        for ev in events:
            if ev[0] != index:
                index = ev[0]
                dispatch = feeder.use(index)
                step = feeder.step
                assert feeder.plan is not None
                iso, position = feeder.plan.iso_timestamp, position_reader(feeder.plan)
                first, second, by_type, none = feeder.plan.category or (None, "", {}, ())
                get = by_type.get
            src = ev[2]
            if first is not None:
                o = src.get(first)
                v = o.get(second) if type(o) is dict else None
                if type(v) is list and len(v) == 1:
                    v = v[0]
                cands = get(v, none) if type(v) is str else dispatch(src)
            else:
                cands = dispatch(src)
            if not cands:
                continue  # no stage selects it: not passed on (see `InOrder`)
            ts = None
            if iso is not None:  # `position_reader`'s first way, inline
                text = src.get(iso)
                if type(text) is str and len(text) >= 20:
                    ts = fast_iso(text)
            if ts is not None:
                ts -= ts % NS_PER_MS
                if ts < last_ts:  # no tiebreaker here: an equal timestamp is in order
                    watch.late = ev
                    return
                last_ts, last_tb = ts, None
            else:
                at = position(src)
                if at is not None:
                    t, tb = at
                    if t <= last_ts and (t < last_ts or before_tie(tb, last_tb)):
                        watch.late = ev
                        return
                    last_ts, last_tb = t, tb
            if keep is not None:
                keep(ev)
            step(src, cands, seq, ev, 0, ts)
            seq += 1
    finally:
        store(seq)


def feed_lines(feeder: PlainFeeder, raw: RawLines, seq: int, store: Callable[[int], None]) -> None:
    """`feed_plain` over an NDJSON file, parsing each line here: an event that no stage's
    category selects is never wrapped in a `SourceEvent`, and partial sequences hold lines,
    not parsed sources (same events, same numbers, same hits)."""
    loads, bad, keep = orjson.loads, orjson.JSONDecodeError, raw.keep
    dispatch = feeder.use(raw.index)
    step = feeder.step
    assert feeder.plan is not None
    first, second, by_type, none = feeder.plan.category or (None, None, {}, ())
    get = by_type.get
    try:
        with raw.stream as reader:
            for number, line in enumerate(reader, 1):
                if keep is not None and not keep(line):
                    continue
                try:
                    src = loads(line)
                except bad as exc:
                    raw.malformed(number, line, exc)
                    continue
                ev = None
                if type(src) is not dict or "_source" in src or "_id" in src or "id" in src:
                    ev = raw.odd(number, src)
                    if ev is None:
                        continue
                    src = ev[2]
                # plan.dispatch, inline: the category is read for every line
                o = src.get(first)
                v = o.get(second) if type(o) is dict else None
                if type(v) is list and len(v) == 1:
                    v = v[0]
                cands = get(v, none) if type(v) is str else dispatch(src)
                if cands:
                    step(src, cands, seq, ev, (number, line), None)
                seq += 1
    finally:
        store(seq)


class _Line(NamedTuple):
    """An event of a partial sequence kept as its NDJSON line: most partials never
    complete, and their parsed sources would churn memory while they wait."""

    index: str  # type: ignore[assignment]  # as SourceEvent
    held: tuple[int, bytes]  # (line number, line)


def _parsed(ev: Any) -> Any:
    """A `SourceEvent` again (the line parses to the same source it did the first time)."""
    if type(ev) is _Line:
        _, line = ev[1]
        src = orjson.loads(line)
        return _new(SourceEvent, (ev[0], record_id(src), src))
    return ev


_no_category: dict[str, tuple[int, ...]] = {}


def _nothing(src: Any) -> tuple[int, ...]:
    return ()


_new = tuple.__new__  # SourceEvent(...) without NamedTuple's Python-level __new__
