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
from typing import Any

from eqlwatch.engine.plan import Plan, SourceEvent, ordinal_of
from eqlwatch.engine.sequence import SequenceMatcher, _Partial


def is_plain(matcher: SequenceMatcher, has_until: bool) -> bool:
    """Whether `feed_plain` may stand in for `offer` with this matcher."""
    plain = not has_until and not matcher.shared_conditions and not any(matcher.missing)
    return plain and len(matcher.positives) >= 2


def feed_plain(
    matcher: SequenceMatcher,
    events: Iterable[SourceEvent],
    plan_for: Callable[[str], Plan],
    seq: int,
    store: Callable[[int], None],
) -> None:
    """Feed `events` (numbered from `seq`); `store` gets the next number, even on error."""
    states = matcher.states
    last = len(states)
    maxspan = matcher.maxspan
    descending = matcher.descending
    index: str | None = None
    plan: Plan | None = None
    steps: list[tuple[int, int, Any, Any]] = []
    dispatch: Callable[[Any], tuple[int, ...]] = tuple
    try:
        for ev in events:
            if ev[0] != index:
                index = ev[0]
                plan = plan_for(index)
                dispatch = plan.dispatch
                steps = [(p, i, plan.stages[i].cond, plan.stages[i].keys) for p, i in descending]
            src = ev[2]
            cands = dispatch(src)
            if not cands:
                seq += 1
                continue
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
                    assert plan is not None
                    ordinal = ordinal_of(plan, src, seq)
                    if ordinal is None:
                        break
                    matcher._check_order(ordinal)
                    event = (ordinal, ev)
                if pos == 0:
                    first = states[0]
                    for key in keys:
                        first[key] = _Partial(event)
                    continue
                ts = event[0][0]
                for key in keys:
                    partial = prev.pop(key, None)
                    if partial is None or (maxspan is not None and ts - partial.start > maxspan):
                        continue
                    partial.events.append(event)
                    if pos == last:
                        matcher._emit(partial.events, key)
                    else:
                        states[pos][key] = partial
            if event is not None:
                matcher.seen += 1
                if maxspan is not None and matcher.seen % matcher.sweep_every == 0:
                    matcher._sweep(event[0][0])
            seq += 1
    finally:
        store(seq)
