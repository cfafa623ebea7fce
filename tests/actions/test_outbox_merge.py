"""The merge two outbox writers fall back on (Elasticsearch: a 409), as a property: for any
base and any changes of two writers, nothing either owed is lost, no delivery goes back in
its progress, throttle marks keep the later time, and summary alerts are neither lost nor
listed twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.actions.outbox import Delivery, OutboxState, merge

T0 = datetime(2026, 12, 7, tzinfo=UTC)
PROGRESS = {"pending": 0, "throttled": 1, "gave_up": 2, "sent": 3}
IDS = [f"d{i}" for i in range(6)]
ALERTS = [f"a{i}" for i in range(6)]


def _delivery(key: str, status: str = "pending", attempts: int = 0) -> Delivery:
    return Delivery(key, "hook", [key], "t", "b", T0, T0, status, attempts)  # type: ignore[arg-type]


def _doc(alert: str) -> dict[str, Any]:
    return {"eqlwatch": {"alert_id": alert}}


def _copy(state: OutboxState) -> OutboxState:
    return OutboxState.from_json(state.to_json())


op = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(IDS)),
    st.tuples(st.just("advance"), st.sampled_from(IDS), st.sampled_from(sorted(PROGRESS))),
    st.tuples(st.just("prune"), st.sampled_from(IDS)),
    st.tuples(st.just("throttle"), st.sampled_from(["k1", "k2"]), st.integers(0, 100)),
    st.tuples(st.just("batch"), st.sampled_from(ALERTS)),
    st.tuples(
        st.just("close"),
    ),
)


def _apply(state: OutboxState, ops: list[tuple[Any, ...]]) -> None:
    """What the dispatcher does: owe, attempt (progress only goes forward), prune finished
    ones, mark throttles (later times), batch alerts once, close the batch."""
    for o in ops:
        if o[0] == "add" and o[1] not in state.deliveries:
            state.deliveries[o[1]] = _delivery(o[1])
        elif o[0] == "advance" and o[1] in state.deliveries:
            d = state.deliveries[o[1]]
            if d.status == "pending":
                d.attempts += 1
                d.status = o[2]
        elif o[0] == "prune" and o[1] in state.deliveries:
            if state.deliveries[o[1]].status != "pending":
                del state.deliveries[o[1]]
        elif o[0] == "throttle":
            when = T0 + timedelta(minutes=o[2])
            state.throttle[o[1]] = max(when, state.throttle.get(o[1], when))
        elif o[0] == "batch":
            batch = state.batches.setdefault("digest", [])
            if all(d["eqlwatch"]["alert_id"] != o[1] for d in batch):
                batch.append(_doc(o[1]))
        elif o[0] == "close":
            state.batches.pop("digest", None)


def _ids(state: OutboxState) -> list[str]:
    return [d["eqlwatch"]["alert_id"] for d in state.batches.get("digest", [])]


@given(st.lists(op, max_size=12), st.lists(op, max_size=12), st.lists(op, max_size=12))
def test_merging_two_writers_loses_nothing_either_owed(
    setup: list[tuple[Any, ...]], mine: list[tuple[Any, ...]], theirs_ops: list[tuple[Any, ...]]
) -> None:
    base = OutboxState()
    _apply(base, setup)
    ours, theirs = _copy(base), _copy(base)
    _apply(ours, mine)
    _apply(theirs, theirs_ops)
    merged = merge(base, ours, theirs)
    for side in (ours, theirs):
        for key, d in side.deliveries.items():
            if key not in base.deliveries:  # owed by one writer: never lost
                assert key in merged.deliveries
            if key in merged.deliveries:
                assert PROGRESS[merged.deliveries[key].status] >= PROGRESS[d.status] or (
                    d == base.deliveries.get(key)
                )
        for key, when in side.throttle.items():
            assert merged.throttle[key] >= when
    # A delivery pruned by one side and left alone by the other is gone; kept otherwise.
    for key, d in base.deliveries.items():
        if key not in ours.deliveries and theirs.deliveries.get(key) == d:
            assert key not in merged.deliveries
    # Summary alerts: each once; one added by a writer is there unless a writer closed the
    # batch that held it (it went out in that writer's message).
    listed = _ids(merged)
    assert len(listed) == len(set(listed))
    closed = {a for side in (ours, theirs) for a in _ids(base) if a not in _ids(side)}
    for side in (ours, theirs):
        for alert in _ids(side):
            if alert not in closed:
                assert alert in listed
    assert not set(listed) & closed
