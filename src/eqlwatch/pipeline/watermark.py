"""How far a rule run may plan, given what the source holds (the watermark): pure logic.

A window is evaluated only once the source holds events at or past its end, so events
still in flight are not missed for good (Kibana's engine leaves that gap). A source that
stays behind is waited for at most `max_wait` past a window's due time; then the window is
evaluated anyway and the lag is recorded. A source holding no event at all waits without
limit: there is nothing to evaluate, and the checkpoint holds until data arrives.
`max_wait = 0` turns the watermark off: windows are evaluated as soon as they are due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from eqlwatch.windowing import WindowPolicy


@dataclass(frozen=True, slots=True)
class Gate:
    """`plan_now` replaces `now` when planning windows (None: evaluate nothing yet)."""

    plan_now: datetime | None
    waiting: bool  # some due window waits for the source
    forced: bool  # some window is evaluated although the source has not reached its end


def gate(now: datetime, newest: datetime | None, policy: WindowPolicy, max_wait: timedelta) -> Gate:
    """The latest `now` whose windows the source vouches for (or has been waited for).

    A window's query ends at `plan_now - ingest_delay`; trusted means that end is at or
    before `newest`, forced means it has been due for at least `max_wait`.
    """
    if max_wait <= timedelta(0):
        return Gate(plan_now=now, waiting=False, forced=newest is None or newest < now)
    if newest is None:
        return Gate(plan_now=None, waiting=True, forced=False)
    trusted = newest + policy.ingest_delay
    if trusted >= now:
        return Gate(plan_now=now, waiting=False, forced=False)
    overdue = now - max_wait
    if overdue <= trusted:
        return Gate(plan_now=trusted, waiting=True, forced=False)
    return Gate(plan_now=overdue, waiting=overdue < now, forced=True)
