"""plan / split / attributed: the properties that make windows lose nothing and repeat nothing."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.model import Hit, HitEvent
from eqlwatch.windowing import (
    WindowPolicy,
    WindowTooDense,
    attributed,
    attribution_limit,
    make_slice,
    next_checkpoint,
    plan,
    policy_for,
    split,
)

from .strategies import EPOCH, instants, policies

H = timedelta(hours=1)
M = timedelta(minutes=1)


def _policy(**overrides: object) -> WindowPolicy:
    base: dict[str, object] = {
        "overlap": 5 * M, "hold_back": timedelta(0), "ingest_delay": M, "look_back": H,
        "max_chunk": 15 * M, "max_slices": 100, "min_split": timedelta(seconds=1),
    }  # fmt: skip
    base.update(overrides)
    return WindowPolicy(**base)  # type: ignore[arg-type]


@given(st.one_of(st.none(), instants()), instants(), policies())
def test_plan_tiles_from_the_checkpoint_within_bounds(checkpoint, now, policy) -> None:
    slices = plan(checkpoint, now, policy)
    start = checkpoint if checkpoint is not None else now - policy.look_back
    limit = attribution_limit(now, policy)
    assert len(slices) <= policy.max_slices
    cursor = start
    for s in slices:
        assert s.attribution.start == cursor
        assert cursor < s.attribution.end <= limit
        assert s.attribution.end - s.attribution.start <= policy.max_chunk
        assert s.query.start == s.attribution.start - policy.overlap
        assert s.query.end == s.attribution.end + policy.hold_back
        assert s.query.end <= now - policy.ingest_delay
        cursor = s.attribution.end
    if len(slices) < policy.max_slices:
        assert cursor == max(start, limit)  # caught up: nothing left before the limit


@given(instants(), st.lists(st.integers(0, 3 * 86400), min_size=1, max_size=30), policies())
def test_runs_cover_time_exactly_once(first_now, steps, policy) -> None:
    """Runs at increasing `now`, each resuming from the last slice, tile time with no gap."""
    checkpoint: datetime | None = None
    covered: list[tuple[datetime, datetime]] = []
    began: datetime | None = None  # `now` of the first run that had anything to evaluate
    now = first_now
    for step in [0, *steps]:
        now = now + timedelta(seconds=step)
        slices = plan(checkpoint, now, policy)
        covered.extend((s.attribution.start, s.attribution.end) for s in slices)
        if slices:
            began = now if began is None else began
            checkpoint = next_checkpoint(slices[-1])
    for (_, end), (start, _) in itertools.pairwise(covered):
        assert end == start
    if began is None:
        assert covered == []
        return
    assert covered[0][0] == began - policy.look_back
    assert covered[-1][1] <= attribution_limit(now, policy)
    # Once `now` stops advancing, repeated runs drain the backlog up to the limit exactly
    # (chunks widened so the drain stays short: a policy change between runs is fine too).
    assert checkpoint is not None
    backlog = attribution_limit(now, policy) - checkpoint
    policy = dataclasses.replace(policy, max_chunk=max(policy.max_chunk, backlog / 20))
    while slices := plan(checkpoint, now, policy):
        covered.extend((s.attribution.start, s.attribution.end) for s in slices)
        checkpoint = next_checkpoint(slices[-1])
    assert checkpoint == attribution_limit(now, policy)


def test_catch_up_after_downtime_is_bounded_and_resumes() -> None:
    policy = _policy(max_chunk=10 * M, max_slices=3, look_back=timedelta(0))
    checkpoint = EPOCH
    now = EPOCH + 2 * H
    first = plan(checkpoint, now, policy)
    assert [s.attribution.end - EPOCH for s in first] == [10 * M, 20 * M, 30 * M]
    second = plan(next_checkpoint(first[-1]), now, policy)
    assert second[0].attribution.start == EPOCH + 30 * M


def test_hold_back_keeps_attribution_behind_the_query_end() -> None:
    policy = _policy(hold_back=5 * M)
    now = EPOCH + H
    (last,) = plan(now - 10 * M, now, policy)
    assert last.attribution.end == now - M - 5 * M
    assert last.query.end == now - M


def test_nothing_to_do_when_checkpoint_is_ahead_of_the_limit() -> None:
    now = EPOCH + H
    assert plan(now, now, _policy()) == []
    assert plan(now + H, now, _policy()) == []  # clock stepped back: never rewind


def test_plan_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(None, datetime(2026, 1, 1), _policy())
    with pytest.raises(ValueError, match="checkpoint"):
        plan(datetime(2026, 1, 1), EPOCH, _policy())


def test_plan_normalises_other_zones_to_utc() -> None:
    tz = timezone(timedelta(hours=2))
    (s,) = plan(EPOCH.astimezone(tz), EPOCH + 10 * M, _policy())
    assert s.attribution.start.tzinfo is UTC
    assert s.attribution.start == EPOCH


@given(instants(), st.integers(2, 10**9), policies())
def test_split_halves_partition_the_attribution(start, micros, policy) -> None:
    s = make_slice(start, start + timedelta(microseconds=micros), policy)
    if s.attribution.end - s.attribution.start <= policy.min_split:
        with pytest.raises(WindowTooDense):
            split(s, policy)
        return
    first, second = split(s, policy)
    assert first.attribution.start == s.attribution.start
    assert first.attribution.end == second.attribution.start
    assert second.attribution.end == s.attribution.end
    for half in (first, second):
        assert half.attribution.start < half.attribution.end
        assert half.query.start <= half.attribution.start - policy.overlap
        assert half.query.end >= half.attribution.end + policy.hold_back
        assert half.query.end <= s.query.end


def test_split_below_min_split_raises_with_the_window() -> None:
    policy = _policy(min_split=M)
    s = make_slice(EPOCH, EPOCH + M, policy)
    with pytest.raises(WindowTooDense, match="2026-01-01T00:00:00"):
        split(s, policy)


def _hit(n: int) -> Hit:
    return Hit("event", (HitEvent("i", str(n), {}),))


@given(
    st.lists(st.integers(0, 86400 * 1000), max_size=60),
    st.lists(st.integers(1, 86400 * 1000), max_size=12, unique=True),
    policies(),
)
def test_attributed_over_a_partition_returns_each_hit_once(times, cuts, policy) -> None:
    end = EPOCH + timedelta(days=1, milliseconds=1)
    edges = [EPOCH, *sorted(EPOCH + timedelta(milliseconds=c) for c in cuts), end]
    slices = [make_slice(a, b, policy) for a, b in itertools.pairwise(edges)]
    hits = [_hit(i) for i in range(len(times))]
    when = {id(h): EPOCH + timedelta(milliseconds=t) for h, t in zip(hits, times, strict=True)}
    owned = [h for s in slices for h in attributed(hits, s, lambda h: when[id(h)])]
    assert sorted(int(h.events[0].id) for h in owned) == list(range(len(times)))


@pytest.mark.parametrize(
    ("kind", "maxspan", "until", "missing", "overlap", "hold"),
    [
        ("event", None, False, False, timedelta(0), timedelta(0)),
        ("sequence", 5 * M, False, False, 5 * M, timedelta(0)),
        ("sequence", 5 * M, True, False, 5 * M, 5 * M),
        ("sequence", 5 * M, False, True, 5 * M, 5 * M),
        ("sequence", None, False, False, H, timedelta(0)),
        ("sample", None, False, False, H, timedelta(0)),
    ],
)
def test_policy_for_derives_overlap_and_hold_back(kind, maxspan, until, missing, overlap, hold):
    policy = policy_for(
        maxspan=maxspan, has_until=until, has_trailing_missing=missing, kind=kind,
        ingest_delay=M, look_back=H, max_chunk=H, max_slices=10, min_split=M,
        max_sequence_span=H,
    )  # fmt: skip
    assert (policy.overlap, policy.hold_back) == (overlap, hold)


def test_policy_rejects_unknown_kind_and_bad_bounds() -> None:
    common = {
        "maxspan": None, "has_until": False, "has_trailing_missing": False,
        "ingest_delay": M, "look_back": H, "max_chunk": H, "max_slices": 10,
        "min_split": M, "max_sequence_span": H,
    }  # fmt: skip
    with pytest.raises(ValueError, match="kind"):
        policy_for(kind="join", **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_slices"):
        _policy(max_slices=0)
    with pytest.raises(ValueError, match="max_chunk"):
        _policy(max_chunk=timedelta(0))
    with pytest.raises(ValueError, match="overlap"):
        _policy(overlap=-M)
